"""The integration suite's ``stack`` fixture: the distributed stack of ``mlops_dev.stack`` (moto S3, MLflow on
PostgreSQL, Airflow 3 with the CeleryExecutor), started natively once per session, stopped at the end.

The stack itself, its constants and helpers live in the dev-only package (``mlops_dev.stack``), shared with the
backfill and Celery benchmarks; they are re-exported here for the test modules that import them from this file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

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


# -- helpers the pipeline modules share (test_distributed_pipeline, test_scoring_stack, test_promotion_approval) --
# test_distributed_pipeline's days: ingested by its test_a, trained on by its test_c; the others rebuild that
# state with _make_champion when they run first or alone.
INGEST, TRAIN = "ingest_and_validate", "train_and_promote"
DAYS = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(6)]
WINDOW_END = DAYS[-1] + dt.timedelta(days=1)


def _logical(day: dt.date) -> str:
    """The logical date whose (inferred) data interval is ``day``: the interval ending at its midnight."""
    return f"{day + dt.timedelta(days=1)}T00:00:00Z"


def _curated_key(day: dt.date) -> str:
    return f"lake/curated/{DATASET}/ds={day}/part-0.parquet"


def _mlflow(stack: Stack) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)  # not the global registry URI


def _champion(stack: Stack) -> str | None:
    from include.mlops.model.registry import champion_version

    return champion_version(_mlflow(stack), MODEL_NAME)


def _trigger(stack: Stack, dag_id: str, body: dict[str, Any]) -> str:
    r = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
    assert r.status_code in (200, 201), (dag_id, r.status_code, r.text)
    return r.json()["dag_run_id"]


def _run_ok(stack: Stack, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    runs = stack.wait_for_runs(dag_id, [run_id], timeout=timeout)
    stack.assert_success(dag_id, runs)
    return runs[run_id]


def _task_states(stack: Stack, dag_id: str, run_id: str) -> dict[str, str]:
    r = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    assert r.status_code == 200, (r.status_code, r.text)
    return {t["task_id"]: t["state"] for t in r.json()["task_instances"]}


def _make_champion(stack: Stack) -> None:
    """What test_distributed_pipeline leaves behind, when it did not run first: its six days curated and a
    champion trained on them (train_and_promote over REST, ``logical_date: null``)."""
    missing = [d for d in DAYS if _curated_key(d) not in stack.list_keys(LAKE_BUCKET, _curated_key(d))]
    run_ids = [
        _trigger(stack, INGEST, {"dag_run_id": f"it_score_setup_{d}", "logical_date": None, "conf": {"ds": str(d)}})
        for d in missing
    ]
    if run_ids:
        stack.assert_success(INGEST, stack.wait_for_runs(INGEST, run_ids, timeout=300))
    conf = {"window_end": WINDOW_END.isoformat(), "reason": "integration scoring setup"}
    _run_ok(stack, TRAIN, _trigger(stack, TRAIN, {"logical_date": None, "conf": conf}), timeout=360)
