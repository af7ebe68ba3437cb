"""The drift trigger waits for labelled days of the change (``drift.min_drifted_training_days``).

Feature drift is seen on the day the data changes; with labels N days late a retrain triggered then trains on the
old regime only and loses to the champion on its holdout. The trigger waits until the retrain's training days (labels
matured, before its holdout) hold enough days the monitor flagged, or labelled days whose realized metric degraded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types

from include.mlops.core.config import DriftConfig
from include.mlops.monitor.realized import days_between
from include.mlops.monitor.trigger import (
    decide_trigger,
    degraded_days,
    min_drifted_training_days,
    retrain_training_days,
)

SHIFT = dt.date(2026, 10, 1)


def drift_cfg(needed: int | None, **kw) -> types.SimpleNamespace:
    """A DriftConfig with ``min_drifted_training_days`` (what decide_trigger reads), whether or not the config model
    has the field yet."""
    base = dataclasses.asdict(DriftConfig(**kw))
    return types.SimpleNamespace(**{**base, "min_drifted_training_days": needed})


def day(offset: int) -> str:
    return (SHIFT + dt.timedelta(days=offset)).isoformat()


def test_a_retrain_whose_training_days_hold_no_drifted_day_waits_with_the_reason():
    history = {day(i): {"drifted": True} for i in range(0, 8)}  # drift from the shift on
    training = days_between(dt.date(2026, 9, 21), SHIFT)  # labels in only up to the day before the shift
    decision = decide_trigger(
        today=SHIFT + dt.timedelta(days=8),
        drifted_today=True,
        history=history,
        cfg=drift_cfg(1),
        training_active=False,
        training_days=training,
    )
    assert decision.trigger is False
    assert "waiting for labels" in decision.reason and "2026-09-21..2026-09-30" in decision.reason
    assert "needs 1 (drift.min_drifted_training_days)" in decision.reason


def test_it_fires_once_enough_drifted_days_are_in_the_training_days():
    history = {day(i): {"drifted": True} for i in range(0, 9)}
    today = SHIFT + dt.timedelta(days=9)

    def decide(needed: int, last_training_day: dt.date):
        return decide_trigger(
            today=today,
            drifted_today=True,
            history=history,
            cfg=drift_cfg(needed),
            training_active=False,
            training_days=days_between(last_training_day - dt.timedelta(days=8), last_training_day + dt.timedelta(1)),
        )

    assert decide(1, SHIFT).trigger is True
    assert (
        decide(2, SHIFT).trigger is False
        and "holds 1 drifted or degraded day(s) (2026-10-01)" in decide(2, SHIFT).reason
    )
    assert decide(2, SHIFT + dt.timedelta(days=1)).trigger is True


def test_days_not_flagged_do_not_count_and_a_gap_does_not_reset_the_count():
    history = {day(0): {"drifted": True}, day(1): {"drifted": False}, day(2): {"drifted": True}}
    training = [day(i) for i in range(-3, 3)]
    decision = decide_trigger(
        today=SHIFT + dt.timedelta(days=10),
        drifted_today=True,
        history=history,
        cfg=drift_cfg(2),
        training_active=False,
        training_days=training,
    )
    assert decision.trigger is True
    three = decide_trigger(
        today=SHIFT + dt.timedelta(days=10),
        drifted_today=True,
        history=history,
        cfg=drift_cfg(3),
        training_active=False,
        training_days=training,
    )
    assert three.trigger is False and "(2026-10-01, 2026-10-03)" in three.reason


def test_labelled_days_whose_realized_metric_degraded_count_as_changed():
    """Concept drift without feature drift: the monitor flags the day it sees the labels, not the labelled day; the
    degraded labelled days themselves are the evidence in the training days."""
    training = [day(i) for i in range(-6, 2)]
    common = dict(today=SHIFT + dt.timedelta(days=9), drifted_today=True, history={}, cfg=drift_cfg(1))
    assert decide_trigger(**common, training_active=False, training_days=training).trigger is False
    decision = decide_trigger(
        **common, training_active=False, training_days=training, degraded_days=frozenset({day(1)})
    )
    assert decision.trigger is True


def test_off_or_without_training_days_it_does_not_wait():
    args = dict(today=SHIFT, drifted_today=True, history={}, training_active=False)
    assert decide_trigger(**args, cfg=drift_cfg(0), training_days=[day(-5)]).trigger is True
    assert decide_trigger(**args, cfg=drift_cfg(2), training_days=None).trigger is True


def test_unset_it_waits_for_one_changed_day_only_when_labels_are_late():
    args = dict(today=SHIFT, drifted_today=True, history={}, training_active=False, training_days=[day(-5)])
    unset = drift_cfg(None)
    assert decide_trigger(**args, cfg=unset, label_delay_days=0).trigger is True
    late = decide_trigger(**args, cfg=unset, label_delay_days=7)
    assert late.trigger is False and "needs 1" in late.reason
    assert min_drifted_training_days(unset, 7) == 1 and min_drifted_training_days(unset, 0) == 0
    assert min_drifted_training_days(drift_cfg(0), 7) == 0 and min_drifted_training_days(drift_cfg(3), 0) == 3


def test_waiting_costs_no_cooldown_and_the_schedule_follows_the_labels():
    """Drift every day from the shift, labels 7 days late, a retrain on the 10 matured days before a 1-day holdout,
    cooldown 4: the first retrain is the first day its training days hold the shift day, then every 4 days."""
    cfg = drift_cfg(1, cooldown_days=4)
    history: dict[str, dict] = {}
    fired = []
    for i in range(-2, 19):
        today = SHIFT + dt.timedelta(days=i)
        last_matured = today - dt.timedelta(days=7)
        training = days_between(last_matured - dt.timedelta(days=9), last_matured)  # before the 1-day holdout
        drifted = i >= 0
        decision = decide_trigger(
            today=today, drifted_today=drifted, history=history, cfg=cfg, training_active=False, training_days=training
        )
        history[today.isoformat()] = {"drifted": drifted, "triggered": decision.trigger}
        if decision.trigger:
            fired.append(today.isoformat())
    assert fired == ["2026-10-09", "2026-10-13", "2026-10-17"]


def test_the_retrain_training_days_are_the_matured_days_before_its_holdout(make_config):
    cfg = make_config(
        dataset={"label_delay_days": 7, "key_column": "transaction_id"},
        drift={"retrain_window_days": 10, "retrain_holdout_days": 1},
    )
    days = retrain_training_days(cfg, dt.date(2026, 10, 10))  # the check of 10-09: labels in through 10-02
    assert days == days_between(dt.date(2026, 9, 23), dt.date(2026, 10, 2))
    cfg = make_config(
        dataset={"label_delay_days": 0}, drift={"retrain_window_days": None, "retrain_holdout_days": None}
    )
    assert retrain_training_days(cfg, dt.date(2026, 10, 10)) == days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 7))


def test_degraded_days_are_the_labelled_days_past_the_tolerance():
    performance = {
        "metric": "average_precision",
        "degraded": True,
        "at_evaluation": 0.40,
        "tolerance": 0.05,
        "per_day": {day(0): 0.30, day(1): 0.36, day(2): None, day(3): float("nan")},
    }
    assert degraded_days(performance) == {day(0)}
    assert degraded_days({**performance, "degraded": False}) == frozenset()
    assert degraded_days(None) == frozenset()
    rmse = {**performance, "metric": "rmse", "per_day": {day(0): 0.30, day(1): 0.50}}
    assert degraded_days(rmse) == {day(1)}
