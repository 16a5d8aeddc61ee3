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

if [ $# -eq 0 ]; then
  echo "[test] pytest -m 'not stack' (no service needed)"
  .venv/bin/pytest -m "not stack"
fi

started=$(mktemp)
cleanup() { .venv/bin/python scripts/stack.py down --only "$started" || true; rm -f "$started"; }
trap cleanup EXIT
.venv/bin/python scripts/stack.py up --record "$started"

if [ $# -gt 0 ]; then
  rc=0
  .venv/bin/pytest "$@" || rc=$?
  exit "$rc"
fi

# The stack tests in two pytest processes side by side: most of their time is spent waiting on
# servers (HTTP, Kafka, dbt, PostgreSQL), so two halves overlap on 2 cores. Each process is a
# test run of its own (tests/support/databases.py: its own database, Kafka topic, Redis
# namespace and DAGSTER_HOME), as two engineers' runs on one stack are. The second half is
# "everything else", so a new test folder is never left out.
FIRST=(tests/e2e tests/orchestration tests/bi tests/ingestion)
second_log=$(mktemp)
echo "[test] pytest -m stack, two halves side by side: ${FIRST[*]} | the rest (its log follows)"
.venv/bin/pytest -m stack --durations=10 -p no:cacheprovider tests \
  "${FIRST[@]/#/--ignore=}" >"$second_log" 2>&1 &
second=$!
first_rc=0
.venv/bin/pytest -m stack --durations=10 "${FIRST[@]}" || first_rc=$?
second_rc=0
wait "$second" || second_rc=$?
echo "[test] ---- the other half: pytest -m stack tests, without ${FIRST[*]} ----"
cat "$second_log"
rm -f "$second_log"
echo "[test] stack tests: ${FIRST[*]} exit $first_rc; the rest exit $second_rc"
if [ "$first_rc" -ne 0 ] || [ "$second_rc" -ne 0 ]; then exit 1; fi
