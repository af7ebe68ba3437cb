from __future__ import annotations

import math

import numpy as np
import pytest

from include.mlops.core.config import EvaluationConfig, Guardrail
from include.mlops.model.metrics import compute_metrics
from include.mlops.promotion.decision import decide

POLICY = EvaluationConfig(
    primary_metric="average_precision", min_improvement=0.01, floor=0.2, guardrails=(Guardrail("roc_auc", 0.01),)
)
RMSE = EvaluationConfig(primary_metric="rmse", min_improvement=0.5, floor=10.0, guardrails=(Guardrail("mae", 0.0),))


@pytest.mark.parametrize(
    ("challenger", "champion", "policy", "promote", "why"),
    [
        ({"average_precision": 0.30, "roc_auc": 0.9}, None, POLICY, True, "no champion yet"),
        ({"average_precision": 0.15, "roc_auc": 0.9}, None, POLICY, False, "misses the floor"),
        (
            {"average_precision": 0.35, "roc_auc": 0.90},
            {"average_precision": 0.30, "roc_auc": 0.90},
            POLICY,
            True,
            "beats",
        ),
        (
            {"average_precision": 0.30, "roc_auc": 0.90},
            {"average_precision": 0.30, "roc_auc": 0.90},
            POLICY,
            False,
            "ties",
        ),
        (
            {"average_precision": 0.305, "roc_auc": 0.9},
            {"average_precision": 0.30, "roc_auc": 0.9},
            POLICY,
            False,
            "needs at least",
        ),
        (
            {"average_precision": 0.31, "roc_auc": 0.9},
            {"average_precision": 0.30, "roc_auc": 0.9},
            POLICY,
            True,
            "beats",
        ),
        (
            {"average_precision": 0.25, "roc_auc": 0.9},
            {"average_precision": 0.30, "roc_auc": 0.9},
            POLICY,
            False,
            "is worse than",
        ),
        (
            {"average_precision": 0.40, "roc_auc": 0.85},
            {"average_precision": 0.30, "roc_auc": 0.90},
            POLICY,
            False,
            "guardrail",
        ),
        (
            {"average_precision": 0.40, "roc_auc": 0.895},
            {"average_precision": 0.30, "roc_auc": 0.90},
            POLICY,
            True,
            "guardrails hold",
        ),
        ({"rmse": 4.0, "mae": 3.0}, {"rmse": 5.0, "mae": 3.0}, RMSE, True, "beats"),
        ({"rmse": 5.0, "mae": 3.0}, {"rmse": 4.0, "mae": 3.0}, RMSE, False, "is worse than"),
        ({"rmse": 4.8, "mae": 3.0}, {"rmse": 5.0, "mae": 3.0}, RMSE, False, "needs at least"),
        ({"rmse": 12.0, "mae": 3.0}, None, RMSE, False, "misses the floor"),
        ({"rmse": 4.0, "mae": 3.5}, {"rmse": 5.0, "mae": 3.0}, RMSE, False, "guardrail"),
        ({"average_precision": float("nan"), "roc_auc": 0.9}, None, POLICY, False, "not a number"),
    ],
)
def test_decision(challenger, champion, policy, promote, why):
    decision = decide(challenger, champion, policy)
    assert decision.promote is promote
    assert why in decision.reason


def test_decision_records_direction_and_improvement():
    decision = decide({"rmse": 4.0, "mae": 3.0}, {"rmse": 5.0, "mae": 3.0}, RMSE)
    assert decision.direction == "minimize"
    assert decision.improvement == pytest.approx(1.0)
    assert [g.metric for g in decision.guardrails] == ["mae"]


def test_classification_metrics_on_known_scores():
    y = np.array([0, 0, 1, 1])
    perfect = compute_metrics("classification", y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect["roc_auc"] == 1.0 and perfect["average_precision"] == 1.0 and perfect["f1"] == 1.0
    inverted = compute_metrics("classification", y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted["roc_auc"] == 0.0


def test_single_class_holdout_gives_nan_not_a_crash():
    metrics = compute_metrics("classification", np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    assert math.isnan(metrics["average_precision"])


def test_regression_metrics():
    metrics = compute_metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert metrics["mae"] == pytest.approx(2 / 3)
    assert metrics["rmse"] == pytest.approx(math.sqrt(4 / 3))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_frame_scored_in_chunks_gets_the_scores_of_one_call(monkeypatch, task):
    from types import SimpleNamespace

    import pandas as pd

    from include.mlops.model import metrics as evaluation
    from include.mlops.model.training import build_pipeline

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"amount": rng.gamma(2.0, 30.0, 1000), "channel": rng.choice(["pos", "online"], 1000)})
    y = (frame["amount"] > 60).astype(int) if task == "classification" else frame["amount"] * 2
    cfg = SimpleNamespace(dataset=SimpleNamespace(task=task), training=SimpleNamespace(random_state=7))
    model = build_pipeline(cfg, ["amount"], ["channel"], "hist_gradient_boosting", {"max_iter": 20}).fit(frame, y)
    whole = evaluation.score(model, frame, task)
    monkeypatch.setattr(evaluation, "SCORE_CHUNK_ROWS", 300)  # 1000 rows: 4 chunks, the last one short
    chunked = evaluation.score(model, frame, task)
    assert chunked.shape == (1000,)
    np.testing.assert_array_equal(chunked, whole)
