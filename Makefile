# etl_platform: `make help` lists the targets.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# dbt in an environment of its own (dbt_project/requirements.txt): see ETL_DBT_EXECUTABLE.
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
DAYS ?= 3
ORDERS_PER_DAY ?= 2000
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: help install manifest demo demo-prod bench test lint format typecheck dev clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DBT_STAMP): dbt_project/requirements.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet -r dbt_project/requirements.txt
	touch $(DBT_STAMP)

install: $(STAMP) $(DBT_STAMP) ## Create .venv (the project, its dev tools) and .venv-dbt (dbt)

$(MANIFEST): $(STAMP) $(DBT_STAMP) $(shell find dbt_project/models dbt_project/macros dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml
	cd dbt_project && ../$(DBT_VENV)/bin/dbt parse --quiet --profiles-dir . --target local

manifest: $(MANIFEST) ## Prepare the dbt manifest that the curated assets load

demo: $(MANIFEST) ## Generate demo files, build every layer for DAYS days, print the per-layer summary
	$(BIN)/python -m etl_platform.cli demo --days $(DAYS) --orders-per-day $(ORDERS_PER_DAY)

demo-prod: $(MANIFEST) ## The same demo on a local S3 API server and PostgreSQL (ETL_PG_* or postgres@127.0.0.1)
	$(BIN)/python -m etl_platform.cli demo-prod --days $(DAYS) --orders-per-day $(ORDERS_PER_DAY)

bench: $(MANIFEST) ## Platform vs bare DuckDB, pandas, Spark on ROWS lines (10 M) over DAYS (5); backfill, latency
	$(BIN)/python -m etl_platform.bench $(if $(ROWS),--rows $(ROWS)) $(if $(filter file,$(origin DAYS)),,--days $(DAYS)) $(if $(ONLY),--only $(ONLY)) $(BENCH_ARGS)

test: $(MANIFEST) ## Run the test suite (real DuckDB, Delta, dbt, Dagster instance and CLI)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy etl_platform
	$(BIN)/pytest -n 2 --dist loadfile etl_platform_tests

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP) ## Format and autofix with ruff
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy on the package
	$(BIN)/mypy etl_platform

dev: $(MANIFEST) ## Start the Dagster UI and daemon on the whole graph (http://127.0.0.1:3000)
	mkdir -p $(DAGSTER_HOME)
	cp -n deploy/local/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -m etl_platform.definitions

clean: ## Remove generated data, dbt artifacts and both venvs
	rm -rf data dbt_project/target dbt_project/logs $(VENV) $(DBT_VENV)
