"""drift_monitor end to end: no drift triggers nothing, an abrupt shift triggers exactly one training run
with the conf, days inside the cooldown trigger nothing more, no champion skips."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.data.lake import Lake
from tests.e2e.conftest import UTC, day, ingest, run_dag, task_states, train, xcom

SHIFT = day("2026-06-15")


def drift_check(dags, ds: dt.date):
    """Run drift_monitor for the day ``ds``: the interval [ds 01:00, ds+1 01:00) of its 01:00 cron."""
    logical = dt.datetime.combine(ds + dt.timedelta(days=1), dt.time(1), tzinfo=UTC)
    return run_dag(dags, "drift_monitor", logical_date=logical)


def training_runs():
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == "train_and_promote", DagRun.run_id.like("drift__%"))
        ).all()
        return [(r.run_id, r.state, dict(r.conf or {})) for r in runs]


def finish_triggered_runs():
    """Play the scheduler: a triggered training run is no longer queued once it has run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == "train_and_promote", DagRun.run_id.like("drift__%"))
            .values(state="success")
        )


@pytest.fixture(autouse=True)
def _no_triggered_runs_from_other_tests(airflow_db):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.dag_id == "train_and_promote", DagRun.run_id.like("drift__%")))


@pytest.fixture
def monitored(make_config, dags):
    cfg = make_config(
        simulator={"rows_per_day": 2000, "scenario": "abrupt_drift", "scenario_start": SHIFT.isoformat()},
        training={"window_days": 10, "holdout_days": 3, "min_rows": 500},
        evaluation={"floor": 0.02},
        drift={"window_days": 3, "cooldown_days": 7, "exclude_columns": ["day_of_week"], "sample_cap": 5000},
    )
    days = [day("2026-06-01") + dt.timedelta(days=i) for i in range(22)]
    assert set(ingest(dags, *days).values()) == {"success"}
    run = train(dags, day("2026-06-11"))
    assert task_states(run)["promote_challenger"] == "success"
    # score_batch from the holdout on (out of sample: the prediction-drift reference) through the served days
    scored = run_dag(dags, "score_batch", {"start": "2026-06-08", "end": "2026-06-22"})
    assert xcom(scored, "score")["days_scored"] == 15
    return cfg


def test_no_drift_then_one_trigger_then_cooldown(monitored, dags):
    cfg = monitored
    lake = Lake.at(cfg.lake_root)
    for ds in (day("2026-06-11"), day("2026-06-12"), day("2026-06-13")):
        run = drift_check(dags, ds)
        assert task_states(run) == {"check_drift": "success", "trigger_retraining": "skipped"}
        assert xcom(run, "check_drift")["trigger"] is False
    assert training_runs() == []

    triggered_on = []
    for offset in range(7):  # 2026-06-15 .. 06-21: the shift and the days after it, inside the cooldown
        ds = SHIFT + dt.timedelta(days=offset)
        run = drift_check(dags, ds)
        summary = xcom(run, "check_drift")
        if summary["trigger"]:
            triggered_on.append(ds.isoformat())
            assert task_states(run)["trigger_retraining"] == "success"
        elif triggered_on:
            assert "cooldown" in summary["reason"]
        finish_triggered_runs()
    assert len(triggered_on) == 1
    ((run_id, _, conf),) = training_runs()
    assert run_id == f"drift__{triggered_on[0]}"
    assert conf["reason"].startswith(f"drift_monitor {triggered_on[0]}")
    assert conf["drift_summary"]["drifted_columns"] and conf["monitoring_run_id"]
    assert conf["window_end"] == (day(triggered_on[0]) + dt.timedelta(days=1)).isoformat()
    summary = lake.read_json(f"reports/drift/{cfg.dataset.name}/ds={triggered_on[0]}/summary.json")
    assert summary["triggered"] is True and "channel" in summary["drifted_columns"]
    assert lake.storage.exists(f"reports/drift/{cfg.dataset.name}/ds={triggered_on[0]}/report.html")
    # seven logical days later the cooldown is over; the champion never changed, so drift persists
    later = day(triggered_on[0]) + dt.timedelta(days=7)
    assert xcom(drift_check(dags, later), "check_drift")["trigger"] is True
    assert len(training_runs()) == 2


def test_the_triggered_conf_is_a_valid_training_run(monitored, dags, mlflow_client):
    """What drift_monitor passes is accepted by train_and_promote's params and retrains on the right window."""
    for offset in range(4):
        run = drift_check(dags, SHIFT + dt.timedelta(days=offset))
        if xcom(run, "check_drift")["trigger"]:
            break
    ((_, _, conf),) = training_runs()
    retrain = train(dags, day(conf["window_end"]), **{k: v for k, v in conf.items() if k != "window_end"})
    assert retrain.state == "success", task_states(retrain)
    assert xcom(retrain, "check_training_window")["window"]["end"] == conf["window_end"]
    run_id = xcom(retrain, "train_challenger")["run_id"]
    assert mlflow_client.get_run(run_id).data.tags["triggered_by_monitoring_run"] == conf["monitoring_run_id"]


def test_no_champion_skips_with_a_reason(make_config, dags):
    make_config()
    ingest(dags, day("2026-07-01"))
    run = drift_check(dags, day("2026-07-01"))
    assert run.state == "success"
    assert task_states(run)["check_drift"] == "skipped"
    assert training_runs() == []
