"""The compose stack's auth manager, natively: FAB (users and roles in the metadata DB on PostgreSQL).

The same bootstrap as compose's airflow-init (`airflow db migrate`, then scripts/ensure_admin.sh with
the admin from the environment), then an API server: no call gets through without a token, a wrong
password gets no token, the admin can read and trigger, and a Viewer can read but not trigger.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import (
    BIN,
    PG_HOST,
    PG_PORT,
    PG_USER,
    ROOT,
    _free_port,
    _pg_admin,
    _services_reachable,
    _stop,
    _tail,
)

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _compose_auth_manager() -> str:
    import yaml

    common = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["x-airflow-common"]["environment"]
    return common["AIRFLOW__CORE__AUTH_MANAGER"]


@pytest.fixture(scope="module")
def fab_api():
    if why := _services_reachable():
        pytest.fail(why)
    db = f"mlops_it_fab_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_admin(f'CREATE DATABASE "{db}"')
    home = Path(tempfile.mkdtemp(prefix="mlops-fab-"))
    port = _free_port()
    admin_password = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": _compose_auth_manager(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW_ADMIN_USERNAME": "ops-admin",
        "AIRFLOW_ADMIN_PASSWORD": admin_password,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
    }
    env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
    procs: dict[str, subprocess.Popen] = {}
    log = home / "api-server.log"
    try:

        def run(*cmd: str) -> str:
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
            return out.stdout

        run(str(BIN / "airflow"), "db", "migrate")
        created = run("bash", str(ROOT / "scripts/ensure_admin.sh"))
        again = run("bash", str(ROOT / "scripts/ensure_admin.sh"))  # idempotent: a second init resets, never fails
        viewer_password = secrets.token_urlsafe(16)
        run(
            str(BIN / "airflow"),
            "users",
            "create",
            "--username",
            "analyst",
            "--password",
            viewer_password,
            "--role",
            "Viewer",
            "--firstname",
            "A",
            "--lastname",
            "Nalyst",
            "--email",
            "analyst@example.invalid",
        )
        procs["api-server"] = subprocess.Popen(
            [str(BIN / "airflow"), "api-server", "--port", str(port)],
            env=env,
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while True:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if procs["api-server"].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"FAB api-server did not start:\n{_tail(log)}")
            time.sleep(1)
        yield {
            "url": url,
            "admin": ("ops-admin", admin_password),
            "viewer": ("analyst", viewer_password),
            "bootstrap": (created, again),
        }
    finally:
        _stop(procs)
        _pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _token(api: dict, who: tuple[str, str]) -> requests.Response:
    return requests.post(f"{api['url']}/auth/token", json={"username": who[0], "password": who[1]}, timeout=30)


def test_compose_uses_fab_and_init_creates_then_resets_the_admin(fab_api):
    assert _compose_auth_manager() == FAB
    assert "\napache-airflow-providers-fab==" in (ROOT / "requirements.lock").read_text()  # in the image
    assert "scripts/ensure_admin.sh" in (ROOT / "Dockerfile").read_text()
    assert "ensure_admin.sh" in (ROOT / "docker-compose.yaml").read_text()
    created, again = fab_api["bootstrap"]
    assert "created (role Admin)" in created and "password set from the environment" in again


def test_no_token_no_access_and_a_wrong_password_gets_no_token(fab_api):
    assert requests.get(f"{fab_api['url']}/api/v2/dags", timeout=30).status_code == 401
    assert _token(fab_api, ("ops-admin", "not-the-password")).status_code == 401


def test_roles_the_admin_triggers_a_viewer_only_reads(fab_api):
    url = fab_api["url"]
    admin = {"Authorization": f"Bearer {_token(fab_api, fab_api['admin']).json()['access_token']}"}
    viewer = {"Authorization": f"Bearer {_token(fab_api, fab_api['viewer']).json()['access_token']}"}
    assert requests.get(f"{url}/api/v2/dags", headers=viewer, timeout=30).status_code == 200
    body = {"logical_date": None, "conf": {"reason": "role check", "dry_run": True}}
    denied = requests.post(f"{url}/api/v2/dags/rollback_champion/dagRuns", json=body, headers=viewer, timeout=30)
    assert denied.status_code == 403, denied.text
    # The admin passes authorization; the DAG is not parsed here (no dag-processor), hence 404, not 403.
    allowed = requests.post(f"{url}/api/v2/dags/rollback_champion/dagRuns", json=body, headers=admin, timeout=30)
    assert allowed.status_code == 404, allowed.text
