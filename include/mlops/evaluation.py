"""Champion/challenger evaluation: metrics on one holdout, and the promotion decision.

``decide`` is a pure function over plain numbers, so the policy (direction, margin, guardrails,
floor, missing champion, ties) is unit-testable without a model in sight. ``score`` is how every model is
scored (training, evaluation, drift).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.config import EvaluationConfig, direction_of

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def compute_metrics(task: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Metrics for ``task``. ``scores`` are positive-class probabilities or regression predictions."""
    import numpy as np
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype="float64")
    if task == "regression":
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, scores))),
            "mae": float(skm.mean_absolute_error(y_true, scores)),
            "r2": float(skm.r2_score(y_true, scores)),
        }
    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "average_precision": float(skm.average_precision_score(y_true, scores)) if both else float("nan"),
        "roc_auc": float(skm.roc_auc_score(y_true, scores)) if both else float("nan"),
        "f1": float(skm.f1_score(y_true, predicted, zero_division=0)),
        "precision": float(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y_true, scores)),
    }


@dataclass(frozen=True)
class GuardrailCheck:
    metric: str
    challenger: float
    champion: float
    regression: float
    max_regression: float
    passed: bool


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    primary_metric: str
    direction: str
    challenger_value: float
    champion_value: float | None
    improvement: float | None
    min_improvement: float
    floor: float | None
    guardrails: list[GuardrailCheck] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _better_by(direction: str, new: float, old: float) -> float:
    """How much better ``new`` is than ``old`` in the metric's good direction (negative: worse)."""
    return new - old if direction == "maximize" else old - new


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    policy: EvaluationConfig,
) -> Decision:
    """Should the challenger replace the champion? Ties never promote."""
    metric = policy.primary_metric
    direction = direction_of(metric)
    value = challenger.get(metric, float("nan"))
    common: dict[str, Any] = {
        "primary_metric": metric,
        "direction": direction,
        "challenger_value": value,
        "min_improvement": policy.min_improvement,
        "floor": policy.floor,
    }
    if value is None or not math.isfinite(value):
        return Decision(
            False,
            f"challenger {metric} is not a number ({value}); check the holdout labels",
            champion_value=None,
            improvement=None,
            **common,
        )
    if policy.floor is not None and _better_by(direction, value, policy.floor) < 0:
        bound = "at least" if direction == "maximize" else "at most"
        return Decision(
            False,
            f"challenger {metric}={value:.4f} misses the floor ({bound} {policy.floor})",
            champion_value=champion.get(metric) if champion else None,
            improvement=None,
            **common,
        )
    if champion is None:
        return Decision(
            True,
            f"no champion yet; challenger {metric}={value:.4f} clears the floor ({policy.floor})",
            champion_value=None,
            improvement=None,
            **common,
        )
    champ_value = champion.get(metric, float("nan"))
    if not math.isfinite(champ_value):
        return Decision(
            True,
            f"champion {metric} is not a number on this holdout; challenger {metric}={value:.4f}",
            champion_value=None,
            improvement=None,
            **common,
        )
    improvement = _better_by(direction, value, champ_value)
    checks = []
    for guard in policy.guardrails:
        chal_g, champ_g = challenger.get(guard.metric, float("nan")), champion.get(guard.metric, float("nan"))
        regression = -_better_by(direction_of(guard.metric), chal_g, champ_g)
        passed = math.isfinite(regression) and regression <= guard.max_regression + 1e-12
        checks.append(GuardrailCheck(guard.metric, chal_g, champ_g, regression, guard.max_regression, passed))
    common.update(champion_value=champ_value, improvement=improvement, guardrails=checks)
    if improvement <= 0 or improvement + 1e-12 < policy.min_improvement:
        word = "ties" if improvement == 0 else ("improves on" if improvement > 0 else "is worse than")
        return Decision(
            False,
            f"challenger {metric}={value:.4f} {word} champion {champ_value:.4f} by {improvement:+.4f}; "
            f"needs at least +{policy.min_improvement}",
            **common,
        )
    broken = [c for c in checks if not c.passed]
    if broken:
        detail = "; ".join(
            f"{c.metric} {c.champion:.4f} -> {c.challenger:.4f} (regression {c.regression:.4f} > {c.max_regression})"
            for c in broken
        )
        return Decision(False, f"guardrail regressed: {detail}", **common)
    return Decision(
        True,
        f"challenger {metric}={value:.4f} beats champion {champ_value:.4f} by {improvement:+.4f} "
        f"(>= {policy.min_improvement}); guardrails hold",
        **common,
    )


def score(model: Any, frame: pd.DataFrame, task: str) -> Any:
    """Positive-class probability for classification, the prediction for regression."""
    if task == "classification":
        return model.predict_proba(frame)[:, 1]
    return model.predict(frame)
