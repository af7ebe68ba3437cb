"""Champion/challenger evaluation: metrics on one holdout, and the promotion decision.

``decide`` is a pure function over plain numbers, so the policy (direction, margin, guardrails,
floor, missing champion, ties, segments) is unit-testable without a model in sight. ``score`` is how every model
is scored (training, evaluation, drift).

Segment guardrails: ``segment_checks`` computes the primary metric per value of each ``evaluation.segments``
column for challenger and champion on the same holdout rows (``segment_values`` reads those columns off the
holdout). A value with fewer than ``segment_min_rows`` rows (classification: fewer than ``segment_min_positives``
positives), or whose metric is not a number, is reported but not judged; a judged one whose metric regresses by
more than ``max_segment_regression`` (in the primary metric's good direction) blocks the promotion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import EvaluationConfig, direction_of
from include.mlops.core.exceptions import DataConfigMismatch
from include.mlops.model.metrics import compute_metrics

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MISSING_SEGMENT = "(missing)"  # the segment value of a null
SEGMENTS_IN_REASON = 5  # failing segments named one by one in a reason; the rest are counted


@dataclass(frozen=True)
class GuardrailCheck:
    metric: str
    challenger: float
    champion: float
    regression: float
    max_regression: float
    passed: bool


@dataclass(frozen=True)
class SegmentCheck:
    """The primary metric on the holdout rows where ``column`` is ``value``. ``judged``: big enough (rows, and
    positives for classification) and a number for both models; only a judged segment can fail (``passed``).
    ``regression``: how much worse the challenger is, in the metric's good direction (None: nothing to compare)."""

    column: str
    value: str
    rows: int
    positives: int | None  # None for regression
    challenger: float
    champion: float | None
    regression: float | None
    judged: bool
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
    segments: list[SegmentCheck] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _better_by(direction: str, new: float, old: float) -> float:
    """How much better ``new`` is than ``old`` in the metric's good direction (negative: worse)."""
    return new - old if direction == "maximize" else old - new


def segment_values(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Each segment column of ``frame`` as strings (a null is ``"(missing)"``). ``DataConfigMismatch`` names a
    column the frame does not have, the config key and the columns there are."""
    import numpy as np

    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataConfigMismatch(
            f"evaluation.segments names {', '.join(repr(c) for c in absent)}, which the holdout does not have; "
            f"the holdout has columns: {', '.join(map(str, frame.columns))}. "
            "Fix evaluation.segments in the pipeline config (categorical columns of the dataset)"
        )
    values: dict[str, np.ndarray] = {}
    for column in columns:
        series = frame[column]
        nulls = series.isna().to_numpy()
        strings = np.array([str(v) for v in series.astype(object).to_numpy()], dtype=object)
        strings[nulls] = MISSING_SEGMENT
        values[column] = strings
    return values


def segment_checks(
    task: str,
    y_true: Any,
    challenger_scores: Any,
    champion_scores: Any | None,
    segments: Mapping[str, Any],
    policy: EvaluationConfig,
) -> list[SegmentCheck]:
    """The primary metric per segment value (``segments``: column -> one value per row, as ``segment_values``
    gives) for challenger and champion (None: there is none) on the same rows. Ordered by column as given,
    then by value."""
    import warnings

    import numpy as np

    metric, direction = policy.primary_metric, policy.direction
    y = np.asarray(y_true)
    chal = np.asarray(challenger_scores, dtype="float64")
    champ = None if champion_scores is None else np.asarray(champion_scores, dtype="float64")
    checks: list[SegmentCheck] = []
    for column, raw in segments.items():
        values = np.asarray(raw, dtype=object)
        if len(values) != len(y):
            raise ValueError(f"segment column {column!r} has {len(values)} values for {len(y)} rows")
        for value in sorted(set(values.tolist())):
            rows = values == value
            n = int(rows.sum())
            positives = int((y[rows] == 1).sum()) if task == "classification" else None
            with warnings.catch_warnings():  # a tiny segment (one row, one class) warns; its NaN says enough
                warnings.simplefilter("ignore")
                chal_v = compute_metrics(task, y[rows], chal[rows]).get(metric, float("nan"))
                champ_v = None if champ is None else compute_metrics(task, y[rows], champ[rows]).get(metric)
            big_enough = n >= policy.segment_min_rows and (
                positives is None or positives >= policy.segment_min_positives
            )
            numbers = math.isfinite(chal_v) and (champ_v is None or math.isfinite(champ_v))
            regression = None
            passed = True
            if big_enough and numbers and champ_v is not None:
                regression = -_better_by(direction, chal_v, champ_v)
                passed = regression <= policy.max_segment_regression + 1e-12
            checks.append(
                SegmentCheck(
                    column=column,
                    value=str(value),
                    rows=n,
                    positives=positives,
                    challenger=chal_v,
                    champion=champ_v,
                    regression=regression,
                    judged=big_enough and numbers,
                    passed=passed,
                )
            )
    return checks


def _segment_reason(metric: str, failed: list[SegmentCheck], max_regression: float) -> str:
    """Every failing segment, worst first; past ``SEGMENTS_IN_REASON`` only counted."""
    worst = sorted(failed, key=lambda c: -(c.regression or 0.0))
    parts = [
        f"segment {c.column}={c.value} regressed: {metric} {c.champion:.4f} -> {c.challenger:.4f} "
        f"(regression {c.regression:.4f} > {max_regression})"
        for c in worst[:SEGMENTS_IN_REASON]
    ]
    if len(worst) > SEGMENTS_IN_REASON:
        parts.append(f"and {len(worst) - SEGMENTS_IN_REASON} more segments regressed")
    return "; ".join(parts)


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    policy: EvaluationConfig,
    segments: Sequence[SegmentCheck] | None = None,
) -> Decision:
    """Should the challenger replace the champion? Ties never promote. ``segments`` (``segment_checks``) block a
    challenger that beats the champion globally, guardrails held, when a judged segment failed."""
    metric = policy.primary_metric
    direction = direction_of(metric)
    value = challenger.get(metric, float("nan"))
    table = list(segments or [])
    common: dict[str, Any] = {
        "primary_metric": metric,
        "direction": direction,
        "challenger_value": value,
        "min_improvement": policy.min_improvement,
        "floor": policy.floor,
        "segments": table,
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
    failed_segments = [s for s in table if s.judged and not s.passed]
    segment_detail = _segment_reason(metric, failed_segments, policy.max_segment_regression)
    if broken:
        detail = "; ".join(
            f"{c.metric} {c.champion:.4f} -> {c.challenger:.4f} (regression {c.regression:.4f} > {c.max_regression})"
            for c in broken
        )
        also = f"; {segment_detail}" if failed_segments else ""
        return Decision(False, f"guardrail regressed: {detail}{also}", **common)
    if failed_segments:
        return Decision(
            False,
            f"challenger {metric}={value:.4f} beats champion {champ_value:.4f} by {improvement:+.4f}, but "
            f"{segment_detail}",
            **common,
        )
    judged = sum(1 for s in table if s.judged)
    held = f"; {judged} of {len(table)} segments judged, all hold" if table else ""
    return Decision(
        True,
        f"challenger {metric}={value:.4f} beats champion {champ_value:.4f} by {improvement:+.4f} "
        f"(>= {policy.min_improvement}); guardrails hold{held}",
        **common,
    )
