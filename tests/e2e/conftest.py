from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC


PARAM_DEFAULTS: dict[str, dict] = {}


@pytest.fixture(scope="session")
def dags(airflow_db):
    import copy

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    for dag_id, dag in bag.dags.items():
        PARAM_DEFAULTS[dag_id] = {k: copy.deepcopy(dag.params.get_param(k).value) for k in dag.params}
    return bag.dags


def full_conf(dag_id: str, conf: dict | None) -> dict:
    """Every param spelled out. In-process, Airflow's process_params() writes a run's conf into the DAG's
    own Param objects, so a key left out would silently keep the previous run's value."""
    return {**PARAM_DEFAULTS.get(dag_id, {}), **(conf or {})}


def run_dag(dags, dag_id: str, conf: dict | None = None, **test_kwargs):
    """``dag.test()`` with every param spelled out, then a fresh parse of the DAG if a task raised.

    In-process, a task that fails or skips keeps its rendered template fields (a worker would parse
    the file again for the next try), so the next run would reuse the last run's values."""
    from airflow.dag_processing.dagbag import DagBag

    run = dags[dag_id].test(run_conf=full_conf(dag_id, conf), **test_kwargs)
    if any(ti.state != "success" for ti in run.get_task_instances()):
        dags[dag_id] = DagBag(dag_folder=dags[dag_id].fileloc).dags[dag_id]
    return run


def day(d: str) -> dt.date:
    return dt.date.fromisoformat(d)


def ingest(dags, *days: dt.date) -> dict[str, str]:
    """Run ingest_and_validate for each day (its data interval is that day). Returns ds -> run state."""
    states = {}
    for d in days:
        logical = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=UTC)
        run = run_dag(dags, "ingest_and_validate", logical_date=logical)
        states[d.isoformat()] = run.state
    return states


def train(dags, window_end: dt.date, logical_date: dt.datetime | None = None, **conf):
    """Run train_and_promote training up to ``window_end``; by default as a REST trigger would
    (logical_date null). The same ``logical_date`` twice is a re-run of the same DAG run (same run_id)."""
    conf = {"window_end": window_end.isoformat(), "reason": "test", **conf}
    return run_dag(dags, "train_and_promote", conf, logical_date=logical_date, run_after=logical_date)


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def xcom(run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalar(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key=key).with_only_columns(
                XComModel.value
            )
        )
    import json

    return json.loads(row) if isinstance(row, str | bytes) else row
