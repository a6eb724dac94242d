# The school planner's data layer. `make` or `make help` lists the targets.
#
# The embedded default database is a private PostgreSQL 15 cluster for this checkout on
# 127.0.0.1:$(PGPORT). Every target that needs it starts it. DATABASE_URL points glue elsewhere.
# Migrations are applied by the Supabase CLI pinned in package.json (node_modules/.bin/supabase),
# through its --db-url route; the default port stays off supabase/config.toml's ports.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PGPORT ?= 54332
export PGPORT
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GLUE := $(PY) -m glue_tools
DB_URL ?= postgresql://postgres@127.0.0.1:$(PGPORT)/postgres
SUPABASE := node_modules/.bin/supabase
SUPABASE_VERSION := $(shell sed -n 's/.*"supabase": *"\([^"]*\)".*/\1/p' package.json)
CLI_URL := $(DB_URL)?sslmode=disable
export SUPABASE_NO_UPDATE_NOTIFIER = 1
export SUPABASE_TELEMETRY_DISABLED = 1
PSQL := psql "$(DB_URL)" -X -q -v ON_ERROR_STOP=1
PUPILS ?= 1000
SEED ?= 1
SOAK_SECONDS ?= 60
SOAK_MODE ?= threads
SOAK_RATE ?= 100
FUZZ_SEQUENCES ?= 10000
FUZZ_SECONDS ?= 0
FUZZ_WORKERS ?= 2
FUZZ_SEED ?= 0

.PHONY: help setup cli db db-stop db-status db-reset migrate migrations history history-lock functions-migration \
        drift seed demo lint lint-sql lint-py plpgsql-check db-lint test test-sql test-sql-nocron test-py fuzz soak \
        bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed node_modules/.installed ## install system packages (apt), build .venv and install the pinned Supabase CLI (npm ci)
	@true

$(VENV)/.installed: requirements.txt pyproject.toml scripts/setup.sh
	@PYTHON=$(PYTHON) scripts/setup.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@
	@echo "setup: .venv ready"

node_modules/.installed: package.json package-lock.json scripts/setup.sh
	@PYTHON=$(PYTHON) scripts/setup.sh
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@
	@echo "setup: Supabase CLI $$($(SUPABASE) --version) in node_modules"

# Every target that runs the CLI checks it first: missing or not the pinned version says how to fix it.
cli:
	@test -x $(SUPABASE) || { echo "make: the Supabase CLI is not installed (node_modules/.bin/supabase): run 'make setup' (npm ci installs supabase@$(SUPABASE_VERSION) from package.json)" >&2; exit 1; }
	@have=$$($(SUPABASE) --version 2>/dev/null); test "$$have" = "$(SUPABASE_VERSION)" || { echo "make: node_modules/.bin/supabase is $${have:-broken}, package.json pins $(SUPABASE_VERSION): run 'make setup' (npm ci)" >&2; exit 1; }

db: setup ## start the embedded database (initialises it the first time); idempotent
	@scripts/localdb.sh start

db-stop: ## stop the embedded database
	@scripts/localdb.sh stop

db-status: ## say whether the embedded database runs and where its data is
	@scripts/localdb.sh status

db-reset: db cli ## reset the database as on a project (kept, so pg_cron's scheduler survives): shim, supabase db reset (migrations, seed.sql), extensions and schedule again
	@$(GLUE) --database-url "$(DB_URL)" db reset

migrate: db cli ## apply pending migrations: supabase db push
	@$(SUPABASE) db push --db-url "$(CLI_URL)" --yes

migrations: db cli ## list local and applied migrations: supabase migration list
	@$(SUPABASE) migration list --db-url "$(CLI_URL)"

history: setup ## fail when a migration recorded in supabase/migrations.sha256 (it landed) changed or disappeared
	@$(GLUE) history

history-lock: setup ## record the migrations that landed since the last lock in supabase/migrations.sha256
	@$(GLUE) history --lock

functions-migration: db cli ## write a migration with only what changed in supabase/functions_sql/ (nothing when nothing did)
	@$(GLUE) --database-url "$(DB_URL)" functions-migration

drift: db cli ## fail when replaying the migrations does not install exactly supabase/functions_sql/
	@$(GLUE) --database-url "$(DB_URL)" drift

seed: db ## generate a school of PUPILS pupils (seed SEED) and load it
	@$(GLUE) --database-url "$(DB_URL)" seed --pupils $(PUPILS) --seed $(SEED)

