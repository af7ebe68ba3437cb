"""Fault injection, registry side, against a real MLflow tracking server (a subprocess we stop and restart on the
same port and store): the server down while training and while promoting, a crash between registering and
promoting followed by a re-run, and two promotions racing for the champion.

Each case asserts that nothing is lost (lake partitions, model versions) and that the registry is consistent
(``assert_registry_consistent``: one blessed champion that the history ends with, aliases on existing versions,
one version per DAG run, no stray challenger), and a watcher thread polling the ``champion`` alias during the
runs asserts it never pointed at nothing once a champion existed.

``dag.test()`` honours task retries in Airflow 3.3 (a failed try goes to up_for_retry and the loop schedules the
next try once its backoff has passed), so the outage cases exercise Airflow's own retry; only ``retry_delay`` is
shortened. It does not enforce pools (no scheduler), so the race runs the two promote tasks one after the other,
in the order the one-slot ``mlops_promotion`` pool would let them through (the pool itself is checked by
tests/dags/test_dag_integrity.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import types

import pytest

import mlops_dev as support
from include.mlops.data.lake import Lake
from tests.e2e.conftest import (
    UTC,
    ChampionWatcher,
    assert_registry_consistent,
    day,
    lake_snapshot,
    registry_state,
    task_instances,
    task_states,
    train,
    xcom,
)

ROWS = 1000
DAYS = [day("2026-08-01") + dt.timedelta(days=i) for i in range(10)]
WINDOW_END = DAYS[-1] + dt.timedelta(days=1)
WEAK = {"features": ["amount", "hour", "customer_age", "channel"]}, {"params": {"max_iter": 20}}
MEDIUM = (
    {"features": ["amount", "channel", "country", "is_new_device", "failed_logins_24h"]},
    {"params": {"max_iter": 60}},
)
STRONG = {"features": None}, {"params": {"max_iter": 100}}


class SimulatedCrash(Exception):
    """Stands in for a worker dying at a chosen point of a task."""


class MlflowServer(support.MlflowServer):
    """``mlflow server`` as a process group we can stop and start again on the same port and store."""

    def bounce(self) -> threading.Thread:
        """An outage: stop now, start again from a background thread (as an operator restarting it would)."""
        self.stop()
        self.restart_error: BaseException | None = None

        def restart() -> None:
            try:
                self.start()
            except BaseException as exc:  # reported by the test, not swallowed
                self.restart_error = exc

        thread = threading.Thread(target=restart, name="mlflow-restart", daemon=True)
        thread.start()
        return thread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The tracking server. MLflow's process-wide URIs are left alone (the session's store): the library reaches
    the server only through the client the hook builds from the connection."""
    srv = MlflowServer(tmp_path_factory.mktemp("mlflow-faults"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, server):
    """Curated days shared (read-only) by every case, and one weak logged model to seed champions from."""
    import yaml
    from mlflow import MlflowClient

    from include.mlops.core.config import load_config
    from include.mlops.data.simulator import generate_day
    from include.mlops.model.training import train_and_register
    from include.mlops.model.window import Window, assemble_window
    from tests.e2e.conftest import ROOT

    root = tmp_path_factory.mktemp("faults-registry")
    lake = Lake.at(str(root / "lake"))
    for d in DAYS:
        lake.write_partition("curated", "transactions", d, generate_day(d, seed=42, rows_per_day=ROWS))
    path = root / "seed.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": {"suite": str(ROOT / "include/config/expectations/transactions.json"), **WEAK[0]},
                "lake": {"root": str(root / "lake")},
                "model": {"name": "m_faults_seed", **WEAK[1]},
            }
        )
    )
    cfg = load_config(path)
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    window = Window.ending(WINDOW_END, len(DAYS), 3)
    data = assemble_window(lake, cfg, window)
    seed = train_and_register(client, cfg, data, window, "seed/weak", {})
    model_uri = client.get_run(seed.run_id).data.tags["model_uri"]
    return types.SimpleNamespace(root=root, lake=lake, holdout=data.holdout, seed_run=seed.run_id, seed_uri=model_uri)


