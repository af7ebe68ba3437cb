"""The candidates ``train_and_promote`` trains side by side: ``model.candidates`` expanded into concrete
estimators with params, one per grid combination. No candidates configured: one, ``model.estimator`` with
``model.params`` (today's single model).

Pure functions over the config: the DAG's planning task calls ``expand_candidates`` at run time and maps one
training task over the list (``.expand()``); config validation calls it too, so a bad grid fails at load (the
spec and the expansion are defined in ``include.mlops.core.config`` for that, and re-exported here).
Several candidates fit on the older curated training days and are scored on the newest (``validation_split``,
never the holdout); ``select_best`` picks the winner ``include.mlops.model.training`` refits on the whole training part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# the spec and the grid expansion live with the config (its validation expands the grids); re-exported here
from include.mlops.core.config import MAX_CANDIDATES, CandidateSpec, expand_candidates
from include.mlops.core.exceptions import InsufficientData, NoCandidateSucceeded

# -- the validation split ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationSplit:
    """Which curated training days the candidates fit on and which they are scored on. Never a holdout day."""

    fit_days: list[str]
    validation_days: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validation_split(training_days: Sequence[str], holdout_start: str, validation_days: int) -> ValidationSplit:
    """The newest ``min(validation_days, n // 2)`` (at least 1) of the ``n`` curated ``training_days`` before
    ``holdout_start`` score the candidates; the older ones fit them. Days on or after ``holdout_start`` are dropped
    first: the holdout judges the winner against the champion and must stay unseen by the choice of the winner.

    Out of time, not a random sample of rows: the candidates are judged the way the challenger will be, on days
    after the ones they learned from. A random split would put rows of the same day (and of a fraud pattern that
    just started) on both sides and favour the candidate that memorises them. Raises ``InsufficientData`` below 2
    training days (nothing left to fit on)."""
    days = sorted({d for d in training_days if d < holdout_start})
    if len(days) < 2:
        raise InsufficientData(
            f"several model.candidates need at least 2 curated training days before the holdout ({holdout_start}) "
            f"to fit on some and score on the newest, got {len(days)} ({', '.join(days) or 'none'}); widen "
            "window_days, backfill ingest_and_validate, or list a single candidate"
        )
    n = max(1, min(validation_days, len(days) // 2))
    return ValidationSplit(fit_days=days[:-n], validation_days=days[-n:])


# -- choosing the winner -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateOutcome:
    """What came of one candidate: its validation metrics, or the error that stopped it."""

    name: str
    estimator: str
    params: dict[str, Any]
    validation: dict[str, float] | None = None  # None and no error: not scored (the one-candidate path)
    error: str | None = None
    run_id: str | None = None  # its MLflow child run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spec(self) -> CandidateSpec:
        return CandidateSpec(self.name, self.estimator, dict(self.params))


def _summary(outcome: CandidateOutcome, metric: str) -> str:
    if outcome.error is not None:
        return f"{outcome.name} ({outcome.estimator}): failed: {outcome.error}"
    value = (outcome.validation or {}).get(metric, float("nan"))
    return f"{outcome.name} ({outcome.estimator}): validation {metric}={value}"


def select_best(outcomes: Sequence[CandidateOutcome], metric: str) -> CandidateOutcome:
    """The candidate with the best validation ``metric`` in its good direction (``direction_of``). Ties go to the
    one listed first in the config; a NaN or missing score never wins; a failed candidate never does. A single
    candidate that was not scored (``validation`` None: nothing to choose between) wins as it is.

    Raises ``NoCandidateSucceeded`` naming every candidate and what became of it when none can win."""
    from include.mlops.core.config import direction_of

    if len(outcomes) == 1 and outcomes[0].error is None and outcomes[0].validation is None:
        return outcomes[0]
    maximize = direction_of(metric) == "maximize"
    best: CandidateOutcome | None = None
    best_value = 0.0
    for outcome in outcomes:
        if outcome.error is not None or outcome.validation is None:
            continue
        value = outcome.validation.get(metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        if best is None or (value > best_value if maximize else value < best_value):
            best, best_value = outcome, float(value)
    if best is None:
        lines = "\n".join(f"- {_summary(o, metric)}" for o in outcomes) or "- (no candidates)"
        raise NoCandidateSucceeded(
            f"no candidate has a validation {metric} to choose by ({len(outcomes)} candidates):\n{lines}\n"
            "fix the failing model.candidates (each error is in the parent MLflow run, "
            "candidates/<name>/error.txt) or check the validation days have both classes"
        )
    return best


def leaderboard(outcomes: Sequence[CandidateOutcome], winner: str | None, metric: str) -> dict[str, Any]:
    """The ``candidates/leaderboard.json`` of the parent run: every candidate in config order, the winner. Strict
    JSON: a NaN score is null."""
    from include.mlops.core.jsonsafe import json_safe

    return json_safe(
        {
            "primary_metric": metric,
            "winner": winner,
            "count": len(outcomes),
            "failed": sum(o.error is not None for o in outcomes),
            "candidates": [o.as_dict() for o in outcomes],
        }
    )


__all__ = [
    "CandidateOutcome",
    "CandidateSpec",
    "MAX_CANDIDATES",
    "ValidationSplit",
    "expand_candidates",
    "leaderboard",
    "select_best",
    "validation_split",
]
