# Two commands for a fresh clone: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The npm clients the `/cable` tests drive (tests/js); only the test targets need Node.
JS := tests/js
JS_STAMP := $(JS)/node_modules/.installed-stamp
PYTEST_ARGS ?=
# Each pass runs on this many pytest-xdist workers (0: in one process). Much of the suite waits on
# sockets, subprocesses and timers, so two workers halve a pass even on two cores. Whole files go
# to one worker (`loadfile`): the browser tests of a file share one demo and run in order.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: install install-js install-browser install-nginx demo scaled-demo test lint typecheck pytest-sqlite pytest-postgresql audit-deps serve worker migrate bench clean

# A venv is trusted only if this checkout's `make` built it with this interpreter and it still runs;
# otherwise it is rebuilt (scripts/ensure_venv.py says why). Cheap when nothing changed.
install:
	@$(PYTHON) scripts/ensure_venv.py dev

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	npm ci --prefix $(JS) --no-audit --no-fund
	touch $(JS_STAMP)

install-js: $(JS_STAMP)

# The status page's browser tests (tests/browser) drive Debian's Chromium; Playwright never
# downloads a browser. Installed here when missing (apt, so as root).
CHROMIUM := /usr/bin/chromium
install-browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" != "0" ]; then \
			echo "$(CHROMIUM) is missing: run 'sudo apt-get install -y chromium' (the browser tests need it)" >&2; exit 1; \
		fi; \
		apt-get update -qq && apt-get install -y -qq chromium; \
	fi

# The load-balancer test (tests/deploy) and `make scaled-demo` run Debian's nginx as a child
# process with their own configuration (deploy/nginx); the system's nginx service plays no part.
# Installed here when missing (apt, so as root).
NGINX := /usr/sbin/nginx
install-nginx:
	@if [ ! -x $(NGINX) ]; then \
		if [ "$$(id -u)" != "0" ]; then \
			echo "$(NGINX) is missing: run 'sudo apt-get install -y nginx' (the load-balancer test and scaled demo need it)" >&2; exit 1; \
		fi; \
		apt-get update -qq && apt-get install -y -qq nginx; \
	fi

## Demo: migrate, seed a demo tenant, print its credentials, serve on :3000 (SQLite, embedded).
demo: install
	$(BIN)/ridgeline demo

## The same demo scaled: PostgreSQL (127.0.0.1:5432, database ridgeline_demo) and Redis
## (127.0.0.1:6379), two API servers and a worker behind nginx on :3000. Ctrl-C stops it all.
scaled-demo: install install-nginx
	$(BIN)/python -m ridgeline.cli.scaled_demo

serve: install
	$(BIN)/ridgeline serve

worker: install
	$(BIN)/ridgeline worker

migrate: install
	$(BIN)/ridgeline migrate

## Tests: lint, types, then the suite on SQLite and on PostgreSQL.
test: lint typecheck pytest-sqlite pytest-postgresql

lint: install
	$(BIN)/ruff check ridgeline tests bench scripts
	$(BIN)/ruff format --check ridgeline tests bench scripts

typecheck: install
	$(BIN)/mypy

# --durations: each run lists its slowest tests, to keep the suite's time in view.
pytest-sqlite: install install-js install-browser
	$(BIN)/pytest --db sqlite $(XDIST) --durations=15 $(PYTEST_ARGS)

# Runs when PostgreSQL answers; CI sets RIDGELINE_REQUIRE_POSTGRES=1 so that it never skips.
# The browser tests (tests/browser) drive the pages against the demo in the SQLite pass only:
# what they check is the pages, and every API call under them is tested on both databases.
PG_PYTEST_ARGS ?= --ignore=tests/browser
pytest-postgresql: install install-js install-nginx
	@if $(BIN)/python -m tests.pg_available; then \
		$(BIN)/pytest --db postgresql $(XDIST) --durations=15 $(PG_PYTEST_ARGS) $(PYTEST_ARGS); \
	elif [ "$${RIDGELINE_REQUIRE_POSTGRES:-0}" = "1" ]; then \
		echo "PostgreSQL is required (RIDGELINE_REQUIRE_POSTGRES=1) but not reachable" >&2; exit 1; \
	else \
		echo "*** PostgreSQL not reachable at RIDGELINE_TEST_PG_URL: the PostgreSQL run did NOT happen ***" >&2; \
	fi

## Known vulnerabilities in the packages installed in .venv (what `make install` resolved), from
## PyPI's advisory data; not part of `make test`, as it needs the network. CI runs it after the tests.
## Where PyPI's JSON API cannot be reached it says loudly that no audit happened (exit 0; set
## RIDGELINE_REQUIRE_DEP_AUDIT=1 to fail instead); a package it cannot look up fails (--strict).
audit-deps: install
	@bash scripts/audit_deps.sh $(BIN)

## Benchmarks (not part of `make test`; figures in docs/benchmarks.md).
# The `bench` extra (python-socketio, the fan-out benchmark's peer) is installed here only.
bench: install
	@$(PYTHON) scripts/ensure_venv.py dev,bench
	$(BIN)/python -m bench.sync_bench
	$(BIN)/python -m bench.sync_bench --db postgresql
	$(BIN)/python -m bench.catalog_bench
	$(BIN)/python -m bench.fanout_bench
	$(BIN)/python -m bench.orders_bench
	$(BIN)/python -m bench.monitoring_bench
	$(BIN)/python -m bench.freshness_bench

## Chaos: 1,000 orders per POS dialect through a real server process that is SIGKILLed and
## restarted, against the simulator injecting 30% faults; fails if any order is lost or doubled.
## Takes a while (~10-20 minutes). Options: make chaos CHAOS_ARGS="--db postgresql --orders 200"
## Scaled mode: make chaos-scaled (= make chaos CHAOS_ARGS="--scaled --db postgresql"): nginx in
## front of two servers, two workers and a private redis-server; a server and a worker are each
## SIGKILLed 4 times (--kills counts per role) and Redis is restarted once. PostgreSQL at
## RIDGELINE_TEST_PG_URL; more options through CHAOS_ARGS, e.g. CHAOS_ARGS="--orders 200".
CHAOS_ARGS ?=
.PHONY: chaos chaos-scaled
chaos: install
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)
chaos-scaled: install install-nginx
	$(BIN)/python -m bench.chaos --scaled --db postgresql $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache $(JS)/node_modules
