"""Shadow challengers (include.mlops.promotion.shadow): entering the shadow, the evidence in the prediction log, the
review's decisions (wait, promote, retire on a loss, a moved champion or the deadline), and rollback refusing a shadow.

The registry is a real MLflow one (the session's); versions are registered with a placeholder source, since a
review reads the logged scores and never loads a model. The prediction log and the labels are made here."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from include.mlops.core.exceptions import ConfigError, PromotionConflict, PromotionRejected
from include.mlops.data import outcomes
from include.mlops.data.lake import Lake
from include.mlops.model.registry import SHADOW, alias_version, champion_version
from include.mlops.promotion.aliases import promote, rollback_target
from include.mlops.promotion.shadow import collect, promote_or_shadow, review, start_shadow

START = dt.date(2026, 8, 10)  # the end of the shadow's training window: its first shadow day
KEY, TARGET = "transaction_id", "is_fraud"


@pytest.fixture
def setup(make_config, mlflow_client):
    cfg = make_config(
        dataset={"key_column": KEY, "label_delay_days": 7},
        evaluation={"shadow_days": 3, "shadow_max_wait_days": 12, "floor": 0.0},
    )
    name = cfg.model.name
    mlflow_client.create_registered_model(name)
    versions = [mlflow_client.create_model_version(name, source=f"file:///nowhere/{i}").version for i in range(3)]
    for v in versions:
        mlflow_client.set_model_version_tag(name, v, "evaluation.decision", "promote")
    champion, shadow, newer = (str(v) for v in versions)
    promote(mlflow_client, name, champion, None, promote_decision=True, reason="first", actor="test")
    return cfg, Lake.at(cfg.lake_root), champion, shadow, newer


def enter(client, cfg, version, champion, start=START):
    return start_shadow(
        client, cfg.model.name, version, champion, start_day=start.isoformat(), required_days=3, actor="test"
    )


def log_day(lake, cfg, day, champion, shadow, *, shadow_quality, labels=True, rows=400, seed=0):
    """One day of the prediction log scored by both, and (when ``labels``) its matured labels. The champion's
    scores are a noisy copy of the label; ``shadow_quality`` > 0 makes the shadow's less noisy, < 0 noisier."""
    rng = np.random.default_rng(seed + day.toordinal())
    y = (rng.random(rows) < 0.3).astype(int)
    keys = [f"{day}-{i}" for i in range(rows)]

    def noisy(noise):
        return np.clip(0.5 * y + 0.25 + rng.normal(0, noise, rows), 0, 1)

    frame = pd.DataFrame({KEY: keys, outcomes.SCORE: noisy(0.35), outcomes.MODEL_VERSION: champion})
    frame[outcomes.SHADOW_SCORE] = noisy(0.35 - shadow_quality)
    frame[outcomes.SHADOW_VERSION] = shadow
    lake.write_partition(outcomes.PREDICTIONS, cfg.dataset.name, day, frame)
    if labels:
        lake.write_partition(outcomes.LABELS, cfg.dataset.name, day, pd.DataFrame({KEY: keys, TARGET: y}))


def days(n, first=START):
    return [first + dt.timedelta(days=i) for i in range(n)]


def tags(client, cfg, version):
    return client.get_model_version(cfg.model.name, version).tags


def test_entering_the_shadow_moves_only_the_shadow_alias_and_a_newer_one_replaces_it(setup, mlflow_client):
    cfg, _, champion, shadow, newer = setup
    name = cfg.model.name
    started = enter(mlflow_client, cfg, shadow, champion)
    assert started.shadow_version == shadow and started.replaced is None
    assert alias_version(mlflow_client, name, SHADOW) == shadow and champion_version(mlflow_client, name) == champion
    t = tags(mlflow_client, cfg, shadow)
    assert t["shadow.status"] == "waiting" and t["shadow.champion_version"] == champion
    assert t["shadow.start_day"] == START.isoformat() and t["shadow.required_days"] == "3"
    assert enter(mlflow_client, cfg, shadow, champion).started_at == started.started_at  # a retry: no change
    replacing = enter(mlflow_client, cfg, newer, champion)
    assert replacing.replaced == shadow and alias_version(mlflow_client, name, SHADOW) == newer
    old = tags(mlflow_client, cfg, shadow)
    assert old["shadow.status"] == "replaced" and f"version {newer}" in old["shadow.reason"]


