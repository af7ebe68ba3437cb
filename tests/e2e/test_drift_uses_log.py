"""drift_monitor reads the prediction log, end to end with dag.test(): its prediction drift moves when only the logged
scores change (curated data untouched, nothing re-scored), a window day without logged predictions is listed as
unscored and the run still succeeds, and with labels 7 days late the realized metric is computed on exactly the days
whose labels are in the lake (logged predictions joined with them, recomputed here from the lake)."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.data.lake import Lake
from include.mlops.data.outcomes import MODEL_VERSION, SCORE, key_of, read_predictions
from tests.e2e.conftest import UTC, day, ingest, lake_snapshot, run_dag, task_states, train, xcom


def drift_check(dags, ds: dt.date):
    """Run drift_monitor for the day ``ds``: the interval [ds 01:00, ds+1 01:00) of its 01:00 cron. The same ``ds``
    twice is a re-run of the same DAG run."""
    logical = dt.datetime.combine(ds + dt.timedelta(days=1), dt.time(1), tzinfo=UTC)
    return run_dag(dags, "drift_monitor", logical_date=logical, run_after=logical)


def summary_of(lake: Lake, cfg, ds: str) -> dict:
    return lake.read_json(lake.report_key("drift", cfg.dataset.name, ds, "summary.json"))


def days(first: str, last: str) -> list[str]:
    start, end = day(first), day(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


@pytest.fixture(autouse=True)
def _no_triggered_training_runs(airflow_db):
    """A drifted check triggers train_and_promote (a queued drift__<day> run): none before or after these tests."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    def clear():
        with create_session() as session:
            session.execute(delete(DagRun).where(DagRun.dag_id == "train_and_promote", DagRun.run_id.like("drift__%")))

    clear()
    yield
    clear()


# -- no label delay: prediction drift and unscored days --------------------------------------------------------------
DS = "2026-06-13"  # the checked day: window 06-11..06-13, prediction reference 06-08..06-10 (the holdout)
WINDOW = days("2026-06-11", DS)


@pytest.fixture
def scored(make_config, dags):
    cfg = make_config(
        simulator={"rows_per_day": 400},
        training={"window_days": 10, "holdout_days": 3, "min_rows": 200},
        evaluation={"floor": None},
        drift={"window_days": 3, "prediction_reference_days": 3, "exclude_columns": ["day_of_week"]},
    )
    assert set(ingest(dags, *[day("2026-06-01") + dt.timedelta(days=i) for i in range(13)]).values()) == {"success"}
    assert task_states(train(dags, day("2026-06-11")))["promote_challenger"] == "success"  # trained on 06-01..06-10
    run = run_dag(dags, "score_batch", {"start": "2026-06-08", "end": DS})  # the holdout on: out of sample
    assert xcom(run, "score")["days_scored"] == 6
    return cfg


def test_prediction_drift_moves_with_the_logged_scores_alone(scored, dags):
    cfg, lake = scored, Lake.at(scored.lake_root)
    before = xcom(drift_check(dags, day(DS)), "check_drift")
    assert before["scored_days"] == WINDOW and before["unscored_days"] == []
    assert before["prediction_drift"] is False, before  # the same model on like days: like scores
    assert before["prediction_score"] is not None
    assert summary_of(lake, cfg, DS)["prediction_score"] == before["prediction_score"]

    # the window's logged scores pushed toward 1.0, in the log only: curated data and the model stay as they were
    curated = lake_snapshot(lake, cfg.dataset.name)
    for ds in WINDOW:
        logged = lake.read_partition("predictions", cfg.dataset.name, ds)
        lake.write_partition(
            "predictions", cfg.dataset.name, ds, logged.assign(**{SCORE: 1 - (1 - logged[SCORE]) * 0.1})
        )
    run = drift_check(dags, day(DS))
    assert task_states(run)["check_drift"] == "success"
    after = xcom(run, "check_drift")
    assert lake_snapshot(lake, cfg.dataset.name) == curated
    assert after["prediction_drift"] is True, after
    assert after["prediction_score"] > before["prediction_score"] + 0.5  # Wasserstein (normed): a clear margin
    assert "prediction drift" in after["reason"]
    assert after["drift_share"] == before["drift_share"]  # the features are the same data: the same verdict
    written = summary_of(lake, cfg, DS)  # the re-run replaced the day's summary
    assert written["prediction_drift"] is True and written["prediction_score"] == after["prediction_score"]
    assert lake.storage.exists(lake.report_key("drift", cfg.dataset.name, DS, "prediction_report.html"))


