"""The integration suite's ``stack`` fixture: the distributed stack of ``mlops_dev.stack`` (moto S3, MLflow on
PostgreSQL, Airflow 3 with the CeleryExecutor), started natively once per session, stopped at the end.

The stack itself, its constants and helpers live in the dev-only package (``mlops_dev.stack``), shared with the
backfill and Celery benchmarks; they are re-exported here for the test modules that import them from this file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_dev.services import free_port as _free_port  # imported by test_team_auth.py
from mlops_dev.services import tail as _tail  # imported by test_team_auth.py
from mlops_dev.stack import (
    BIN,
    DATASET,
    LAKE_BUCKET,
    LAKE_ROOT,
    MLFLOW_BUCKET,
    MODEL_NAME,
    PG_HOST,
    PG_PORT,
    PG_USER,
    ROOT,
    RUN_ID_PATTERN,
    Stack,
    StackFailed,
    distributed_stack,
    services_reachable,
)
from mlops_dev.stack import pg_admin as _pg_admin  # imported by test_team_auth.py
from mlops_dev.stack import services_reachable as _services_reachable  # imported by test_team_auth.py
from mlops_dev.stack import stop_all as _stop  # imported by test_team_auth.py

__all__ = [
    "BIN",
    "DATASET",
    "LAKE_BUCKET",
    "LAKE_ROOT",
    "MLFLOW_BUCKET",
    "MODEL_NAME",
    "PG_HOST",
    "PG_PORT",
    "PG_USER",
    "ROOT",
    "RUN_ID_PATTERN",
    "Stack",
    "_free_port",
    "_pg_admin",
    "_services_reachable",
    "_stop",
    "_tail",
]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    reason = services_reachable()
    if reason:
        pytest.fail(f"the integration suite needs the machine's PostgreSQL and Redis: {reason}")
    try:
        with distributed_stack() as started:
            yield started
    except StackFailed as exc:  # the stack did not come up: fail the first test that needs it, with the log tails
        pytest.fail(str(exc), pytrace=False)
