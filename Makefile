# QBank — the two commands first: `make demo`, `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
# The API refuses to start without an explicit QBANK_ENV. These targets run on the developer's
# machine, so `dev` unless the caller chose: on the command line, in the environment or in
# .env (an exported `dev` here would override a .env's `prod`, so .env is looked at first).
ifeq ($(origin QBANK_ENV),undefined)
ifeq ($(shell grep -sqE '^[[:space:]]*QBANK_ENV[[:space:]]*=[[:space:]]*[a-z]' .env && echo set),)
export QBANK_ENV := dev
endif
endif

.PHONY: demo season test install up down status migrate lint format api api-stop

demo: api ## the closed loop: bank → students → Kafka → Dagster → calibrated API → students
	$(PY) -m demo.run

season: up ## six simulated days, two tenants: shifting cohorts, edits, leaks, nightly job; PASS/FAIL
	$(PY) -m demo.season

test: ## install what is missing, start the stack if needed, lint, run all tests
	scripts/test.sh

install: ## venv + pinned packages, redis-server, chromium, Kafka jars
	scripts/install.sh

up: install ## start PostgreSQL, Redis, Kafka (idempotent; QBANK_ANALYTICS=1: and the analytics cluster), migrate, replicate, start the outbox relay
	$(PY) scripts/stack.py up
	$(PY) -m qbank.cli db upgrade
	$(PY) -m qbank.cli analytics setup --if-configured
	$(PY) scripts/apps.py up relay

down: ## stop the API, the relay and everything the stack started
	$(PY) scripts/apps.py down
	$(PY) scripts/stack.py down

api: up ## run the serving API on 127.0.0.1:$${QBANK_API_PORT:-8000} (student page at /, docs at /docs)
	$(PY) scripts/apps.py up api

api-stop: ## stop the API (the relay keeps running)
	$(PY) scripts/apps.py down api

# --- data platform (Dagster, dbt) ---
.PHONY: ui prepare materialize dbt ingest
# DAGSTER_HOME and the instance's storage URL come from the settings (qbank/settings.py,
# environment or .env), like every other part (orchestration/instance.py).

prepare: ## dbt manifest (dbt parse), DAGSTER_HOME (.local/dagster) with its dagster.yaml, the instance's schema
	$(PY) -m orchestration.prepare

ui: up prepare ## the Dagster UI (127.0.0.1:$${QBANK_DAGSTER_PORT:-3000}) and the API side by side; `make down` stops both
	$(PY) scripts/apps.py up api dagster

materialize: up prepare ## every asset headless: marts once, then one run per exam code (the UI's instance shows them)
	$(PY) -m orchestration.nightly

dbt: ## run dbt against the configured database, e.g. make dbt ARGS="build --select fact_responses+"
	$(PY) -m orchestration.dbt_env $(ARGS)

ingest: ## load what waits in Kafka into the raw tables once, then exit
	$(PY) -m ingestion.consumer --until-caught-up

status:
	$(PY) scripts/stack.py status
	$(PY) scripts/apps.py status

migrate:
	$(PY) -m qbank.cli db upgrade

lint: ## ruff, mypy (strict on irt_models and qbank), sqlfluff (dbt_qbank)
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
	cd dbt_qbank && ../.venv/bin/sqlfluff lint --processes 2 models tests macros

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .
	cd dbt_qbank && ../.venv/bin/sqlfluff fix --processes 2 models tests

# --- BI (looker/, metabase/) ---
.PHONY: bi-check metabase

bi-check: ## LookML + Metabase checks against marts dbt builds in a test database, BI in the Dagster lineage (needs `make up`)
	.venv/bin/ruff check metabase tests/bi orchestration/assets/bi.py && .venv/bin/ruff format --check metabase tests/bi orchestration/assets/bi.py
	.venv/bin/pytest tests/bi tests/orchestration/test_bi_lineage.py -q

metabase: ## provision the QBank collection, cards and dashboard in Metabase when MB_URL is set
	@if [ -z "$$MB_URL" ]; then \
		echo "make metabase: MB_URL is not set, nothing to do (see README.md, BI users)"; \
	else \
		$(PY) -m metabase.provision; \
	fi