def test_entering_the_shadow_is_a_compare_and_set_and_needs_the_blessing(setup, mlflow_client):
    cfg, _, champion, shadow, newer = setup
    with pytest.raises(PromotionConflict, match=f"moved from {newer} to {champion}"):
        enter(mlflow_client, cfg, shadow, newer)  # evaluated against another champion
    mlflow_client.set_model_version_tag(cfg.model.name, newer, "evaluation.decision", "reject")
    with pytest.raises(PromotionRejected, match="no 'promote' evaluation tag"):
        enter(mlflow_client, cfg, newer, champion)
    assert alias_version(mlflow_client, cfg.model.name, SHADOW) is None


def test_promote_or_shadow_promotes_at_once_without_a_champion_or_with_shadow_days_0(setup, mlflow_client, make_config):
    cfg, _, champion, shadow, _ = setup
    ev = {
        "model_name": cfg.model.name,
        "challenger_version": shadow,
        "champion_version": champion,
        "promote": True,
        "reason": "better",
        "window_end": START.isoformat(),
    }
    assert promote_or_shadow(mlflow_client, cfg, ev, actor="t").shadow_version == shadow  # shadow_days 3
    assert champion_version(mlflow_client, cfg.model.name) == champion
    with pytest.raises(PromotionRejected, match="not promoted: worse"):
        promote_or_shadow(mlflow_client, cfg, ev | {"promote": False, "reason": "worse"}, actor="t")
    at_once = make_config(evaluation={"shadow_days": 0})
    result = promote_or_shadow(mlflow_client, at_once, ev, actor="t")
    assert result.champion_version == shadow and champion_version(mlflow_client, cfg.model.name) == shadow


def test_evidence_counts_rows_both_scored_from_the_start_day_with_matured_labels(setup, mlflow_client):
    cfg, lake, champion, shadow, newer = setup
    before = START - dt.timedelta(days=1)  # a training day: never evidence
    log_day(lake, cfg, before, champion, shadow, shadow_quality=0.2)
    for d in days(2):
        log_day(lake, cfg, d, champion, shadow, shadow_quality=0.2)
    third, fourth, fifth = days(5)[2:]
    log_day(lake, cfg, third, champion, shadow, shadow_quality=0.2, labels=False)  # labels not in yet
    log_day(lake, cfg, fourth, champion, newer, shadow_quality=0.2)  # another pair
    plain = pd.DataFrame({KEY: ["a"], outcomes.SCORE: [0.1], outcomes.MODEL_VERSION: [champion]})
    lake.write_partition(outcomes.PREDICTIONS, cfg.dataset.name, fifth, plain)  # scored without a shadow
    evidence = collect(lake, cfg, shadow, champion, START.isoformat())
    assert evidence.labelled_days == [d.isoformat() for d in days(2)]
    assert evidence.unlabelled_days == [third.isoformat()]
    assert evidence.unshadowed_days == [fourth.isoformat(), fifth.isoformat()]
    assert evidence.rows == 800 and len(evidence.shadow_scores) == len(evidence.champion_scores) == 800


def test_a_better_shadow_waits_for_its_days_then_is_promoted(setup, mlflow_client):
    cfg, lake, champion, shadow, _ = setup
    name = cfg.model.name
    enter(mlflow_client, cfg, shadow, champion)
    for d in days(2):
        log_day(lake, cfg, d, champion, shadow, shadow_quality=0.2)
    log_day(lake, cfg, days(3)[2], champion, shadow, shadow_quality=0.2, labels=False)
    waiting = review(mlflow_client, cfg, lake, actor="t")
    assert waiting.status == "waiting" and "2 of 3 labelled shadow days" in waiting.reason
    assert days(3)[2].isoformat() in waiting.reason and champion_version(mlflow_client, name) == champion
    assert tags(mlflow_client, cfg, shadow)["shadow.labelled_days"] == "2"
    log_day(lake, cfg, days(3)[2], champion, shadow, shadow_quality=0.2)  # its labels land
    done = review(mlflow_client, cfg, lake, actor="review_shadow/r1")
    assert done.status == "promoted" and done.shadow_value > done.champion_value, done.reason
    assert champion_version(mlflow_client, name) == shadow and alias_version(mlflow_client, name, SHADOW) is None
    t = tags(mlflow_client, cfg, shadow)
    assert t["shadow.status"] == "promoted" and t["promotion.previous_champion"] == champion
    assert t["promotion.promoted_by"] == "review_shadow/r1" and t["shadow.labelled_days"] == "3"
    assert float(t["shadow.shadow_value"]) == pytest.approx(done.shadow_value, abs=1e-6)
    report = lake.read_json(done.report_key)
    assert report["status"] == "promoted" and report["labelled_days"] == [d.isoformat() for d in days(3)]
    assert review(mlflow_client, cfg, lake, actor="t").status == "none"  # nothing waits any more


