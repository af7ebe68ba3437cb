"""The embedded stack of `make run`, started on free ports in a temp dir, and a headless Chromium.

- MLflow tracking server: SQLite store, artifacts served by the server (``--serve-artifacts``);
- Airflow 3 with the LocalExecutor on SQLite: api-server, scheduler and dag-processor, each its own
  process group; the simple auth manager with user ``admin`` and a password generated here;
- the lake in the temp dir, seeded with a few small simulator days through the CLI (`make run` does
  the same), so a ``train_and_promote`` run has a window to train on;
- Debian's ``chromium`` (``make browser-deps`` installs it), driven by Playwright through
  ``executable_path``: Playwright never downloads a browser.

The environment is built for the subprocesses only: the pytest process's own env is never touched.
Keep the temp dir with ``MLOPS_BROWSER_KEEP=1`` (its path is printed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops_dev import (
    NO_MLFLOW_JOBS,
    ProcessExited,
    Services,
    base_env,
    free_port,
    http_ok,
    mlflow_server_command,
    service_env,
    tail,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else "python"
CHROMIUM = os.environ.get("MLOPS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"

MODEL_NAME = "fraud_detector_ui"
EXPERIMENT = "fraud_detector_ui"
# Fixed, deterministic simulator days; the test sets the run's `window_end` param to the day after.
SEED_DAYS = 6
SEED_END = dt.date(2026, 5, 6)
START_TIMEOUT = 240  # seconds, for any one service to become ready


@dataclass
class UiStack:
    work: Path
    home: Path
    api_url: str
    mlflow_url: str
    password: str
    logs: dict[str, Path]
    _token: str | None = field(default=None, repr=False)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The Airflow REST API as ``admin`` (JWT from ``/auth/token``)."""
        import requests

        if self._token is None:
            r = requests.post(
                f"{self.api_url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
            )
            r.raise_for_status()
            self._token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.api_url}{path}", headers=headers, timeout=60, **kwargs)

    def unpause(self, dag_id: str) -> None:
        """Unpause ``dag_id`` as `make run` does, and fail the catch-up run.

        The DAG's start date is in the past (catchup=False), so unpausing makes the scheduler create one
        run for the latest interval. That window has no seeded data and the run would hold the DAG's
        single active-run slot: it is marked failed, with a note saying why. (Deleting it instead does not
        work: the DAG processor recomputes the next run from the runs left and creates it again.)"""
        before = self.api("GET", f"/api/v2/dags/{dag_id}").json()
        r = self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert r.status_code == 200, (r.status_code, r.text)
        run_after = before.get("next_dagrun_run_after")
        if run_after and dt.datetime.fromisoformat(run_after.replace("Z", "+00:00")) > dt.datetime.now(dt.UTC):
            return  # no interval has ended since the start date: no catch-up run
        try:
            runs = wait_until(
                lambda: self._runs(dag_id, run_type="scheduled"), 60, 1, f"a catch-up run of {dag_id}", ignore=()
            )
        except TimeoutError:
            pytest.fail(f"no catch-up run of {dag_id} appeared after unpausing\n" + self.diagnostics(dag_id))
        note = "Failed by the browser test's fixture: catch-up run over a window with no seeded data."
        for run in runs:
            body = {"state": "failed", "note": note} if run["state"] in ("queued", "running") else {"note": note}
            r = self.api("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}", json=body)
            assert r.status_code == 200, (r.status_code, r.text)

    def _runs(self, dag_id: str, **params: Any) -> list[dict]:
        r = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100, **params})
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["dag_runs"]

    def mlflow(self, path: str, **params: Any) -> dict:
        import requests

        r = requests.get(f"{self.mlflow_url}/api/2.0/mlflow/{path}", params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def diagnostics(self, dag_id: str | None = None) -> str:
        """Tails of the service logs and of the newest task logs of ``dag_id``."""
        parts = []
        if dag_id:
            task_logs = sorted((self.home / "logs").glob(f"dag_id={dag_id}/**/*.log"), key=lambda p: p.stat().st_mtime)
            parts += [f"--- {p.relative_to(self.home)}\n{tail(p, 2500)}" for p in task_logs[-4:]]
        parts += [f"--- {name} ({path})\n{tail(path, 2000)}" for name, path in self.logs.items()]
        return "\n".join(parts)


def _pipeline_config(work: Path) -> dict:
    """include/config/mlops.yaml with the lake in the temp dir, sizes small enough for 2 cores, and approval."""
    return {
        "dataset": {"suite": str(ROOT / "include/config/expectations/transactions.json")},
        "simulator": {"rows_per_day": 1500},
        "model": {"name": MODEL_NAME},
        "lake": {"root": str(work / "lake")},
        "training": {"window_days": SEED_DAYS, "holdout_days": 2, "min_rows": 200},
        "evaluation": {"floor": 0.02},
        "mlflow": {"conn_id": "mlflow_default", "experiment": EXPERIMENT},
        # every blessed challenger waits for a reviewer on Required Actions (the test approves it in the UI)
        "promotion": {"approval": "always"},
    }


@contextlib.contextmanager
def ui_stack(work: Path) -> Iterator[UiStack]:
    """Start the stack in ``work`` and stop every process group on exit (also usable from a script)."""
    import yaml

    home = work / "airflow"
    home.mkdir(parents=True)
    services = Services(work)
    start, logs = services.start, services.logs

    def finish(name: str, timeout: float) -> None:
        """Wait for the one-shot process ``name`` to exit 0."""
        try:
            services.finish(name, timeout)
        except RuntimeError as exc:
            pytest.fail(str(exc))

    def wait(what: str, check: Any) -> None:
        try:
            services.wait_for(what, check, START_TIMEOUT)
        except (TimeoutError, ProcessExited) as exc:
            pytest.fail(str(exc))

    try:
        base = base_env(ROOT, BIN)
        config_path = work / "mlops.browser.yaml"
        config_path.write_text(yaml.safe_dump(_pipeline_config(work), sort_keys=False))
        base["MLOPS_CONFIG"] = str(config_path)
        # a second pipeline from a folder, as make run has: its DAGs are listed (energy__...), never run here
        pipelines = work / "pipelines"
        pipelines.mkdir()
        energy = yaml.safe_load((ROOT / "include/config/pipelines/energy.yaml").read_text())
        energy["lake"] = {"root": str(work / "energy_lake")}
        (pipelines / "energy.yaml").write_text(yaml.safe_dump(energy, sort_keys=False))
        base["MLOPS_PIPELINES"] = str(pipelines)
        mlflow_port, api_port, log_port = free_port(), free_port(), free_port()
        mlflow_url, api_url = f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{api_port}"
        password = secrets.token_urlsafe(16)
        passwords_file = home / "simple_auth_manager_passwords.json"
        passwords_file.write_text(json.dumps({"admin": password}))
        af_env = {
            **base,
            **service_env(
                ROOT,
                home,
                executor="LocalExecutor",
                # pysqlite's busy timeout (5 s by default) is too short on a loaded 2-core machine: the
                # scheduler died of "database is locked" while the fixture failed the catch-up run
                db_uri=f"sqlite:///{home / 'airflow.db'}?timeout=60",
                api_port=api_port,
                log_port=log_port,
            ),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN": r"^[A-Za-z0-9_.~:+-]{1,250}\Z",  # as docker-compose.yaml
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "http", "host": mlflow_url}),
        }

        # The three one-shot steps run side by side: the migration is the longest.
        start("migrate", ["airflow", "db", "migrate"], af_env)
        seed = [PYTHON, "-m", "include.mlops.cli", "seed", "--days", str(SEED_DAYS), "--end", SEED_END.isoformat()]
        seed.append("--json")  # the last line is then the JSON summary read below
        start("seed", seed, base)
        start(
            "mlflow",
            mlflow_server_command(PYTHON, f"sqlite:///{work / 'mlflow.db'}", str(work / "mlartifacts"), mlflow_port),
            {**base, **NO_MLFLOW_JOBS},
        )
        finish("migrate", START_TIMEOUT)
        start("pools", ["airflow", "pools", "set", "mlops_promotion", "1", "Serializes champion promotions"], af_env)
        finish("pools", 120)

        start("api-server", ["airflow", "api-server", "--port", str(api_port), "--host", "127.0.0.1"], af_env)
        start("scheduler", ["airflow", "scheduler"], af_env)
        start("dag-processor", ["airflow", "dag-processor"], af_env)
        start("triggerer", ["airflow", "triggerer"], af_env)  # idle here; `make run` has one, the UI checks it
        stack = UiStack(work=work, home=home, api_url=api_url, mlflow_url=mlflow_url, password=password, logs=logs)

        finish("seed", START_TIMEOUT)
        published = json.loads(logs["seed"].read_text().strip().splitlines()[-1])["published"]
        assert published == SEED_DAYS, tail(logs["seed"])
        wait("mlflow server", lambda: http_ok(f"{mlflow_url}/health"))

        def healthy() -> bool:
            import requests

            health = requests.get(f"{api_url}/api/v2/monitor/health", timeout=3).json()
            return all(
                health[part]["status"] == "healthy"
                for part in ("metadatabase", "scheduler", "dag_processor", "triggerer")
            )

        wait("airflow api-server, scheduler, dag-processor and triggerer", healthy)
        wait("train_and_promote parsed", lambda: stack.api("GET", "/api/v2/dags/train_and_promote").ok)
        errors = stack.api("GET", "/api/v2/importErrors").json()
        assert errors["total_entries"] == 0, errors
        yield stack
    finally:
        services.stop()


@pytest.fixture(scope="session")
def stack() -> Iterator[UiStack]:
    work = Path(tempfile.mkdtemp(prefix="mlops-ui-"))
    try:
        with ui_stack(work) as s:
            s.unpause("train_and_promote")
            yield s
    finally:
        if os.environ.get("MLOPS_BROWSER_KEEP"):
            print(f"browser-test stack kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: `make browser-deps` installs Debian's chromium (as root)")
    from playwright.sync_api import expect, sync_playwright

    # expect()'s own default is 5 s (the context's timeout below is for actions): too short for the UI's
    # first render on a loaded 2-core machine
    expect.set_options(timeout=30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # screenshots of an earlier session would mislead
        old.unlink()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; on a failing test, a screenshot of where it stopped."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for i, p in enumerate(context.pages):
            with contextlib.suppress(Exception):
                p.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}-{i}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
