#!/usr/bin/env bash
# `make test`: install what is missing, start the stack if it is not running, lint, run pytest
# against the real services, and stop only what this run started.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/conftest.py sets it too; said here so nothing the tests start inherits another choice.
export QBANK_ENV=test

scripts/install.sh
started=$(mktemp)
cleanup() { .venv/bin/python scripts/stack.py down --only "$started" || true; rm -f "$started"; }
trap cleanup EXIT
.venv/bin/python scripts/stack.py up --record "$started"

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "[test] mypy (strict on irt_models and qbank, see [tool.mypy] in pyproject.toml)"
.venv/bin/mypy

echo "[test] pytest"
.venv/bin/pytest "$@"