@pytest.fixture
def case(world, server, make_config, monkeypatch, request):
    """This test's model (its own name) with a weak champion v1 on the server; MLflow's client retries bounded."""
    from mlflow import MlflowClient

    from include.mlops.model.registry import RUN_KEY_TAG, ensure_registered_model
    from include.mlops.promotion.aliases import promote
    from include.mlops.promotion.evaluation import evaluate

    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "http", "host": server.url}))
    # MLflow retries a refused connection 7 times with backoff (~4 min a request) by default; the outage is
    # meant to fail the try and be retried by Airflow, so each request gives up within seconds here
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    cfg = make_config(
        lake={"root": world.lake.storage.uri("")},
        simulator={"rows_per_day": ROWS},
        training={"window_days": len(DAYS), "holdout_days": 3, "min_rows": 200},
        evaluation={"floor": 0.02, "min_improvement": 0.002},
        dataset=STRONG[0],
        model={**STRONG[1], "name": "m_faults_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]},
    )
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    ensure_registered_model(client, cfg.model.name)
    v1 = client.create_model_version(
        cfg.model.name,
        source=world.seed_uri,
        run_id=world.seed_run,
        model_id=world.seed_uri.split("/", 1)[1],
        tags={RUN_KEY_TAG: f"seed/{cfg.model.name}"},
    ).version
    v1 = str(v1)
    ev = evaluate(client, cfg, v1, world.holdout)
    promote(
        client, cfg.model.name, v1, None, promote_decision=ev.decision.promote, reason=ev.decision.reason, actor="seed"
    )
    assert_registry_consistent(client, cfg.model.name)
    return types.SimpleNamespace(
        cfg=cfg,
        name=cfg.model.name,
        client=client,
        v1=v1,
        server=server,
        world=world,
        lake_before=lake_snapshot(world.lake, "transactions"),
    )


def _fast_retries(monkeypatch, dags, *task_ids: str) -> None:
    """Airflow's own retry with the DAG file's exponential backoff, on a test's time scale: shorter delays, and
    more tries so that a slow restart on a busy machine is outlasted (the DAG file's settings are checked first)."""
    for task_id in task_ids:
        task = dags["train_and_promote"].get_task(task_id)
        assert task.retries >= 2 and task.retry_exponential_backoff, (task_id, task.retries)
        monkeypatch.setattr(task, "retries", 8)
        monkeypatch.setattr(task, "retry_delay", dt.timedelta(seconds=2))
        monkeypatch.setattr(task, "max_retry_delay", dt.timedelta(seconds=10))


def _runs_of(client, name: str, run_key: str):
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.airflow_run_key = '{run_key}'")


def _assert_nothing_lost(case, *versions: str) -> None:
    state = registry_state(case.client, case.name)
    assert {case.v1, *versions} <= set(state["versions"]), state["versions"].keys()
    assert lake_snapshot(case.world.lake, "transactions") == case.lake_before


def test_mlflow_outages_while_training_and_promoting_are_retried_until_the_server_is_back(case, dags, monkeypatch):
    from mlflow import MlflowClient

    import include.mlops.model.training as training

    _fast_retries(monkeypatch, dags, "train_challenger", "promote_challenger")
    restarts: list[threading.Thread] = []
    trusted_types, set_alias = training.trusted_types, MlflowClient.set_registered_model_alias

    def outage_before_logging_the_model(pipeline):  # inside the MLflow run, after params/tags, before log_model
        if not restarts:
            restarts.append(case.server.bounce())
        return trusted_types(pipeline)

    def outage_after_moving_the_alias(self, name, alias, version):  # before the history and status tags
        set_alias(self, name, alias, version)
        if alias == "champion" and len(restarts) == 1:
            restarts[0].join(timeout=180)
            restarts.append(case.server.bounce())

    monkeypatch.setattr(training, "trusted_types", outage_before_logging_the_model)
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", outage_after_moving_the_alias)
    after = dt.datetime(2026, 8, 11, 6, tzinfo=UTC)
    with ChampionWatcher(case.server.url, case.name) as watcher:
        run = train(dags, WINDOW_END, logical_date=after)
        for thread in restarts:
            thread.join(timeout=180)
    assert case.server.restart_error is None and case.server.healthy()
    assert len(restarts) == 2, "both outages were injected"

    tis = task_instances(run)
    assert run.state == "success", task_states(run)
    assert tis["train_challenger"].try_number >= 2 and tis["promote_challenger"].try_number >= 2
    v2 = xcom(run, "train_challenger")["version"]
    run_key = f"train_and_promote/{run.run_id}"
    # one version for the DAG run; the try that lost the server left its MLflow run closed as FAILED
    statuses = sorted(r.info.status for r in _runs_of(case.client, case.name, run_key))
    assert statuses.count("FINISHED") == 1 and "RUNNING" not in statuses and "FAILED" in statuses, statuses
    state = assert_registry_consistent(case.client, case.name)
    assert state["aliases"] == {"champion": v2, "challenger": v2}
    assert state["tags"]["champion_history"] == f"{case.v1},{v2}"  # the retry finished the bookkeeping
    assert state["versions"][case.v1]["promotion.status"] == f"superseded by {v2}"
    assert watcher.gaps == [] and watcher.seen == [case.v1, v2] and watcher.polls > 0
    _assert_nothing_lost(case, v2)


@pytest.mark.parametrize("crash_point", ["after_registering", "after_moving_the_alias"])
def test_a_crash_between_registering_and_promoting_then_a_rerun_converges(case, dags, monkeypatch, crash_point):
    from mlflow import MlflowClient

    import include.mlops.model.training as training

    after = dt.datetime(2026, 8, 11, 7, tzinfo=UTC)
    with ChampionWatcher(case.server.url, case.name) as watcher:
        with monkeypatch.context() as crash:
            if crash_point == "after_registering":
                register = training.register_version

                def register_then_crash(*args, **kwargs):
                    version = register(*args, **kwargs)
                    raise SimulatedCrash(f"worker died after registering version {version.version}")

                crash.setattr(training, "register_version", register_then_crash)
                crash.setattr(dags["train_and_promote"].get_task("train_challenger"), "retries", 0)
            else:
                set_alias = MlflowClient.set_registered_model_alias

                def move_then_crash(self, name, alias, version):
                    set_alias(self, name, alias, version)
                    if alias == "champion":
                        raise SimulatedCrash(f"worker died right after moving champion to {version}")

                crash.setattr(MlflowClient, "set_registered_model_alias", move_then_crash)
                crash.setattr(dags["train_and_promote"].get_task("promote_challenger"), "retries", 0)
            crashed = train(dags, WINDOW_END, logical_date=after)
        assert crashed.state == "failed"
        first = registry_state(case.client, case.name)
        assert len(first["versions"]) == 2  # the crashed run registered its version

        rerun = train(dags, WINDOW_END, logical_date=after)  # clear the run: the same run id
    assert rerun.run_id == crashed.run_id and rerun.state == "success", task_states(rerun)
    trained = xcom(rerun, "train_challenger")
    assert trained["reused"] is True
    state = assert_registry_consistent(case.client, case.name)
    assert set(state["versions"]) == set(first["versions"])  # converged: no second version for the run
    v2 = trained["version"]
    assert state["aliases"]["champion"] == v2 and state["tags"]["champion_history"] == f"{case.v1},{v2}"
    assert state["versions"][v2]["promotion.previous_champion"] == case.v1
    assert watcher.gaps == [] and watcher.seen == [case.v1, v2] and watcher.errors == []
    _assert_nothing_lost(case, v2)


def test_two_promotions_racing_are_serialized_and_the_best_blessed_version_ends_champion(case, dags, make_config):
    from mlops_airflow.operators.base import ChampionMoved
    from mlops_airflow.operators.training import PromoteChallengerOperator

    when = {"medium": dt.datetime(2026, 8, 11, 8, tzinfo=UTC), "strong": dt.datetime(2026, 8, 11, 9, tzinfo=UTC)}
    runs, evaluations = {}, {}
    for label, (dataset, model) in (("medium", MEDIUM), ("strong", STRONG)):
        make_config(dataset=dataset, model=model)
        runs[label] = train(dags, WINDOW_END, logical_date=when[label], dry_run=True)  # train + evaluate only
        evaluations[label] = xcom(runs[label], "evaluate_challenger")
        assert evaluations[label]["promote"] and evaluations[label]["champion_version"] == case.v1
    medium, strong = (evaluations[k]["challenger_version"] for k in ("medium", "strong"))
    assert evaluations["strong"]["challenger_value"] > evaluations["medium"]["challenger_value"] + 0.002

    # what serializes them under a scheduler: every task that moves the alias takes the one slot of one pool
    movers = [dags["train_and_promote"].get_task("promote_challenger"), dags["rollback_champion"].get_task("rollback")]
    assert {(t.pool, t.pool_slots) for t in movers} == {("mlops_promotion", 1)}

    def promote_task(label: str):
        """The promote task of that run, as the worker would run it once the pool gives it the slot."""
        op = PromoteChallengerOperator(task_id="promote_challenger", evaluation=evaluations[label], dry_run=False)
        ctx = {"dag": types.SimpleNamespace(dag_id="train_and_promote"), "run_id": runs[label].run_id}
        return op.execute(ctx)

    with ChampionWatcher(case.server.url, case.name) as watcher:
        # both were blessed against v1; the weaker one happens to get the slot first
        assert promote_task("medium")["champion_version"] == medium
        with pytest.raises(ChampionMoved) as lost:  # fails for good (no retry), saying why
            promote_task("strong")
        message = str(lost.value)
        assert f"moved from {case.v1} to {medium}" in message and "re-evaluate" in message
        assert assert_registry_consistent(case.client, case.name)["aliases"]["champion"] == medium

        # the loser does what it was told: its run is re-run, re-evaluated against the new champion, promoted
        make_config(dataset=STRONG[0], model=STRONG[1])
        rerun = train(dags, WINDOW_END, logical_date=when["strong"], dry_run=False)
    assert rerun.state == "success" and task_states(rerun)["promote_challenger"] == "success", task_states(rerun)
    assert xcom(rerun, "evaluate_challenger")["champion_version"] == medium
    state = assert_registry_consistent(case.client, case.name)
    assert state["aliases"]["champion"] == strong
    assert state["tags"]["champion_history"] == f"{case.v1},{medium},{strong}"
    assert state["versions"][medium]["promotion.status"] == f"superseded by {strong}"
    assert watcher.gaps == [] and watcher.seen == [case.v1, medium, strong]
    _assert_nothing_lost(case, medium, strong)
