"""Environments for the Airflow (and MLflow) processes the tests, `make demo` and the pipeline benchmark start.

Standard library only, and nothing from Airflow: the root conftest.py imports ``embedded_env`` before Airflow is
first imported (Airflow reads these variables then).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

# Prefixes of the variables that configure Airflow, MLflow, AWS, the pipeline or pytest: a stack built from
# base_env() gets only what its builder sets.
FOREIGN_ENV = ("AIRFLOW", "MLFLOW_", "MLOPS_", "AWS_", "PYTHONPATH", "PYTEST")


def embedded_env(root: Path, work: Path, mlflow_uri: str) -> dict[str, str]:
    """Variables for an Airflow home in ``work/airflow`` running the DAGs of the project at ``root``
    (SQLite metadata, the MLflow store at ``mlflow_uri``): the test session and `make demo`."""
    return {
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'airflow' / 'airflow.db'}",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "http", "extra": {"tracking_uri": mlflow_uri}}),
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "GIT_PYTHON_REFRESH": "quiet",
    }


def base_env(root: Path, bin_dir: Path | None = None) -> dict[str, str]:
    """The parent env minus everything that configures Airflow, MLflow, AWS, the pipeline or pytest
    (``FOREIGN_ENV``); the project's venv first on PATH, the project on PYTHONPATH, telemetry off,
    unbuffered output. What every subprocess of a native stack starts from."""
    bin_dir = bin_dir or root / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{root}{os.pathsep}{root / 'plugins'}",
            "GIT_PYTHON_REFRESH": "quiet",
            "MLFLOW_ENABLE_TELEMETRY": "false",
            "DO_NOT_TRACK": "true",
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def service_env(root: Path, home: Path, *, executor: str, db_uri: str, api_port: int, log_port: int) -> dict[str, str]:
    """Variables shared by every Airflow service (api-server, scheduler, dag-processor, workers) of a
    native stack on 127.0.0.1: the browser test, the integration suite and the pipeline benchmark.
    Secrets are generated for this stack only."""
    api_url = f"http://127.0.0.1:{api_port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_uri,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
    }