def test_a_worse_shadow_is_retired_with_the_policy_reason(setup, mlflow_client):
    cfg, lake, champion, shadow, _ = setup
    enter(mlflow_client, cfg, shadow, champion)
    for d in days(3):
        log_day(lake, cfg, d, champion, shadow, shadow_quality=-0.3)
    result = review(mlflow_client, cfg, lake, actor="t")
    assert result.status == "retired" and "is worse than champion" in result.reason
    assert champion_version(mlflow_client, cfg.model.name) == champion
    assert alias_version(mlflow_client, cfg.model.name, SHADOW) is None
    t = tags(mlflow_client, cfg, shadow)
    assert t["shadow.status"] == "retired" and "worse" in t["shadow.reason"] and "promotion.promoted_at" not in t


def test_a_champion_that_moved_retires_the_shadow(setup, mlflow_client):
    cfg, lake, champion, shadow, newer = setup
    enter(mlflow_client, cfg, shadow, champion)
    promote(mlflow_client, cfg.model.name, newer, champion, promote_decision=True, reason="r", actor="other")
    for d in days(3):
        log_day(lake, cfg, d, champion, shadow, shadow_quality=0.2)
    result = review(mlflow_client, cfg, lake, actor="t")
    assert result.status == "retired" and f"moved from {champion} to {newer}" in result.reason
    assert champion_version(mlflow_client, cfg.model.name) == newer


def test_a_shadow_short_of_its_days_past_the_deadline_is_retired(setup, mlflow_client):
    cfg, lake, champion, shadow, _ = setup
    enter(mlflow_client, cfg, shadow, champion)
    log_day(lake, cfg, START, champion, shadow, shadow_quality=0.2)
    assert review(mlflow_client, cfg, lake, actor="t", as_of=START + dt.timedelta(days=10)).status == "waiting"
    late = review(mlflow_client, cfg, lake, actor="t", as_of=START + dt.timedelta(days=11))  # day 12 of 12
    assert late.status == "retired" and "shadow_max_wait_days=12" in late.reason
    assert "1 of 3 labelled shadow days" in late.reason


def test_one_class_evidence_decides_nothing(setup, mlflow_client):
    cfg, lake, champion, shadow, _ = setup
    enter(mlflow_client, cfg, shadow, champion)
    for d in days(3):
        keys = [f"{d}-{i}" for i in range(50)]
        frame = pd.DataFrame({KEY: keys, outcomes.SCORE: 0.2, outcomes.MODEL_VERSION: champion})
        frame[outcomes.SHADOW_SCORE], frame[outcomes.SHADOW_VERSION] = 0.1, shadow
        lake.write_partition(outcomes.PREDICTIONS, cfg.dataset.name, d, frame)
        lake.write_partition(outcomes.LABELS, cfg.dataset.name, d, pd.DataFrame({KEY: keys, TARGET: 0}))
    result = review(mlflow_client, cfg, lake, actor="t")
    assert result.status == "waiting" and "not a number" in result.reason
    assert champion_version(mlflow_client, cfg.model.name) == champion


def test_rollback_refuses_a_shadow_that_never_served(setup, mlflow_client):
    cfg, _, champion, shadow, newer = setup
    name = cfg.model.name
    enter(mlflow_client, cfg, shadow, champion)
    promote(mlflow_client, name, newer, champion, promote_decision=True, reason="r", actor="other")
    with pytest.raises(PromotionRejected, match="shadow challenger that never served"):
        rollback_target(mlflow_client, name, shadow)
    assert rollback_target(mlflow_client, name, champion) == (newer, champion)  # a former champion is fine


def test_the_deadline_must_leave_room_for_the_days_and_the_label_delay(make_config):
    with pytest.raises(ConfigError, match="shadow_max_wait_days` \\(9\\) is shorter"):
        make_config(
            dataset={"key_column": KEY, "label_delay_days": 7},
            evaluation={"shadow_days": 3, "shadow_max_wait_days": 9},
        )
