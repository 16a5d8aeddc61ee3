#!/usr/bin/env bash
# Installs what QBank needs on a fresh machine, skipping what is already there:
# the virtualenv and pinned Python packages, redis-server, wrk (python -m bench.api drives it) and
# chromium (Debian), Kafka jars.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

mkdir -p .local
# The stamp lives in the venv: a venv made again (or by hand) is installed into again.
stamp=.venv/.qbank-pip-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  echo "[install] pip install -e .[dev] (pinned by constraints.txt)"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
  rm -f .venv/.qbank-pip-* .local/.pip-*
  touch "$stamp"
fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v wrk >/dev/null || missing+=(wrk)
if [ "${QBANK_SKIP_BROWSER:-0}" != 1 ] && [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! ls .local/kafka/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "[install] fetching Apache Kafka jars (Maven Central)"
  mkdir -p .local/kafka/libs
  mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$PWD/.local/kafka/libs" -DincludeScope=runtime
fi
