"""Fixtures shared by the suite. The environment itself is set in the root conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION_DIR = Path(os.environ["AIRFLOW_HOME"]).parent  # set by the root conftest.py
MLFLOW_URI = os.environ["MLFLOW_TRACKING_URI"]


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
    """The session's MLflow store. Nothing sets MLflow's process-wide URIs: the library takes a client
    (``mlflow_client``); a test's own fluent call (``mlflow.artifacts.load_dict``) reads ``MLFLOW_TRACKING_URI``,
    which the root conftest.py sets to this same store."""
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

    from include.mlops.core.config import load_config

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