demo: db-reset ## the tour: reset the embedded database, seed a school and show what is in it
	@$(GLUE) --database-url "$(DB_URL)" demo --pupils $(PUPILS) --seed $(SEED)

lint-sql: setup ## sqlfluff on migrations and functions_sql
	@$(VENV)/bin/sqlfluff lint supabase/migrations supabase/functions_sql supabase/seed.sql

lint-py: setup ## ruff and mypy (strict) on glue/, glue_tools/, bench/ and the tests
	@$(VENV)/bin/ruff check glue glue_tools tests/py tests/soak bench
	@$(VENV)/bin/ruff format --check glue glue_tools tests/py tests/soak bench
	@$(VENV)/bin/mypy

lint: lint-sql lint-py ## every static check

plpgsql-check: db ## plpgsql_check on every PL/pgSQL function and procedure (any error fails)
	@$(PSQL) -f scripts/plpgsql_check.sql

test-sql: db ## pgTAP suites (pg_prove) against the current database
	@pg_prove --ext .sql -r -h 127.0.0.1 -p $(PGPORT) -U postgres -d postgres tests/sql

test-sql-nocron: db cli ## pgTAP suites in a scratch database pushed by the CLI, without pg_cron (a new Supabase project)
	@DATABASE_URL="$(DB_URL)" $(PY) -m glue_tools.scratch -- \
	  pg_prove --ext .sql -r -h 127.0.0.1 -p $(PGPORT) -U postgres -d '{dbname}' tests/sql

db-lint: db cli ## supabase db lint --fail-on error, on this database and on a scratch one without pg_cron
	@$(SUPABASE) db lint --db-url "$(CLI_URL)" --fail-on error
	@DATABASE_URL="$(DB_URL)" $(PY) -m glue_tools.scratch -- $(SUPABASE) db lint --db-url '{url}' --fail-on error

test-py: db cli ## pytest against the current database
	@DATABASE_URL="$(DB_URL)" $(PY) -m pytest -q tests/py

test: lint history db-reset drift plpgsql-check db-lint test-sql test-sql-nocron test-py ## every check, against a freshly reset database
	@echo "make test: all checks passed"

bench: db cli ## benchmarks in scratch databases, side-by-side ratios (~15 min; BENCH_ARGS=--quick: ~3 min)
	@test -d bench/node_modules/graphile-worker || npm ci --prefix bench --no-audit --no-fund
	@DATABASE_URL="$(DB_URL)" $(PY) -m bench $(BENCH_ARGS)

# Each fuzz worker is a pytest process with a scratch database of its own (tests/py/test_properties.py);
# they start 20 s apart: installing the platform shim into two new databases at once can fail
# ("tuple concurrently updated").
fuzz: db cli ## random write sequences at scale: FUZZ_SEQUENCES (10,000) over FUZZ_WORKERS processes, FUZZ_SECONDS bound (0: none)
	@per=$$(( ($(FUZZ_SEQUENCES) + $(FUZZ_WORKERS) - 1) / $(FUZZ_WORKERS) )); pids=(); mkdir -p logs; \
	for i in $$(seq 0 $$(( $(FUZZ_WORKERS) - 1 ))); do \
	  test $$i = 0 || sleep 20; \
	  DATABASE_URL="$(DB_URL)" FUZZ_SEQUENCES=$$per FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$$(( $(FUZZ_SEED) + 100000 * i )) \
	    $(PY) -m pytest -q -s -p no:cacheprovider tests/py/test_properties.py -k in_transactions > logs/fuzz.$$i.log 2>&1 & pids+=($$!); \
	done; status=0; for i in "$${!pids[@]}"; do wait $${pids[$$i]} || status=1; grep -h "sequences in" logs/fuzz.$$i.log || tail -30 logs/fuzz.$$i.log; done; \
	test $$status = 0 && echo "make fuzz: no difference found" || { echo "make fuzz: FAILED (logs/fuzz.*.log; the minimal sequence is in tests/py/fuzz_regressions.json)"; exit 1; }

soak: db cli ## concurrency and crash run: writers, workers, killed backends, cluster restarts (SOAK_SECONDS; SOAK_MODE=pgbench: pgbench writes at SOAK_RATE/s)
	@$(PY) tests/soak/soak.py --seconds $(SOAK_SECONDS) --mode $(SOAK_MODE) --rate $(SOAK_RATE)

clean: ## stop the database, delete its data, and remove .venv, node_modules and logs
	@scripts/localdb.sh destroy
	@rm -rf $(VENV) node_modules logs supabase/.temp
