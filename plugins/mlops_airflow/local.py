"""Environment for an embedded Airflow (SQLite metadata, local MLflow store) in a scratch folder.

Used by the test suite and `make demo`; imports nothing from Airflow, because Airflow reads these
variables when it is first imported.
"""

from __future__ import annotations

import json
from pathlib import Path


def embedded_env(root: Path, work: Path, mlflow_uri: str) -> dict[str, str]:
    """Variables for an Airflow home in ``work/airflow`` running the DAGs of the project at ``root``."""
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
