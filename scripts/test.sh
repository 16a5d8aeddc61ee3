#!/usr/bin/env bash
# `make test`: install what is missing, lint, run the pure tests before any service is started
# (which proves they need none), start the stack if it is not running, run the tests that need
# it, and stop only what this run started. With arguments, pytest gets them after the stack is up.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/conftest.py sets it too; said here so nothing the tests start inherits another choice.
export QBANK_ENV=test

scripts/install.sh

echo "[test] lint: ruff, mypy (strict on irt_models and qbank), sqlfluff (dbt_qbank)"
make --no-print-directory lint

# Two workers (pytest-xdist), a test file each at a time: every worker is its own process, so it
# gets its own database, Kafka topic, Redis namespace and DAGSTER_HOME (tests/support/databases.py
# RUN_ID). The stack phase spends much of its time waiting on the API, Kafka, dbt and Dagster
# subprocesses, which a second worker fills. QBANK_TEST_WORKERS=0 runs in one process.
WORKERS=${QBANK_TEST_WORKERS:-2}
XDIST=()
if [ "$WORKERS" != "0" ]; then XDIST=(-n "$WORKERS" --dist loadfile); fi

if [ $# -eq 0 ]; then
  echo "[test] pytest -m 'not stack' (no service needed)"
  .venv/bin/pytest -m "not stack" "${XDIST[@]}"
fi

started=$(mktemp)
cleanup() { .venv/bin/python scripts/stack.py down --only "$started" || true; rm -f "$started"; }
trap cleanup EXIT
.venv/bin/python scripts/stack.py up --record "$started"

if [ $# -eq 0 ]; then
  echo "[test] pytest -m stack (${WORKERS} workers)"
  .venv/bin/pytest -m stack "${XDIST[@]}" --durations=15
else
  .venv/bin/pytest "$@"
fi
