"""Batch scoring into the prediction log: real curated days, a real model in a tmp MLflow store."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.core.exceptions import DayNotCurated, ModelVersionNotFound, NoChampion, NothingToScore
from include.mlops.data import outcomes
from include.mlops.data.ingest import ingest_day
from include.mlops.data.lake import Lake
from include.mlops.model.registry import CHAMPION, SHADOW
from include.mlops.model.training import train_and_register
from include.mlops.model.window import Window, assemble_window
from include.mlops.promotion.aliases import promote
from include.mlops.promotion.evaluation import evaluate
from include.mlops.serve.scoring import score_day, score_days

DAYS = [dt.date(2026, 3, d) for d in range(1, 9)]
END = dt.date(2026, 3, 9)


def _trained(make_config, mlflow_client, mlflow_uri, *, versions: int = 1, promote_first: bool = True, **sections):
    cfg = make_config(
        simulator={"rows_per_day": 400}, training={"window_days": 8, "holdout_days": 3, "min_rows": 200}, **sections
    )
    lake = Lake.at(cfg.lake_root)
    for day in DAYS:
        ingest_day(cfg, lake, day)
    window = Window.ending(END, 8, 3)
    data = assemble_window(lake, cfg, window)
    vs = [train_and_register(mlflow_client, cfg, data, window, f"k/{i}", {}).version for i in range(versions)]
    if promote_first:
        ev = evaluate(mlflow_client, cfg, vs[0], data.holdout)
        promote(mlflow_client, cfg.model.name, vs[0], None, promote_decision=True, reason=ev.decision.reason, actor="t")
    return cfg, lake, vs


def test_a_day_is_scored_with_the_champion_into_the_contract_columns(make_config, mlflow_client, mlflow_uri):
    cfg, lake, (v1,) = _trained(make_config, mlflow_client, mlflow_uri, dataset={"key_column": "transaction_id"})
    day = DAYS[-1]
    result = score_day(mlflow_client, cfg, lake, day, run_id="manual__1")

    curated = lake.read_partition("curated", cfg.dataset.name, day)
    preds = outcomes.read_predictions(lake, cfg, day)
    assert result.model_version == v1 and result.shadow_version is None and result.rows == len(curated) > 0
    assert list(preds.columns) == [
        "transaction_id",
        outcomes.SCORE,
        outcomes.PREDICTED_CLASS,
        outcomes.MODEL_NAME,
        outcomes.MODEL_VERSION,
        outcomes.RUN_ID,
        outcomes.SCORED_AT,
    ]
    assert list(preds["transaction_id"]) == list(curated["transaction_id"])
    assert preds[outcomes.SCORE].between(0, 1).all() and preds[outcomes.SCORE].nunique() > 1
    assert (preds[outcomes.PREDICTED_CLASS] == (preds[outcomes.SCORE] >= 0.5).astype(int)).all()
    assert set(preds[outcomes.MODEL_VERSION]) == {v1} and set(preds[outcomes.RUN_ID]) == {"manual__1"}
    assert set(preds[outcomes.MODEL_NAME]) == {cfg.model.name}
    dt.datetime.fromisoformat(preds[outcomes.SCORED_AT].iloc[0])
    # the scores are the model's own
    from include.mlops.model.metrics import score
    from include.mlops.model.registry import load_version

    model = load_version(mlflow_client, cfg.model.name, v1)
    expected = score(model, curated, "classification")
    assert preds[outcomes.SCORE].to_numpy() == pytest.approx(expected)
    # the summary report in the lake
    summary = lake.read_json(result.report_key)
    assert result.report_key == f"reports/scoring/{cfg.dataset.name}/ds={day}/summary.json"
    assert summary["model_version"] == v1 and summary["rows"] == result.rows
    assert summary["content_hash"] == lake.partition_info("predictions", cfg.dataset.name, day).content_hash
    assert summary["mean_score"] == pytest.approx(preds[outcomes.SCORE].mean())
    assert summary["positive_rate"] == pytest.approx(preds[outcomes.PREDICTED_CLASS].mean())
    import json

    json.dumps(result.as_dict())


def test_threshold_rescoring_replaces_and_a_named_version_and_shadow(make_config, mlflow_client, mlflow_uri):
    cfg, lake, (v1, v2) = _trained(make_config, mlflow_client, mlflow_uri, versions=2, scoring={"threshold": 0.0001})
    day = DAYS[2]
    first = score_day(mlflow_client, cfg, lake, day, run_id="r1")
    preds = outcomes.read_predictions(lake, cfg, day)
    assert list(preds[outcomes.ROW_ID]) == list(range(first.rows))  # no key_column: the row position
    assert (preds[outcomes.PREDICTED_CLASS] == (preds[outcomes.SCORE] >= 0.0001).astype(int)).all()
    assert ((preds[outcomes.SCORE] >= 0.0001) & (preds[outcomes.SCORE] < 0.5)).any()  # the threshold matters here

    # a re-score with a named version replaces the partition whole: same rows, new run id and version
    lake.storage.write_bytes(f"predictions/{cfg.dataset.name}/ds={day}/stray.parquet", b"left over")
    second = score_day(mlflow_client, cfg, lake, day, run_id="r2", model_version=v2)
    again = outcomes.read_predictions(lake, cfg, day)
    assert second.rows == first.rows == len(again)
    assert set(again[outcomes.RUN_ID]) == {"r2"} and set(again[outcomes.MODEL_VERSION]) == {v2}
    assert lake.storage.list(f"predictions/{cfg.dataset.name}/ds={day}/") == [
        f"predictions/{cfg.dataset.name}/ds={day}/part-0.parquet"
    ]

    # a shadow alias adds the shadow's scores beside the champion's
    mlflow_client.set_registered_model_alias(cfg.model.name, SHADOW, v2)
    third = score_day(mlflow_client, cfg, lake, day, run_id="r3")
    shadowed = outcomes.read_predictions(lake, cfg, day)
    assert third.model_version == v1 and third.shadow_version == v2
    assert set(shadowed[outcomes.SHADOW_VERSION]) == {v2} and set(shadowed[outcomes.MODEL_VERSION]) == {v1}
    assert shadowed[outcomes.SHADOW_SCORE].between(0, 1).all()
    assert str(mlflow_client.get_model_version_by_alias(cfg.model.name, CHAMPION).version) == v1


def test_no_champion_bad_version_and_days_not_curated(make_config, mlflow_client, mlflow_uri):
    cfg, lake, (v1,) = _trained(make_config, mlflow_client, mlflow_uri, promote_first=False)
    with pytest.raises(NoChampion, match="no champion"):
        score_day(mlflow_client, cfg, lake, DAYS[0], run_id="r")
    with pytest.raises(ModelVersionNotFound, match="no version 99"):
        score_day(mlflow_client, cfg, lake, DAYS[0], run_id="r", model_version="99")
    with pytest.raises(DayNotCurated, match="not ingested") as info:
        score_day(mlflow_client, cfg, lake, dt.date(2026, 4, 1), run_id="r", model_version=v1)
    assert info.value.ds == "2026-04-01"

    # a quarantined day inside a range is skipped with the reason; the rest is scored with one version
    frame = lake.read_partition("curated", cfg.dataset.name, DAYS[1])
    lake.delete_partition("curated", cfg.dataset.name, DAYS[1])
    lake.write_partition("quarantine", cfg.dataset.name, DAYS[1], frame)
    run = score_days(mlflow_client, cfg, lake, [DAYS[0], DAYS[1], DAYS[2]], run_id="r", model_version=v1)
    assert [d.ds for d in run.scored] == [DAYS[0].isoformat(), DAYS[2].isoformat()]
    assert run.skipped == [{"ds": DAYS[1].isoformat(), "reason": pytest.approx(run.skipped[0]["reason"])}]
    assert "quarantined" in run.skipped[0]["reason"]
    assert not lake.has_partition("predictions", cfg.dataset.name, DAYS[1])
    assert run.as_dict()["days"] == [DAYS[0].isoformat(), DAYS[2].isoformat()] and run.as_dict()["model_version"] == v1
    with pytest.raises(NothingToScore, match="none of the 2 day"):
        score_days(mlflow_client, cfg, lake, [DAYS[1], dt.date(2026, 5, 1)], run_id="r", model_version=v1)
