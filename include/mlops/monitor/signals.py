"""The day's verdict, pure: from what the drift check measured (feature drift, prediction drift, the realized
metric) and the earlier summaries to its ``MonitorResult``: which signals fired, whether to retrain, and why."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.monitor.realized import Realized, performance_verdict
from include.mlops.monitor.result import MonitorResult, PredictionDrift
from include.mlops.monitor.statistics import DriftResult
from include.mlops.monitor.trigger import decide_trigger, degraded_days

if TYPE_CHECKING:
    from include.mlops.core.config import PipelineConfig


@dataclass(frozen=True)
class Measured:
    """Everything the daily check read and computed before its verdict, for the champion ``champion_version``."""

    ds: dt.date
    window: dict[str, str]
    champion_version: str
    features: DriftResult  # the current window's sample against the champion's training sample
    current_days: list[str]
    reference_days: list[str]
    prediction: PredictionDrift  # PredictionDrift() when drift.prediction_drift is off
    realized: Realized
    evaluation_value: float | None  # the champion's evaluation.challenger_value


def assess(
    measured: Measured,
    cfg: PipelineConfig,
    *,
    history: dict[str, dict[str, Any]],
    training_days: list[str] | None,
    training_active: bool,
) -> MonitorResult:
    """The check's result: the measurements, the signals that fired (feature drift share at or past
    ``drift.drift_share``, prediction drift, the realized metric degraded past its tolerance) and
    ``decide_trigger``'s decision on them; ``history``: the earlier daily summaries (``history_from_lake``)."""
    features, prediction, realized = measured.features, measured.prediction, measured.realized
    performance, notes = _performance(measured, cfg)
    signals = fired_signals(features, prediction, performance, len(realized.labelled_days), cfg.drift.drift_share)
    decision = decide_trigger(
        today=measured.ds,
        drifted_today=bool(signals),
        history=history,
        cfg=cfg.drift,
        training_active=training_active,
        training_days=training_days,
        degraded_days=degraded_days(performance),
        label_delay_days=cfg.dataset.label_delay_days,
    )
    return MonitorResult(
        ds=measured.ds.isoformat(),
        model_name=cfg.model.name,
        champion_version=measured.champion_version,
        window=dict(measured.window),
        reference_days=list(measured.reference_days),
        current_days=list(measured.current_days),
        rows_reference=features.rows_reference,
        rows_current=features.rows_current,
        drift_share=features.share,
        dataset_drift=features.dataset_drift,
        drifted_columns=features.drifted_columns,
        top_columns=[asdict(c) for c in features.top(5)],
        prediction_drift=prediction.drifted,
        prediction_score=prediction.score,
        scored_days=list(prediction.scored_days),
        unscored_days=list(prediction.unscored_days),
        other_version_days=dict(prediction.other_version_days),
        prediction_reference_days=list(prediction.reference_days),
        performance=performance,
        labelled_days=list(realized.labelled_days),
        unlabelled_days=list(realized.unlabelled_days),
        notes=[*prediction.notes, *notes],
        drifted=bool(signals),
        triggered=decision.trigger,
        reason=("; ".join(signals) + " -> " if signals else "") + decision.reason,
    )


def fired_signals(
    features: DriftResult,
    prediction: PredictionDrift,
    performance: dict[str, Any] | None,
    labelled_days: int,
    drift_share: float,
) -> list[str]:
    """Each signal that fired today, in words (none: no drift)."""
    signals = []
    if features.dataset_drift:
        signals.append(
            f"{len(features.drifted_columns)} of {len(features.columns)} columns drifted "
            f"(share {features.share:.2f} >= {drift_share})"
        )
    if prediction.drifted:
        signals.append(f"prediction drift (score {prediction.score:.3f})")
    if performance and performance["degraded"]:
        p = performance
        signals.append(
            f"realized {p['metric']} {p['realized']:.4f} on {labelled_days} labelled days "
            f"vs {p['at_evaluation']:.4f} at evaluation"
        )
    return signals


def _performance(measured: Measured, cfg: PipelineConfig) -> tuple[dict[str, Any] | None, list[str]]:
    """The realized metric's verdict against the evaluation value (None: no labelled day), and why it is missing."""
    realized = measured.realized
    if not realized.labelled_days:
        return None, [
            f"realized {realized.metric}: no day of {realized.window['start']}..{realized.last_matured_day} has "
            f"both version {measured.champion_version}'s predictions and matured labels (labels arrive "
            f"{realized.label_delay_days} days late; unscored: {realized.unscored_days or 'none'}; "
            f"labels not in: {realized.unlabelled_days or 'none'})"
        ]
    performance = performance_verdict(
        realized, measured.evaluation_value, cfg.evaluation.direction, cfg.drift.performance_tolerance
    )
    notes = []
    if realized.pooled is None:
        notes.append(f"realized {realized.metric}: undefined on the labelled days (one class only?)")
    return performance, notes
