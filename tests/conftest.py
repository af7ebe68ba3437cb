"""Test environment: an Airflow home, metadata DB, MLflow store and lake of the session's own.

Airflow reads its configuration when first imported, so the environment is set here, at conftest
import time, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION_DIR = Path(tempfile.mkdtemp(prefix="mlops-tests-"))
MLFLOW_URI = f"sqlite:///{SESSION_DIR / 'mlflow.db'}"

os.environ.update(
    {
        "AIRFLOW_HOME": str(SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{SESSION_DIR / 'airflow' / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": '{"conn_type": "http", "extra": {"tracking_uri": "%s"}}' % MLFLOW_URI,
        "MLFLOW_TRACKING_URI": MLFLOW_URI,
        "GIT_PYTHON_REFRESH": "quiet",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "true",
        "GX_ANALYTICS_ENABLED": "false",
    }
)
os.environ.pop("MLOPS_CONFIG", None)
(SESSION_DIR / "airflow").mkdir(parents=True, exist_ok=True)
for path in (str(ROOT), str(ROOT / "plugins")):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])
# A SQLite MLflow store puts artifacts in ./mlruns: keep them out of the checkout.
os.chdir(SESSION_DIR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries a layer marker, taken from its folder when not set explicitly."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if any(m.name in ("unit", "e2e", "integrity") for m in item.iter_markers()):
            continue
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)
        elif "dags" in parts or ".astro" in parts:
            item.add_marker(pytest.mark.integrity)
        else:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database for this session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return SESSION_DIR / "airflow" / "airflow.db"


@pytest.fixture(scope="session")
def mlflow_uri() -> str:
    import mlflow

    mlflow.set_tracking_uri(MLFLOW_URI)
    mlflow.set_registry_uri(MLFLOW_URI)
    return MLFLOW_URI


@pytest.fixture
def mlflow_client(mlflow_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)


@pytest.fixture
def make_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """Write a pipeline config for this test (lake in tmp_path, a model name of its own) and point
    ``MLOPS_CONFIG`` at it. Returns a function taking section overrides; it returns the loaded config."""
    import yaml

    from include.mlops.config import load_config

    safe = "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]

    doc = {
        "dataset": {"suite": str(ROOT / "include/config/expectations/transactions.json")},
        "lake": {"root": str(tmp_path / "lake")},
        "model": {"name": f"m_{safe}"},
        "simulator": {"rows_per_day": 1500},
        "training": {"window_days": 10, "holdout_days": 3, "min_rows": 200},
    }

    def _make(**sections):
        """Successive calls in one test layer their overrides on the previous ones."""
        for key, value in sections.items():
            doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
        path = tmp_path / "mlops.yaml"
        path.write_text(yaml.safe_dump(doc))
        monkeypatch.setenv("MLOPS_CONFIG", str(path))
        return load_config(path)

    return _make
