"""drift_monitor on the prediction log: the realized metric (predictions joined with matured labels, per day and
pooled), the prediction-drift reference (the champion's own logged scores before the window), days without
predictions, and feature drift when the curated batch has no target (labels arrive late). Data made here."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from include.mlops.data import outcomes
from include.mlops.data.lake import Lake
from include.mlops.data.sampling import read_sampled
from include.mlops.monitor import drift
from include.mlops.monitor.realized import Realized, performance_verdict, realized_metric
from include.mlops.monitor.reporting import render_performance
from include.mlops.monitor.result import MonitorResult

D = dt.date(2026, 5, 1)
NAME = "transactions"


def iso(offset: int) -> str:
    return (D + dt.timedelta(days=offset)).isoformat()


def _day(offset: int, rows: int = 400, *, shift: float = 0.0, seed: int | None = None) -> pd.DataFrame:
    """A curated-like day: key, one feature, a target the score predicts (better when shift is 0)."""
    rng = np.random.default_rng(1000 + offset if seed is None else seed)
    y = (rng.random(rows) < 0.2).astype(int)
    score = np.clip(0.15 + 0.5 * y + rng.normal(0, 0.2 + shift, rows) + shift, 0, 1)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{offset}-{i}" for i in range(rows)],
            "amount": rng.gamma(2.0, 30.0, rows) * (1 + shift),
            "is_fraud": y,
            "_score": score,
        }
    )


def _log(lake: Lake, offset: int, frame: pd.DataFrame, version: str, key: str = "transaction_id") -> None:
    """A prediction partition as score_batch writes it (rows shuffled: the join must go by key)."""
    keys = frame[key] if key in frame.columns else pd.Series(range(len(frame)))
    log = pd.DataFrame(
        {
            key: keys,
            outcomes.SCORE: frame["_score"],
            outcomes.PREDICTED_CLASS: (frame["_score"] >= 0.5).astype(int),
            outcomes.MODEL_NAME: "m",
            outcomes.MODEL_VERSION: version,
            outcomes.RUN_ID: "scheduled__x",
            outcomes.SCORED_AT: "2026-05-30T00:00:00+00:00",
        }
    ).sample(frac=1.0, random_state=offset)
    lake.write_partition(outcomes.PREDICTIONS, NAME, iso(offset), log)


@pytest.fixture
def same_day_labels(make_config):
    """label_delay_days 0, no key column: the labels are the curated batch's own target, keyed by row position."""
    cfg = make_config(dataset={"name": NAME}, drift={"performance_window_days": 4})
    return cfg, Lake.at(cfg.lake_root)


@pytest.fixture
def late_labels(make_config):
    cfg = make_config(
        dataset={"name": NAME, "key_column": "transaction_id", "label_delay_days": 3},
        drift={"performance_window_days": 3},
    )
    return cfg, Lake.at(cfg.lake_root)


def test_realized_metric_per_day_and_pooled_joins_by_key(same_day_labels):
    cfg, lake = same_day_labels
    frames = {o: _day(o, shift=0.3 if o == 3 else 0.0) for o in range(4)}
    for o, frame in frames.items():
        lake.write_partition("curated", NAME, iso(o), frame.drop(columns=["_score", "transaction_id"]))
    for o in (0, 1, 3):
        _log(lake, o, frames[o].drop(columns=["transaction_id"]), "7", key=outcomes.ROW_ID)
    _log(lake, 2, frames[2].drop(columns=["transaction_id"]), "6", key=outcomes.ROW_ID)  # the previous champion

    realized = realized_metric(lake, cfg, "7", D + dt.timedelta(days=4))

    assert realized.labelled_days == [iso(0), iso(1), iso(3)]
    assert realized.unscored_days == [iso(2)] and realized.unlabelled_days == []
    assert realized.window == {"start": iso(0), "end": iso(4)} and realized.last_matured_day == iso(3)
    for o in (0, 1, 3):
        expected = average_precision_score(frames[o]["is_fraud"], frames[o]["_score"])
        assert realized.per_day[iso(o)]["value"] == pytest.approx(expected)
        assert realized.per_day[iso(o)]["rows"] == 400
    pooled = pd.concat([frames[o] for o in (0, 1, 3)])
    assert realized.pooled == pytest.approx(average_precision_score(pooled["is_fraud"], pooled["_score"]))
    assert realized.per_day[iso(3)]["value"] < realized.per_day[iso(0)]["value"]  # the shifted day is worse
    assert realized.rows == 1200


