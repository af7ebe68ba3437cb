"""ScoreBatchOperator and ``days_to_score``: which days a run scores, and how each way of failing ends the task.

``execute()`` is called directly (no DAG, no DB) against a real lake in tmp_path and the session's SQLite
MLflow store (the ``mlflow_default`` connection of the test env); nothing is patched.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops_airflow.operators.scoring import MAX_DAYS, NothingCurated, ScoreBatchOperator, days_to_score
from mlops_airflow.operators.training import ModelVersionMissing
from mlops_airflow.params import InvalidRunParams
from mlops_dev.task_context import DAY, task_context


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def asset_events(*extras: dict | None) -> dict:
    """``triggering_asset_events`` as the Task SDK hands it: asset -> its events, each with ``extra``."""
    return {"mlops_curated_batch": [SimpleNamespace(extra=extra) for extra in extras]}


# -- days_to_score ------------------------------------------------------------------------------------------
def test_params_win_over_asset_events_and_the_data_interval():
    ctx = task_context(triggering_asset_events=asset_events({"ds": "2026-03-01"}))
    days, why = days_to_score(ctx, "2026-03-10", "2026-03-12")
    assert days == [d("2026-03-10"), d("2026-03-11"), d("2026-03-12")]
    assert why == "params start..end"


@pytest.mark.parametrize(("start", "end"), [("2026-03-10", None), (None, "2026-03-10"), ("2026-03-10", "2026-03-10")])
def test_start_or_end_alone_is_that_single_day(start, end):
    ctx = task_context(triggering_asset_events=asset_events({"ds": "2026-03-01"}))
    assert days_to_score(ctx, start, end) == ([d("2026-03-10")], "params start..end")


def test_asset_events_win_over_the_data_interval_sorted_and_once_each():
    ctx = task_context(
        triggering_asset_events={
            "a": [SimpleNamespace(extra={"ds": "2026-03-02"}), SimpleNamespace(extra={"ds": "2026-03-01"})],
            "b": [SimpleNamespace(extra={"ds": "2026-03-02", "rows": 10})],
        }
    )
    assert days_to_score(ctx, None, None) == ([d("2026-03-01"), d("2026-03-02")], "the curated-batch asset events")


def test_events_without_a_day_fall_back_to_the_data_interval_then_run_after():
    ctx = task_context(triggering_asset_events=asset_events(None, {}, {"rows": 3}))
    assert days_to_score(ctx, None, None) == ([DAY], "the run's data interval")
    assert days_to_score(task_context(), None, None) == ([DAY], "the run's data interval")
    # a REST trigger with logical_date null: the day before run_after (2026-05-02)
    assert days_to_score(task_context(day=None), None, None) == ([d("2026-05-01")], "the run's data interval")


def test_a_range_of_max_days_is_accepted_and_one_more_is_refused():
    start = d("2026-01-01")
    days, _ = days_to_score(task_context(), start.isoformat(), (start + dt.timedelta(days=MAX_DAYS - 1)).isoformat())
    assert len(days) == MAX_DAYS == 366 and days[0] == start and days[-1] == d("2027-01-01")
    with pytest.raises(InvalidRunParams, match=r"more than 366 days; score it in several runs"):
        days_to_score(task_context(), start.isoformat(), (start + dt.timedelta(days=MAX_DAYS)).isoformat())


def test_end_before_start_is_refused():
    with pytest.raises(InvalidRunParams, match="end 2026-03-09 is before start 2026-03-10"):
        days_to_score(task_context(), "2026-03-10", "2026-03-09")


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-02-30", "2026-3-4", "20260304", 20260304, ""])
def test_a_bad_date_is_refused_without_retry(bad):
    with pytest.raises(InvalidRunParams, match="is not a date; use YYYY-MM-DD") as info:
        days_to_score(task_context(), bad, None)
    assert isinstance(info.value, AirflowFailException)
    with pytest.raises(InvalidRunParams, match="end .* is not a date"):
        days_to_score(task_context(), "2026-03-10", bad)


def test_a_bad_day_in_an_asset_event_is_refused():
    ctx = task_context(triggering_asset_events=asset_events({"ds": "2026-03-01"}, {"ds": "03/02/2026"}))
    with pytest.raises(InvalidRunParams, match="asset event ds '03/02/2026' is not a date"):
        days_to_score(ctx, None, None)


def test_a_date_outside_the_supported_range_is_refused():
    with pytest.raises(InvalidRunParams, match="start 1999-12-31 is outside 2000-01-01..2100-12-31"):
        days_to_score(task_context(), "1999-12-31", "2000-01-02")


# -- ScoreBatchOperator.execute ----------------------------------------------------------------------------
@pytest.fixture
def curated_day(make_config):
    """A config whose model has no champion yet, and DAY published to curated in its lake."""
    from include.mlops.data.ingest import ingest_day
    from include.mlops.data.lake import Lake

    cfg = make_config(simulator={"rows_per_day": 300})
    lake = Lake.at(cfg.lake_root)
    assert ingest_day(cfg, lake, DAY)["status"] == "published"
    return cfg, lake


def test_no_champion_skips_with_the_reason_and_writes_nothing(curated_day):
    cfg, lake = curated_day
    with pytest.raises(AirflowSkipException, match=f"{cfg.model.name} has no champion yet: nothing to score with"):
        ScoreBatchOperator(task_id="score").execute(task_context())
    assert lake.list_partitions("predictions", cfg.dataset.name) == []


def test_a_missing_model_version_fails_without_retry(curated_day, mlflow_client):
    cfg, lake = curated_day
    mlflow_client.create_registered_model(cfg.model.name)  # registered, but it has no version 99
    with pytest.raises(ModelVersionMissing, match=f"{cfg.model.name} has no version 99; pick an existing") as info:
        ScoreBatchOperator(task_id="score", model_version="99").execute(task_context())
    assert isinstance(info.value, AirflowFailException)  # not retried: the version will not appear
    assert lake.list_partitions("predictions", cfg.dataset.name) == []


def test_no_curated_day_fails_without_retry_naming_each_day_and_why(curated_day):
    cfg, lake = curated_day
    frame = lake.read_partition("curated", cfg.dataset.name, DAY)
    lake.write_partition("quarantine", cfg.dataset.name, DAY - dt.timedelta(days=1), frame)
    op = ScoreBatchOperator(task_id="score", start="2026-03-02", end="2026-03-03")
    with pytest.raises(NothingCurated) as info:
        op.execute(task_context())
    message = str(info.value)
    assert isinstance(info.value, AirflowFailException)
    assert message.startswith("none of the 2 day(s) asked for is curated")
    assert "2026-03-02: not ingested; run ingest_and_validate for that day first" in message
    assert "2026-03-03: quarantined (failed validation)" in message


@pytest.mark.parametrize("bad", ["abc", 3.5, 3, "0", "01", "", "1\n"])
def test_a_bad_model_version_fails_at_once(make_config, bad):
    make_config()  # an empty lake: any later step would fail differently (NothingCurated)
    with pytest.raises(InvalidRunParams, match=r"model_version .* is not a model version \(1 to 9 digits\)") as info:
        ScoreBatchOperator(task_id="score", model_version=bad).execute(task_context())
    assert isinstance(info.value, AirflowFailException)


def test_the_champion_scores_the_days_of_the_asset_events(make_config, mlflow_client, mlflow_uri):
    """The one success path: the days come from the triggering events; a day without curated data is skipped."""
    from include.mlops.data.ingest import ingest_day
    from include.mlops.data.lake import Lake
    from include.mlops.data.outcomes import MODEL_VERSION, RUN_ID, read_predictions
    from include.mlops.model.registry import CHAMPION
    from include.mlops.model.training import train_and_register
    from include.mlops.model.window import Window, assemble_window

    cfg = make_config(simulator={"rows_per_day": 300}, training={"window_days": 4, "holdout_days": 1, "min_rows": 200})
    lake = Lake.at(cfg.lake_root)
    window = Window.ending(DAY, 4, 1)
    for day in [*window.days(), DAY]:
        assert ingest_day(cfg, lake, day)["status"] == "published"
    data = assemble_window(lake, cfg, window)
    version = train_and_register(mlflow_client, cfg, data, window, "t/1", {}).version
    mlflow_client.set_registered_model_alias(cfg.model.name, CHAMPION, version)

    events = asset_events({"ds": DAY.isoformat()}, {"ds": "2026-03-05"})
    out = ScoreBatchOperator(task_id="score").execute(task_context(triggering_asset_events=events))
    json.dumps(out)  # XCom stays JSON-safe
    assert out["days"] == [DAY.isoformat()] and out["days_scored"] == 1 and out["model_version"] == version
    assert [s["ds"] for s in out["skipped"]] == ["2026-03-05"]
    logged = read_predictions(lake, cfg, DAY)
    assert out["rows"] == len(logged) == lake.partition_info("curated", cfg.dataset.name, DAY).rows
    assert set(logged[MODEL_VERSION]) == {version} and set(logged[RUN_ID]) == {"manual__1"}
