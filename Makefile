# QBank — the two commands first: `make demo`, `make test`.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: demo test install up down status migrate lint format

demo: up ## bring the stack up and migrate (the closed loop grows here)
	@echo "QBank stack is up and migrated. See README.md."

test: ## install what is missing, start the stack if needed, lint, run all tests
	scripts/test.sh

install: ## venv + pinned packages, redis-server, chromium, Kafka jars
	scripts/install.sh

up: install ## start PostgreSQL, Redis, Kafka (idempotent) and migrate
	$(PY) scripts/stack.py up
	$(PY) -m qbank.cli db upgrade

down: ## stop everything the stack started
	$(PY) scripts/stack.py down

status:
	$(PY) scripts/stack.py status

migrate:
	$(PY) -m qbank.cli db upgrade

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

# --- BI (looker/, metabase/) ---
.PHONY: bi-check metabase

bi-check: ## LookML + Metabase checks against marts dbt builds in a test database (needs `make up`)
	.venv/bin/ruff check metabase tests/bi && .venv/bin/ruff format --check metabase tests/bi
	.venv/bin/pytest tests/bi -q

metabase: ## provision the QBank collection, cards and dashboard in Metabase when MB_URL is set
	@if [ -z "$$MB_URL" ]; then \
		echo "make metabase: MB_URL is not set, nothing to do (see README.md, BI users)"; \
	else \
		$(PY) -m metabase.provision; \
	fi
