"""The decision to retrain, pure: ``decide_trigger`` (cooldown in logical days, N-of-M drifted days, no trigger
while a training run is queued or running, waiting for labelled days of the change), and what it is fed: the
days a retrain would train on and the labelled days whose realized metric already shows the change."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from include.mlops.core.config import DriftConfig, PipelineConfig, direction_of
from include.mlops.monitor.realized import days_between


@dataclass(frozen=True)
class TriggerDecision:
    trigger: bool
    reason: str


def min_drifted_training_days(cfg: DriftConfig, label_delay_days: int) -> int:
    """``drift.min_drifted_training_days``: a retrain waits until its training days hold this many changed days.
    None (the default): 1 with late labels (``dataset.label_delay_days`` > 0), else 0 (off)."""
    value = cfg.min_drifted_training_days
    if value is None:
        return 1 if label_delay_days > 0 else 0
    return int(value)


def decide_trigger(
    *,
    today: dt.date,
    drifted_today: bool,
    history: dict[str, dict[str, Any]],
    cfg: DriftConfig,
    training_active: bool,
    training_days: list[str] | None = None,
    degraded_days: frozenset[str] | set[str] = frozenset(),
    label_delay_days: int = 0,
) -> TriggerDecision:
    """Should today's drift check trigger retraining?

    ``history`` maps ISO day -> earlier daily summary (``drifted``, ``triggered``), read from the
    lake; today's own earlier summary (a re-run) is ignored.

    ``training_days``: the days the retrain would train on (its window before the holdout, labels
    matured). With ``drift.min_drifted_training_days`` = N > 0 (None: 1 when ``label_delay_days`` > 0,
    else 0) the trigger waits until at least N of
    them are *changed days*: days the monitor flagged as drifted (``history``), or labelled days whose
    realized metric is degraded today (``degraded_days``). Feature drift is seen on the day the data
    changes, its labels only ``dataset.label_delay_days`` later: a retrain before then learns the old
    regime again and loses to the champion on the holdout. Waiting costs no cooldown (nothing fired).
    """
    if not drifted_today:
        return TriggerDecision(False, "no drift today")
    window = [today - dt.timedelta(days=i) for i in range(cfg.lookback_days)]
    drifted_days = sum(1 for d in window if (d == today) or history.get(d.isoformat(), {}).get("drifted", False))
    if drifted_days < cfg.min_drifted_days:
        return TriggerDecision(
            False, f"drift on {drifted_days} of the last {cfg.lookback_days} days; needs {cfg.min_drifted_days}"
        )
    needed = min_drifted_training_days(cfg, label_delay_days)
    if needed and training_days is not None:
        changed = [
            d
            for d in training_days
            if d in degraded_days or (d != today.isoformat() and history.get(d, {}).get("drifted", False))
        ]
        if len(changed) < needed:
            span = f"{training_days[0]}..{training_days[-1]}" if training_days else "none"
            return TriggerDecision(
                False,
                f"waiting for labels: the retrain would train on {span}, which holds {len(changed)} drifted or "
                f"degraded day(s) ({', '.join(changed) or 'none'}); needs {needed} "
                "(drift.min_drifted_training_days)",
            )
    recent = sorted(
        day
        for day, summary in history.items()
        if summary.get("triggered")
        and day != today.isoformat()
        and 0 < (today - dt.date.fromisoformat(day)).days < max(cfg.cooldown_days, 1)
    )
    if cfg.cooldown_days and recent:
        until = dt.date.fromisoformat(recent[-1]) + dt.timedelta(days=cfg.cooldown_days)
        return TriggerDecision(False, f"in cooldown: retraining was triggered on {recent[-1]} (until {until})")
    if training_active:
        return TriggerDecision(False, "a train_and_promote run is already queued or running")
    return TriggerDecision(True, f"drift on {drifted_days} of the last {cfg.lookback_days} days")


def retrain_training_days(cfg: PipelineConfig, window_end: dt.date) -> list[str] | None:
    """The days a retrain triggered for ``window_end`` would train on (``resolve_window`` with the retrain's
    window and holdout: matured labels, before the holdout); None when the window is invalid (the retrain
    itself reports that)."""
    from include.mlops.core.exceptions import WindowInvalid
    from include.mlops.model.window import resolve_window

    try:
        window = resolve_window(window_end, cfg.drift.retrain_window_days, cfg.drift.retrain_holdout_days, cfg)
    except WindowInvalid:
        return None
    return days_between(window.start, window.holdout_start)


def degraded_days(performance: dict[str, Any] | None) -> frozenset[str]:
    """Labelled days whose realized metric is worse than at evaluation by more than the tolerance (when the
    pooled verdict is degraded): the days whose labels already show the change."""
    if not performance or not performance.get("degraded"):
        return frozenset()
    at, tolerance = performance.get("at_evaluation"), performance.get("tolerance") or 0.0
    if at is None:
        return frozenset()
    sign = 1 if direction_of(performance["metric"]) == "maximize" else -1
    return frozenset(
        d
        for d, v in (performance.get("per_day") or {}).items()
        if v is not None and math.isfinite(v) and sign * (at - v) > tolerance
    )


def history_days(cfg: PipelineConfig, today: dt.date, training_days: list[str] | None) -> int:
    """How many days of earlier summaries ``decide_trigger`` reads: its cooldown and look-back, and back to the
    first day a retrain would train on while it waits for labelled days of the change."""
    dcfg = cfg.drift
    days = max(dcfg.cooldown_days, dcfg.lookback_days)
    if training_days and min_drifted_training_days(dcfg, cfg.dataset.label_delay_days):
        days = max(days, (today - dt.date.fromisoformat(training_days[0])).days)
    return days