def test_with_late_labels_only_matured_days_with_labels_count(late_labels):
    cfg, lake = late_labels
    frames = {o: _day(o) for o in range(8)}
    for o, frame in frames.items():  # the curated batch has no target; the labels zone has (key, target)
        lake.write_partition("curated", NAME, iso(o), frame.drop(columns=["_score", "is_fraud"]))
        _log(lake, o, frame, "2")
    for o in (3, 5, 7):  # day 4's labels are late; 6 and 7 have not matured by the end (delay 3)
        labels = frames[o][["transaction_id", "is_fraud"]]
        lake.write_partition(outcomes.LABELS, NAME, iso(o), labels.iloc[: 300 if o == 5 else None])
    end = D + dt.timedelta(days=9)  # matured: day + 3 < day 9, i.e. days <= 5

    realized = realized_metric(lake, cfg, "2", end)

    assert realized.last_matured_day == iso(5) and realized.window == {"start": iso(3), "end": iso(6)}
    assert realized.labelled_days == [iso(3), iso(5)]
    assert realized.unlabelled_days == [iso(4), iso(6), iso(7)]  # late, and not matured yet
    assert realized.unscored_days == []
    assert iso(7) not in realized.per_day  # labels are in the lake, but not matured by the window end
    assert realized.per_day[iso(5)] | {"value": None} == {"value": None, "rows": 300, "unlabelled_rows": 100}
    five = frames[5].iloc[:300]
    assert realized.per_day[iso(5)]["value"] == pytest.approx(average_precision_score(five["is_fraud"], five["_score"]))
    assert realized.label_delay_days == 3


def test_no_matured_day_yet_gives_no_realized_metric(late_labels):
    cfg, lake = late_labels
    for o in range(3):
        _log(lake, o, _day(o), "2")
    realized = realized_metric(lake, cfg, "2", D + dt.timedelta(days=3))
    assert realized.labelled_days == [] and realized.pooled is None and realized.per_day == {}
    assert realized.unlabelled_days == [iso(0), iso(1), iso(2)]


@pytest.mark.parametrize(
    ("pooled", "at_eval", "direction", "tolerance", "drop", "degraded"),
    [
        (0.40, 0.50, "maximize", 0.05, 0.10, True),
        (0.47, 0.50, "maximize", 0.05, 0.03, False),
        (0.60, 0.50, "maximize", 0.05, -0.10, False),
        (12.0, 10.0, "minimize", 1.0, 2.0, True),
        (10.5, 10.0, "minimize", 1.0, 0.5, False),
        (0.10, 0.50, "maximize", None, 0.40, False),  # tolerance off: reported, never degraded
        (0.10, None, "maximize", 0.05, None, False),  # no evaluation value on the version
        (None, 0.50, "maximize", 0.05, None, False),  # undefined on the labelled days
    ],
)
def test_performance_verdict(pooled, at_eval, direction, tolerance, drop, degraded):
    realized = Realized(
        metric="m",
        window={"start": iso(0), "end": iso(1)},
        per_day={iso(0): {"value": pooled, "rows": 10, "unlabelled_rows": 0}},
        pooled=pooled,
        rows=10,
        labelled_days=[iso(0)],
        unlabelled_days=[],
        unscored_days=[],
        last_matured_day=iso(0),
        label_delay_days=0,
    )
    verdict = performance_verdict(realized, at_eval, direction, tolerance)
    assert verdict["degraded"] is degraded
    assert verdict["drop"] == (None if drop is None else pytest.approx(drop))
    assert verdict["realized"] == verdict["current"] == pooled and verdict["per_day"] == {iso(0): pooled}


def _scores(offset: int, shift: float = 0.0) -> pd.DataFrame:
    frame = _day(offset, rows=1500)
    if shift:
        frame["_score"] = np.clip(frame["_score"] + shift, 0, 1)
    return frame


def test_prediction_drift_compares_the_window_with_the_champions_own_earlier_scores(make_config):
    cfg = make_config(dataset={"name": NAME}, drift={"window_days": 3, "prediction_reference_days": 4})
    lake = Lake.at(cfg.lake_root)
    start, end = D + dt.timedelta(days=7), D + dt.timedelta(days=10)
    for o in range(3, 7):  # the reference days: the 4 days before the window, all scored by version 5
        _log(lake, o, _scores(o), "5")
    _log(lake, 2, _scores(2, shift=0.4), "5")  # outside the look-back: not read
    for o in (7, 8, 9):
        _log(lake, o, _scores(o), "5")
    quiet = drift.prediction_drift(lake, cfg, "5", start, end)
    assert quiet.snapshot is not None
    assert quiet.drifted is False and quiet.reference_days == [iso(o) for o in range(3, 7)]
    assert quiet.scored_days == [iso(7), iso(8), iso(9)] and quiet.unscored_days == [] and not quiet.notes

    for o in (8, 9):  # the logged scores move: prediction drift, with no model loaded or re-scored
        _log(lake, o, _scores(o, shift=0.3), "5")
    moved = drift.prediction_drift(lake, cfg, "5", start, end)
    assert moved.drifted is True and moved.score > quiet.score


