from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mlops_dev import start_mlflow_server

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC


PARAM_DEFAULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """The URL of an ``mlflow server`` (SQLite store, served artifacts) for each module that asks for it
    (test_mlflow_server.py, test_rollback_fail_fast.py); stopped at the module's end."""
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"), timeout=120) as server:
        yield server.url


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
    """``dag.test()`` with every param spelled out, then a fresh parse of the DAG.

    In-process, a task can keep its rendered template fields after a run (seen after failures and skips, and
    for score_batch's model_version after a success), where a worker would parse the file again for every try;
    so the next run would reuse the last run's values. Parsing one DAG file again costs milliseconds."""
    from airflow.dag_processing.dagbag import DagBag

    run = dags[dag_id].test(run_conf=full_conf(dag_id, conf), **test_kwargs)
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


def asset_event_extras(asset_name: str) -> list[dict]:
    """The ``extra`` of every event of the asset named ``asset_name`` in the session's metadata DB (oldest first).
    Other tests of the session emit events of the same assets: filter on what the extra says."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(
                select(AssetEvent.extra)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .where(AssetModel.name == asset_name)
                .order_by(AssetEvent.id)
            ).all()
        )


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


# -- fault-injection helpers (tests/e2e/test_faults_*.py) ----------------------------------------------------------


def task_instances(run) -> dict:
    """task_id -> TaskInstance of a finished ``dag.test()`` run (state, try_number)."""
    return {ti.task_id: ti for ti in run.get_task_instances()}


def lake_snapshot(lake, dataset: str) -> dict[str, dict[str, str]]:
    """zone -> {ds: content hash} of every partition of ``dataset``: compare two to prove nothing was lost."""
    import hashlib

    snap: dict[str, dict[str, str]] = {}
    for zone in ("landing", "curated", "quarantine"):
        snap[zone] = {}
        for ds in lake.list_partitions(zone, dataset):
            data = lake.storage.read_bytes(f"{zone}/{dataset}/ds={ds}/part-0.parquet")
            snap[zone][ds] = hashlib.sha256(data).hexdigest()
    return snap


def registry_state(client, name: str) -> dict:
    """Versions (with their tags) and aliases of a registered model, or empty when it does not exist yet."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return {"versions": {}, "aliases": {}, "tags": {}}
    versions = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name = '{name}'")}
    return {"versions": versions, "aliases": {k: str(v) for k, v in model.aliases.items()}, "tags": dict(model.tags)}


def assert_registry_consistent(client, name: str, *, champion_expected: bool = True) -> dict:
    """The registry invariants every fault must leave intact. Returns the state it checked.

    Every alias points at an existing version; the champion (exactly one, when expected) was blessed by an
    evaluation, is the only version whose status says champion and is the last entry of the history rollback
    reads; no DAG run (run key) registered two versions; the challenger, if any, came from a DAG run.
    """
    state = registry_state(client, name)
    versions, aliases = state["versions"], state["aliases"]
    for alias, version in aliases.items():
        assert version in versions, f"alias {alias} points at version {version}, which does not exist: {state}"
    champion = aliases.get("champion")
    if champion_expected:
        assert champion is not None, f"{name} has no champion: {state}"
    if champion is not None:
        tags = versions[champion]
        assert tags.get("evaluation.decision") == "promote", f"champion {champion} was never blessed: {tags}"
        assert tags.get("promotion.status", "").startswith("champion"), f"champion {champion} status: {tags}"
        history = [v for v in state["tags"].get("champion_history", "").split(",") if v]
        assert history and history[-1] == champion, f"history {history} does not end with champion {champion}"
    stale = [v for v, t in versions.items() if t.get("promotion.status", "").startswith("champion") and v != champion]
    assert not stale, f"versions {stale} say champion but the alias points at {champion}"
    run_keys = [t.get("airflow_run_key") for t in versions.values()]
    duplicates = {k for k in run_keys if k and run_keys.count(k) > 1}
    assert not duplicates, f"DAG runs registered more than one version: {duplicates}"
    if "challenger" in aliases:
        assert versions[aliases["challenger"]].get("airflow_run_key"), f"stray challenger: {state}"
    return state


class ChampionWatcher:
    """Polls the ``champion`` alias from a thread while a run goes on; records every moment it was missing
    after a champion had been seen (``gaps``), every version seen and any error reading it."""

    def __init__(self, tracking_uri: str, name: str) -> None:
        import threading

        self.tracking_uri, self.name = tracking_uri, name
        self.seen: list[str] = []
        self.gaps: list[float] = []
        self.errors: list[str] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"champion-watcher-{name}", daemon=True)

    def _run(self) -> None:
        import time

        from mlflow import MlflowClient

        from include.mlops.model.registry import champion_version

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        while not self._stop.is_set():
            try:
                version = champion_version(client, self.name)
            except Exception as exc:  # the server may be down on purpose: not a missing champion
                self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            else:
                self.polls += 1
                if version is None:
                    if self.seen:
                        self.gaps.append(time.monotonic())
                elif not self.seen or self.seen[-1] != version:
                    self.seen.append(version)
            self._stop.wait(0.05)

    def __enter__(self) -> ChampionWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
