"""The candidates ``train_and_promote`` trains side by side: ``model.candidates`` expanded into concrete
estimators with params, one per grid combination. No candidates configured: one, ``model.estimator`` with
``model.params`` (today's single model).

Pure functions over the config: the DAG's planning task calls ``expand_candidates`` at run time and maps one
training task over the list (``.expand()``); config validation calls it too, so a bad grid fails at load.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.mlops.config import ModelConfig


@dataclass(frozen=True)
class CandidateSpec:
    name: str  # unique within the run: the MLflow child run name and the mapped task's label
    estimator: str
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text.lower())[:20]


def expand_candidates(model: ModelConfig) -> list[CandidateSpec]:
    """Every candidate of ``model`` with its params, grids expanded (combinations in the grid's key order).
    Raises ``ValueError`` for duplicate names or more than ``MAX_CANDIDATES`` candidates."""
    from include.mlops.config import MAX_CANDIDATES

    if not model.candidates:
        return [CandidateSpec(model.estimator, model.estimator, dict(model.params))]
    out: list[CandidateSpec] = []
    for cand in model.candidates:
        base = cand.name or cand.estimator
        keys = list(cand.grid)
        combos = list(itertools.product(*(cand.grid[k] for k in keys))) if keys else [()]
        if len(out) + len(combos) > MAX_CANDIDATES:
            raise ValueError(
                f"`model.candidates` expand to more than {MAX_CANDIDATES} candidates (grids multiply); "
                "shorten the grids or list fewer candidates"
            )
        for combo in combos:
            params = {**cand.params, **dict(zip(keys, combo, strict=True))}
            suffix = "-".join(f"{k}-{_label(v)}" for k, v in zip(keys, combo, strict=True))
            out.append(CandidateSpec(f"{base}-{suffix}" if suffix else base, cand.estimator, params))
    names = [c.name for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"`model.candidates` has duplicate names {', '.join(dupes)}; give each candidate its own `name`"
        )
    return out
