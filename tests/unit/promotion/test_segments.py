"""Segment guardrails: the primary metric per segment value, who is judged, and how a segment blocks a promotion."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from include.mlops.core.config import EvaluationConfig, Guardrail
from include.mlops.core.exceptions import DataConfigMismatch
from include.mlops.model.metrics import compute_metrics
from include.mlops.promotion.decision import MISSING_SEGMENT, SegmentCheck, decide, segment_checks, segment_values
from include.mlops.promotion.evaluation import evaluate, segments_failed_tag, segments_tag

pytestmark = pytest.mark.unit

AP = EvaluationConfig(
    primary_metric="average_precision",
    min_improvement=0.01,
    floor=0.1,
    guardrails=(Guardrail("roc_auc", 0.01),),
    segments=("region",),
    segment_min_rows=100,
    segment_min_positives=10,
    max_segment_regression=0.05,
)
RMSE = EvaluationConfig(
    primary_metric="rmse",
    min_improvement=0.0,
    floor=None,
    guardrails=(),
    segments=("plan",),
    segment_min_rows=50,
    max_segment_regression=0.5,
)


def _block(rng, n: int, positives: int, chal_good: bool, champ_good: bool):
    """``n`` rows, ``positives`` of them 1; a 'good' model ranks every positive above every negative,
    a bad one ranks them at random."""
    y = np.zeros(n, dtype="int64")
    y[:positives] = 1
    perfect = np.where(y == 1, 0.9, 0.1) + rng.uniform(-0.05, 0.05, n)
    noise = rng.uniform(0, 1, n)
    return y, (perfect if chal_good else noise), (perfect if champ_good else noise)


@pytest.fixture
def holdout():
    """region: north (challenger better), south (champion better), east (big, too few positives), tiny (few rows)."""
    rng = np.random.default_rng(7)
    parts = {
        "north": _block(rng, 400, 40, chal_good=True, champ_good=False),
        "south": _block(rng, 400, 40, chal_good=False, champ_good=True),
        "east": _block(rng, 300, 4, chal_good=False, champ_good=True),
        "tiny": _block(rng, 30, 10, chal_good=False, champ_good=True),
    }
    frames = [pd.DataFrame({"region": name, "y": y, "chal": c, "champ": k}) for name, (y, c, k) in parts.items()]
    return pd.concat(frames, ignore_index=True)


def _by_value(checks: list[SegmentCheck]) -> dict[str, SegmentCheck]:
    return {c.value: c for c in checks}


def test_segment_metrics_are_the_primary_metric_on_each_segments_rows(holdout):
    checks = segment_checks(
        "classification", holdout["y"], holdout["chal"], holdout["champ"], segment_values(holdout, ["region"]), AP
    )
    assert [c.value for c in checks] == ["east", "north", "south", "tiny"]
    for c in checks:
        rows = holdout[holdout["region"] == c.value]
        assert c.column == "region" and c.rows == len(rows) and c.positives == int(rows["y"].sum())
        assert c.challenger == pytest.approx(
            compute_metrics("classification", rows["y"], rows["chal"])["average_precision"]
        )
        assert c.champion == pytest.approx(
            compute_metrics("classification", rows["y"], rows["champ"])["average_precision"]
        )
    north, south = _by_value(checks)["north"], _by_value(checks)["south"]
    assert north.judged and north.passed and north.regression < 0  # the challenger is better there
    assert south.judged and not south.passed
    assert south.regression == pytest.approx(south.champion - south.challenger) and south.regression > 0.05


def test_small_segments_are_reported_not_judged(holdout):
    checks = _by_value(
        segment_checks(
            "classification", holdout["y"], holdout["chal"], holdout["champ"], segment_values(holdout, ["region"]), AP
        )
    )
    east, tiny = checks["east"], checks["tiny"]  # 300 rows but 4 positives; 30 rows
    for c in (east, tiny):
        assert not c.judged and c.passed and c.regression is None
        assert c.champion is not None and c.champion > c.challenger  # worse, but too small to count
    looser = EvaluationConfig(
        segments=("region",), segment_min_rows=20, segment_min_positives=4, max_segment_regression=0.05
    )
    checks = _by_value(
        segment_checks(
            "classification",
            holdout["y"],
            holdout["chal"],
            holdout["champ"],
            segment_values(holdout, ["region"]),
            looser,
        )
    )
    assert checks["east"].judged and not checks["east"].passed
    assert checks["tiny"].judged and not checks["tiny"].passed


def test_a_segment_whose_metric_is_not_a_number_is_not_judged():
    n = 200
    frame = pd.DataFrame({"tier": ["all_fraud"] * n, "y": [1] * n, "s": np.linspace(0, 1, n)})
    (check,) = segment_checks(
        "classification", frame["y"], frame["s"], frame["s"][::-1].to_numpy(), {"tier": frame["tier"]}, AP
    )
    assert check.rows == n and check.positives == n  # big enough, but one class only: AP is not a number
    assert math.isnan(check.challenger) and not check.judged and check.passed and check.regression is None


def test_minimize_metric_regression_is_direction_aware():
    rng = np.random.default_rng(3)
    y = rng.normal(100, 10, 300)
    plan = np.array(["basic"] * 150 + ["pro"] * 150)
    chal = y.copy()
    champ = y.copy()
    chal[:150] += rng.normal(0, 3.0, 150)  # basic: challenger off by ~3
    champ[:150] += rng.normal(0, 1.0, 150)  # basic: champion off by ~1
    chal[150:] += rng.normal(0, 1.0, 150)  # pro: challenger better
    champ[150:] += rng.normal(0, 3.0, 150)
    checks = _by_value(segment_checks("regression", y, chal, champ, {"plan": plan}, RMSE))
    basic, pro = checks["basic"], checks["pro"]
    assert basic.positives is None and basic.judged
    assert basic.challenger > basic.champion  # a higher rmse is worse
    assert basic.regression == pytest.approx(basic.challenger - basic.champion) and basic.regression > 0.5
    assert not basic.passed
    assert pro.regression < 0 and pro.passed
    decision = decide({"rmse": 2.0, "mae": 1.5}, {"rmse": 2.2, "mae": 1.6}, RMSE, segments=list(checks.values()))
    assert decision.promote is False and decision.improvement == pytest.approx(0.2)
    assert "segment plan=basic regressed: rmse" in decision.reason
    assert "plan=pro" not in decision.reason


def test_segment_blocks_a_challenger_whose_global_metric_improved_and_guardrails_held(holdout):
    checks = segment_checks(
        "classification", holdout["y"], holdout["chal"], holdout["champ"], segment_values(holdout, ["region"]), AP
    )
    challenger = {"average_precision": 0.40, "roc_auc": 0.90}
    champion = {"average_precision": 0.30, "roc_auc": 0.90}
    assert decide(challenger, champion, AP).promote is True  # without segments: it would be promoted
    decision = decide(challenger, champion, AP, segments=checks)
    assert decision.promote is False
    assert decision.improvement == pytest.approx(0.10)
    assert all(g.passed for g in decision.guardrails)
    south = _by_value(checks)["south"]
    assert (
        f"segment region=south regressed: average_precision {south.champion:.4f} -> {south.challenger:.4f} "
        f"(regression {south.regression:.4f} > 0.05)"
    ) in decision.reason
    for not_failing in ("north", "east", "tiny"):
        assert f"region={not_failing}" not in decision.reason
    assert decision.segments == checks
    as_dict = decision.as_dict()["segments"]
    assert {d["value"] for d in as_dict} == {"east", "north", "south", "tiny"}
    assert set(as_dict[0]) == {
        "column",
        "value",
        "rows",
        "positives",
        "challenger",
        "champion",
        "regression",
        "judged",
        "passed",
    }


def test_passing_segments_promote_and_say_so(holdout):
    checks = segment_checks(
        "classification",
        holdout["y"],
        holdout["chal"],
        holdout["chal"],  # the champion scores exactly like the challenger: no segment regresses
        segment_values(holdout, ["region"]),
        AP,
    )
    decision = decide(
        {"average_precision": 0.40, "roc_auc": 0.9}, {"average_precision": 0.3, "roc_auc": 0.9}, AP, checks
    )
    assert decision.promote is True and "guardrails hold" in decision.reason
    assert "2 of 4 segments judged, all hold" in decision.reason


def test_many_failing_segments_are_capped_in_the_reason():
    checks = [
        SegmentCheck("shop", f"s{i}", 500, 50, 0.5, 0.5 + 0.1 * (i + 1), 0.1 * (i + 1), True, False) for i in range(7)
    ]
    decision = decide(
        {"average_precision": 0.6, "roc_auc": 0.9}, {"average_precision": 0.5, "roc_auc": 0.9}, AP, checks
    )
    assert decision.promote is False
    assert decision.reason.count("segment shop=") == 5
    assert "shop=s6" in decision.reason and "shop=s0" not in decision.reason  # the worst first
    assert "and 2 more segments regressed" in decision.reason


def test_guardrail_and_segment_failures_are_both_named():
    failing = SegmentCheck("shop", "a", 500, 50, 0.4, 0.6, 0.2, True, False)
    decision = decide(
        {"average_precision": 0.6, "roc_auc": 0.80}, {"average_precision": 0.5, "roc_auc": 0.9}, AP, [failing]
    )
    assert decision.reason.startswith("guardrail regressed: roc_auc")
    assert "segment shop=a regressed" in decision.reason


def test_no_champion_reports_segments_without_judging_a_regression(holdout):
    checks = segment_checks(
        "classification", holdout["y"], holdout["chal"], None, segment_values(holdout, ["region"]), AP
    )
    assert len(checks) == 4
    for c in checks:
        assert c.champion is None and c.regression is None and c.passed
    assert _by_value(checks)["north"].judged and not _by_value(checks)["tiny"].judged
    decision = decide({"average_precision": 0.4, "roc_auc": 0.9}, None, AP, segments=checks)
    assert decision.promote is True and "no champion yet" in decision.reason
    assert decision.segments == checks


def test_decide_without_segments_is_unchanged():
    decision = decide({"average_precision": 0.4, "roc_auc": 0.9}, {"average_precision": 0.3, "roc_auc": 0.9}, AP)
    assert decision.segments == [] and decision.as_dict()["segments"] == []
    assert decision.reason.endswith("guardrails hold")


def test_segment_values_are_strings_and_nulls_are_named():
    frame = pd.DataFrame(
        {
            "colour": ["red", None, "blue", np.nan],
            "flag": [0, 1, 1, 0],
            "kind": pd.Categorical(["x", "y", None, "x"]),
        }
    )
    values = segment_values(frame, ["colour", "flag", "kind"])
    assert list(values["colour"]) == ["red", MISSING_SEGMENT, "blue", MISSING_SEGMENT]
    assert list(values["flag"]) == ["0", "1", "1", "0"]
    assert list(values["kind"]) == ["x", "y", MISSING_SEGMENT, "x"]


def test_a_segment_column_the_holdout_lacks_fails_naming_it():
    frame = pd.DataFrame({"colour": ["red"], "y": [1]})
    with pytest.raises(DataConfigMismatch) as info:
        segment_values(frame, ["colour", "shoe_size"])
    text = str(info.value)
    assert "'shoe_size'" in text and "evaluation.segments" in text and "colour, y" in text
    assert "'colour'" not in text.split("which")[0]  # only the missing one is named as missing


def test_evaluate_fails_on_a_missing_segment_column_before_touching_the_registry(make_config):
    cfg = make_config(evaluation={"segments": ["merchant_category", "device_type"]})
    holdout = pd.DataFrame({"merchant_category": ["gaming"], "is_fraud": [0]})

    class NoRegistry:
        def __getattr__(self, name):
            raise AssertionError(f"the registry was called ({name}) before the config was checked")

    with pytest.raises(DataConfigMismatch, match=r"'device_type'.*merchant_category, is_fraud"):
        evaluate(NoRegistry(), cfg, "1", holdout)  # type: ignore[arg-type]


def test_segment_tags_are_compact_valid_json_even_when_truncated():
    checks = [SegmentCheck("shop", f"value-{i:03d}", 500, 50, 0.5, 0.55, 0.05, True, i % 3 != 0) for i in range(60)]
    checks.append(SegmentCheck("shop", "small", 5, 1, 0.1, 0.9, None, False, True))
    full = json.loads(segments_tag(checks, limit=100_000))
    assert len(full) == 60 and "small" not in {e["value"] for e in full}  # judged segments only
    assert set(full[0]) == {"column", "value", "rows", "champion", "challenger", "passed"}
    assert [e["passed"] for e in full[:20]] == [False] * 20  # the failed ones first
    short = segments_tag(checks, limit=800)
    assert len(short) <= 800
    entries = json.loads(short)
    assert entries[-1]["more"] == 60 - (len(entries) - 1) and entries[0]["passed"] is False
    failed = segments_failed_tag(checks)
    assert failed.split(",")[0] == "shop=value-000" and len(failed.split(",")) == 20
    assert segments_failed_tag(checks[1:3]) == "none"


def test_a_replayed_champion_evaluation_reads_its_segments_back_from_the_tag(make_config):
    from include.mlops.promotion.evaluation import _recorded_segments

    cfg = make_config(evaluation={"segments": ["shop"]})
    checks = [
        SegmentCheck("shop", "a", 500, 50, 0.40, 0.60, 0.20, True, False),
        SegmentCheck("shop", "b", 400, 40, 0.70, 0.65, -0.05, True, True),
        SegmentCheck("shop", "tiny", 5, 1, 0.10, 0.90, None, False, True),
    ]
    replayed = _recorded_segments({"evaluation.segments": segments_tag(checks)}, cfg)
    assert [(c.value, c.passed, c.judged) for c in replayed] == [("a", False, True), ("b", True, True)]
    assert replayed[0].regression == pytest.approx(0.20) and replayed[1].regression == pytest.approx(-0.05)
    truncated = segments_tag(checks, limit=110)  # room for one entry and {"more":1}
    assert json.loads(truncated)[-1] == {"more": 1}
    assert [c.value for c in _recorded_segments({"evaluation.segments": truncated}, cfg)] == ["a"]
    assert _recorded_segments({}, cfg) == [] and _recorded_segments({"evaluation.segments": "{oops"}, cfg) == []
