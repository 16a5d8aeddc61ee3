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

if [ $# -eq 0 ]; then
  echo "[test] pytest -m stack"
  .venv/bin/pytest -m stack --durations=15
else
  .venv/bin/pytest "$@"
fi
