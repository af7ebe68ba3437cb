"""score_batch with dag.test(): published days scored by the champion into the prediction log, a range re-scored
(replaced, not appended), history re-scored with a named version, no champion skipped with the reason."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.data.lake import Lake
from include.mlops.data.outcomes import MODEL_VERSION, RUN_ID, SCORE, read_predictions
from include.mlops.model.registry import champion_version
from tests.e2e.conftest import day, ingest, run_dag, task_states, train, xcom

DAYS = [day("2026-05-01") + dt.timedelta(days=i) for i in range(13)]


@pytest.fixture
def served(make_config, dags, mlflow_client):
    cfg = make_config(
        simulator={"rows_per_day": 800},
        training={"window_days": 8, "holdout_days": 3, "min_rows": 200},
        evaluation={"floor": 0.0},
    )
    assert set(ingest(dags, *DAYS).values()) == {"success"}
    assert task_states(train(dags, day("2026-05-09")))["promote_challenger"] == "success"
    return cfg


def score(dags, **conf):
    return run_dag(dags, "score_batch", conf)


def test_days_scored_with_the_champion_then_a_range_replaced(served, dags, mlflow_client):
    cfg, lake = served, Lake.at(served.lake_root)
    champion = champion_version(mlflow_client, cfg.model.name)
    first = score(dags, start="2026-05-09", end="2026-05-13")
    assert task_states(first) == {"score": "success"}
    summary = xcom(first, "score")
    assert summary["days"] == [d.isoformat() for d in DAYS[8:]] and summary["model_version"] == champion
    curated = lake.read_partition("curated", cfg.dataset.name, "2026-05-10")
    logged = read_predictions(lake, cfg, "2026-05-10")
    assert len(logged) == len(curated)
    assert set(logged[MODEL_VERSION]) == {champion} and set(logged[RUN_ID]) == {first.run_id}
    assert logged[SCORE].between(0, 1).all()

    again = score(dags, start="2026-05-10", end="2026-05-10")
    relogged = read_predictions(lake, cfg, "2026-05-10")
    assert len(relogged) == len(curated) and set(relogged[RUN_ID]) == {again.run_id}  # replaced, not appended
    assert set(read_predictions(lake, cfg, "2026-05-11")[RUN_ID]) == {first.run_id}  # other days untouched


def test_a_named_version_rescores_history_and_a_missing_day_is_skipped(served, dags, mlflow_client):
    cfg, lake = served, Lake.at(served.lake_root)
    assert task_states(train(dags, day("2026-05-12"), dry_run=True))["train_challenger"] == "success"
    newest = max(int(v.version) for v in mlflow_client.search_model_versions(f"name = '{cfg.model.name}'"))
    run = score(dags, start="2026-05-12", end="2026-05-14", model_version=str(newest))
    summary = xcom(run, "score")
    assert summary["model_version"] == str(newest) and summary["days"] == ["2026-05-12", "2026-05-13"]
    assert [s["ds"] for s in summary["skipped"]] == ["2026-05-14"]  # never ingested
    assert set(read_predictions(lake, cfg, "2026-05-12")[MODEL_VERSION]) == {str(newest)}


def test_no_champion_skips_and_nothing_curated_fails_at_once(make_config, dags):
    make_config(simulator={"rows_per_day": 300})
    ingest(dags, day("2026-04-01"))
    assert task_states(score(dags, start="2026-04-01")) == {"score": "skipped"}
    failed = score(dags, start="2030-01-01", end="2030-01-02")
    ti = failed.get_task_instance("score")
    assert ti.state == "failed" and ti.try_number == 1  # not retried: nothing to score there