def test_window_days_not_scored_or_scored_by_another_version_are_listed(make_config):
    cfg = make_config(dataset={"name": NAME}, drift={"window_days": 3, "prediction_reference_days": 2})
    lake = Lake.at(cfg.lake_root)
    for o in (5, 6, 7):
        _log(lake, o, _scores(o), "5")
    _log(lake, 8, _scores(8), "4")
    # window days 7, 8, 9: 8 by version 4, 9 not scored
    result = drift.prediction_drift(lake, cfg, "5", D + dt.timedelta(days=7), D + dt.timedelta(days=10))
    assert result.scored_days == [iso(7)] and result.unscored_days == [iso(9)]
    assert result.other_version_days == {iso(8): ["4"]} and result.drifted is not None


def test_a_just_promoted_champion_has_no_prediction_drift_signal_with_the_reason(make_config):
    cfg = make_config(dataset={"name": NAME}, drift={"window_days": 2, "prediction_reference_days": 3})
    lake = Lake.at(cfg.lake_root)
    for o in (4, 5, 6):
        _log(lake, o, _scores(o), "4")  # the old champion
    for o in (7, 8):
        _log(lake, o, _scores(o, shift=0.5), "5")
    result = drift.prediction_drift(lake, cfg, "5", D + dt.timedelta(days=7), D + dt.timedelta(days=9))
    assert result.snapshot is None
    assert result.drifted is None and result.reference_days == []
    assert result.scored_days == [iso(7), iso(8)]
    assert "version 5 logged no scores on the 3 days before the window" in result.notes[0]
    assert "no prediction-drift signal today" in result.notes[0]


def test_no_predictions_in_the_window_is_no_signal_with_what_to_run(make_config):
    cfg = make_config(dataset={"name": NAME})
    lake = Lake.at(cfg.lake_root)
    _log(lake, 0, _scores(0), "5")
    result = drift.prediction_drift(lake, cfg, "5", D + dt.timedelta(days=7), D + dt.timedelta(days=10))
    assert result.snapshot is None and result.drifted is None
    assert result.unscored_days == [iso(7), iso(8), iso(9)]
    assert any("run or backfill score_batch" in n and f"{iso(7)}..{iso(9)}" in n for n in result.notes), result.notes


def test_feature_sample_without_a_target_in_curated_and_the_target_only_stratifies(tmp_path):
    lake = Lake.at(str(tmp_path))
    with_target = {o: _day(o, rows=3000).drop(columns=["_score"]) for o in range(2)}
    for o, frame in with_target.items():
        lake.write_partition("curated", "a", iso(o), frame)
        lake.write_partition("curated", "b", iso(o), frame.drop(columns=["is_fraud"]))
    days = [iso(0), iso(1)]
    stratified, _, _ = read_sampled(lake, "a", days, ["amount", "is_fraud"], 600, 11, "is_fraud")
    only_features, _, _ = read_sampled(lake, "a", days, ["amount"], 600, 11, "is_fraud")
    assert list(only_features.columns) == ["amount"]
    assert only_features.equals(stratified[["amount"]])  # stratified by the target, which is then dropped
    no_target, present, total = read_sampled(lake, "b", days, ["amount"], 600, 11, "is_fraud")
    assert list(no_target.columns) == ["amount"] and present == days and total == 6000
    assert abs(len(no_target) - 600) <= 2


def test_the_summary_and_the_conf_say_which_days_had_labels(make_config):
    result = MonitorResult(
        ds=iso(9),
        model_name="m",
        champion_version="5",
        window={"start": iso(7), "end": iso(10)},
        scored_days=[iso(7), iso(8)],
        unscored_days=[iso(9)],
        labelled_days=[iso(1), iso(2)],
        unlabelled_days=[iso(3)],
        performance={"metric": "average_precision", "realized": 0.4, "per_day": {iso(1): 0.5, iso(2): float("nan")}},
        notes=["prediction drift: ..."],
    )
    summary = result.summary(make_config().drift)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["labelled_days"] == [iso(1), iso(2)] and summary["unlabelled_days"] == [iso(3)]
    assert summary["unscored_days"] == [iso(9)] and summary["realized"] == 0.4
    assert summary["realized_per_day"] == {iso(1): 0.5, iso(2): None}
    conf = summary["conf"]["drift_summary"]
    assert conf["labelled_days"] == [iso(1), iso(2)] and conf["unscored_days"] == [iso(9)]
    assert "labelled days" in render_performance(result) and "unscored: " + iso(9) in render_performance(result)