def test_an_unscored_window_day_is_reported_and_the_check_still_succeeds(scored, dags):
    cfg, lake = scored, Lake.at(scored.lake_root)
    lake.delete_partition("predictions", cfg.dataset.name, "2026-06-12")
    run = drift_check(dags, day(DS))
    assert run.state == "success" and task_states(run)["check_drift"] == "success", task_states(run)
    summary = xcom(run, "check_drift")
    assert summary["unscored_days"] == ["2026-06-12"]
    assert summary["scored_days"] == ["2026-06-11", "2026-06-13"]
    assert summary["prediction_drift"] is not None  # two logged days still give a signal
    # the realized metric (labels in the curated batch: no delay) has no predictions for that day either
    assert summary["labelled_days"] == ["2026-06-08", "2026-06-09", "2026-06-10", "2026-06-11", "2026-06-13"]
    assert sorted(summary["realized_per_day"]) == summary["labelled_days"]
    written = summary_of(lake, cfg, DS)
    assert written["unscored_days"] == ["2026-06-12"] and written["labelled_days"] == summary["labelled_days"]


# -- labels 7 days late: the realized metric ------------------------------------------------------------------------
DELAY = 7
LATE_DS = "2026-03-18"  # window_end 03-19: labels matured through 03-11; performance window 03-05..03-11
LATE_LABELS = "2026-03-08"  # a matured day whose labels the test takes out of the lake (late beyond the delay)


def test_with_late_labels_the_realized_metric_uses_exactly_the_days_whose_labels_are_in(
    make_config, dags, mlflow_client
):
    import pandas as pd
    from sklearn.metrics import average_precision_score

    from include.mlops.model.registry import champion_version

    cfg = make_config(
        dataset={"key_column": "transaction_id", "label_delay_days": DELAY},
        simulator={"rows_per_day": 400},
        training={"window_days": 6, "holdout_days": 2, "min_rows": 200},
        evaluation={"floor": None},
        drift={"window_days": 3, "prediction_reference_days": 3, "exclude_columns": ["day_of_week"]},
    )
    assert cfg.evaluation.primary_metric == "average_precision"
    lake, name = Lake.at(cfg.lake_root), cfg.dataset.name
    assert set(ingest(dags, *map(day, days("2026-03-01", LATE_DS))).values()) == {"success"}
    trained = train(dags, day("2026-03-14"))  # labels matured through 03-06: trained on 03-01..03-06
    assert task_states(trained)["promote_challenger"] == "success", task_states(trained)
    assert xcom(run_dag(dags, "score_batch", {"start": "2026-03-05", "end": LATE_DS}), "score")["days_scored"] == 14
    late = lake.read_partition("labels", name, LATE_LABELS)
    lake.delete_partition("labels", name, LATE_LABELS)

    summary = xcom(drift_check(dags, day(LATE_DS)), "check_drift")
    version = champion_version(mlflow_client, cfg.model.name)
    assert summary["champion_version"] == version
    expected_labelled = ["2026-03-05", "2026-03-06", "2026-03-07", "2026-03-09", "2026-03-10", "2026-03-11"]
    expected_unlabelled = [LATE_LABELS, *days("2026-03-12", LATE_DS)]  # late, then not matured yet
    assert summary["labelled_days"] == expected_labelled
    assert summary["unlabelled_days"] == expected_unlabelled
    # ... which is what the lake holds: scored days of the performance window with a labels partition
    labels_in, scored_in = set(lake.list_partitions("labels", name)), set(lake.list_partitions("predictions", name))
    window = days("2026-03-05", "2026-03-11")
    assert summary["labelled_days"] == [d for d in window if d in labels_in and d in scored_in]
    assert summary["unlabelled_days"] == sorted(
        d for d in scored_in if d >= window[0] and (d > window[-1] or d not in labels_in)
    )

    # the realized metric, recomputed from the lake: the champion's logged scores joined with the labels by key
    key, target = key_of(cfg), cfg.dataset.target
    joined = {}
    for d in expected_labelled:
        logged = read_predictions(lake, cfg, d, columns=[key, SCORE, MODEL_VERSION])
        logged = logged[logged[MODEL_VERSION].astype(str) == version]
        joined[d] = logged.merge(lake.read_partition("labels", name, d, columns=[key, target]), on=key)
        assert len(joined[d]) == len(logged) > 0
    pooled = pd.concat(joined.values(), ignore_index=True)
    written = summary_of(lake, cfg, LATE_DS)
    assert written["labelled_days"] == expected_labelled and written["unlabelled_days"] == expected_unlabelled
    performance = written["performance"]
    assert performance["rows"] == len(pooled)
    assert performance["realized"] == pytest.approx(average_precision_score(pooled[target], pooled[SCORE]))
    assert summary["realized"] == performance["realized"] == performance["current"]
    assert sorted(performance["per_day"]) == expected_labelled
    for d, frame in joined.items():
        assert performance["per_day"][d] == pytest.approx(average_precision_score(frame[target], frame[SCORE]))

    # the late labels land: a re-run of the check counts that day now, and nothing else moved
    lake.write_partition("labels", name, LATE_LABELS, late)
    again = xcom(drift_check(dags, day(LATE_DS)), "check_drift")
    assert again["labelled_days"] == window
    assert again["unlabelled_days"] == days("2026-03-12", LATE_DS)
    assert sorted(again["realized_per_day"]) == window
    assert again["realized_per_day"][LATE_LABELS] is not None
    assert again["realized"] != summary["realized"]
