"""The champion's logged predictions: the scores it logged on some days (``logged_scores``, the prediction-drift
samples) and its realized metric once their labels matured (``realized_metric``), against its evaluation value
(``performance_verdict``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from include.mlops.core.config import PipelineConfig
from include.mlops.data.lake import Lake


def days_between(start: dt.date, end: dt.date) -> list[str]:
    """ISO days from ``start`` (inclusive) to ``end`` (exclusive)."""
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days)]


@dataclass(frozen=True)
class LoggedScores:
    """The logged ``score`` of ``version`` on some days, and what the log said about the others."""

    scores: Any  # numpy array, seeded sample of at most the cap
    days: list[str]  # days scored by the version
    unscored_days: list[str]  # days without a prediction partition
    other_version_days: dict[str, list[str]]  # day -> the versions that scored it instead


def logged_scores(
    lake: Lake, cfg: PipelineConfig, days: list[str], version: str, cap: int, seed: int, logged: set[str] | None = None
) -> LoggedScores:
    """The scores ``version`` logged on ``days`` (rows of other versions are left out), read one partition at
    a time, columns ``score`` and ``model_version`` only; a seeded sample of at most ``cap`` scores.
    ``logged``: the days with a prediction partition (one listing), read from the lake when None."""
    import numpy as np

    from include.mlops.data import outcomes

    if logged is None:
        logged = set(lake.list_partitions(outcomes.PREDICTIONS, cfg.dataset.name))
    parts, scored, unscored, other = [], [], [], {}
    for d in days:
        if d not in logged:
            unscored.append(d)
            continue
        frame = outcomes.read_predictions(lake, cfg, d, columns=[outcomes.SCORE, outcomes.MODEL_VERSION])
        versions = frame[outcomes.MODEL_VERSION].astype(str)
        mine = frame.loc[versions == str(version), outcomes.SCORE].to_numpy(dtype="float64")
        if len(mine):
            scored.append(d)
            parts.append(mine)
        if len(mine) < len(frame):
            other[d] = sorted(set(versions[versions != str(version)]))
    scores = np.concatenate(parts) if parts else np.empty(0)
    if len(scores) > cap:
        scores = np.random.default_rng(seed).choice(scores, size=cap, replace=False)
    return LoggedScores(scores, scored, unscored, other)


@dataclass(frozen=True)
class Realized:
    """The champion's realized primary metric: its logged predictions joined with matured labels."""

    metric: str
    window: dict[str, str]  # the performance window: the matured days [start, end)
    per_day: dict[str, dict[str, Any]]  # labelled day -> {value, rows, unlabelled_rows}
    pooled: float | None  # over every labelled day's rows together
    rows: int
    labelled_days: list[str]
    unlabelled_days: list[str]  # scored by the champion, labels not in (yet)
    unscored_days: list[str]  # matured days of the window the champion did not score
    last_matured_day: str
    label_delay_days: int


def realized_metric(
    lake: Lake, cfg: PipelineConfig, version: str, window_end: dt.date, logged: set[str] | None = None
) -> Realized:
    """The champion's primary metric on the ``drift.performance_window_days`` newest days whose labels have
    matured by ``window_end`` (exclusive): day + ``dataset.label_delay_days`` < window_end. Per day, and pooled
    over the rows of all those days. A day counts when ``version`` scored it and its labels are in the lake;
    the champion-scored days up to the window end whose labels are not in (not matured yet, or late) are
    ``unlabelled_days``. Metrics at the evaluation's threshold (``compute_metrics``' default), so the value is
    comparable with the champion's ``evaluation.challenger_value``."""
    import numpy as np
    import pandas as pd

    from include.mlops.data import outcomes
    from include.mlops.model.metrics import compute_metrics

    ds_cfg, metric, task = cfg.dataset, cfg.evaluation.primary_metric, cfg.dataset.task
    key, target = outcomes.key_of(cfg), ds_cfg.target
    last = outcomes.last_matured_day(window_end, ds_cfg.label_delay_days)
    start = last - dt.timedelta(days=cfg.drift.performance_window_days - 1)
    if logged is None:
        logged = set(lake.list_partitions(outcomes.PREDICTIONS, ds_cfg.name))
    per_day: dict[str, dict[str, Any]] = {}
    labelled, unlabelled, unscored, pooled_y, pooled_s = [], [], [], [], []
    for d in days_between(start, window_end):
        matured = outcomes.matured(dt.date.fromisoformat(d), window_end, ds_cfg.label_delay_days)
        if d not in logged:
            if matured:
                unscored.append(d)
            continue
        columns = [key, outcomes.SCORE, outcomes.MODEL_VERSION] if matured else [outcomes.MODEL_VERSION]
        frame = outcomes.read_predictions(lake, cfg, d, columns=columns)
        frame = frame[frame[outcomes.MODEL_VERSION].astype(str) == str(version)]
        if frame.empty:
            if matured:
                unscored.append(d)
            continue
        labels = outcomes.read_labels(lake, cfg, d) if matured else None
        if labels is None:
            unlabelled.append(d)
            continue
        joined, missing = outcomes.join_labels(frame[[key, outcomes.SCORE]], labels, key, target)
        if joined.empty:
            unlabelled.append(d)
            continue
        y, s = joined[target].to_numpy(), joined[outcomes.SCORE].to_numpy(dtype="float64")
        value = compute_metrics(task, y, s)[metric]
        per_day[d] = {"value": value, "rows": len(joined), "unlabelled_rows": missing}
        labelled.append(d)
        pooled_y.append(pd.Series(y))
        pooled_s.append(s)
    pooled = None
    if labelled:
        y_all, s_all = pd.concat(pooled_y, ignore_index=True).to_numpy(), np.concatenate(pooled_s)
        value = compute_metrics(task, y_all, s_all)[metric]
        pooled = value if math.isfinite(value) else None
    return Realized(
        metric=metric,
        window={"start": start.isoformat(), "end": (last + dt.timedelta(days=1)).isoformat()},
        per_day=per_day,
        pooled=pooled,
        rows=sum(p["rows"] for p in per_day.values()),
        labelled_days=labelled,
        unlabelled_days=unlabelled,
        unscored_days=unscored,
        last_matured_day=last.isoformat(),
        label_delay_days=ds_cfg.label_delay_days,
    )


def performance_verdict(
    realized: Realized, at_evaluation: float | None, direction: str, tolerance: float | None
) -> dict[str, Any]:
    """The realized metric against the value at evaluation: ``degraded`` when worse by more than ``tolerance``."""
    value = realized.pooled
    drop = None
    if value is not None and at_evaluation is not None:
        drop = (at_evaluation - value) if direction == "maximize" else (value - at_evaluation)
    return {
        "metric": realized.metric,
        "current": value,  # the pooled realized value (the name health and older summaries read)
        "realized": value,
        "per_day": {d: p["value"] for d, p in realized.per_day.items()},
        "rows": realized.rows,
        "window": realized.window,
        "at_evaluation": at_evaluation,
        "drop": drop,
        "tolerance": tolerance,
        "degraded": bool(tolerance is not None and drop is not None and math.isfinite(drop) and drop > tolerance),
    }
