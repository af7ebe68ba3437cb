"""Feature and prediction drift statistics with Evidently 0.7: ``compute_drift`` runs its ``DataDriftPreset`` on a
reference and a current frame and reads a verdict per column out of it (``ColumnDrift``, ``DriftResult``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from include.mlops.core.config import DriftConfig


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    columns: list[ColumnDrift]
    share: float
    dataset_drift: bool
    prediction: ColumnDrift | None
    rows_reference: int
    rows_current: int

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def top(self, n: int = 5) -> list[ColumnDrift]:
        """Most drifted columns first: drifted ones, then by how far past their threshold they are."""

        def key(c: ColumnDrift) -> tuple[bool, float]:
            p_value = "p_value" in c.method
            excess = (c.threshold - c.score) if p_value else (c.score - c.threshold)
            return (c.drifted, excess)

        return sorted(self.columns, key=key, reverse=True)[:n]


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's convention: p-value tests drift below the threshold, distances at or above it."""
    if score is None or not math.isfinite(score):
        return False
    return score < threshold if "p_value" in method else score >= threshold


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    cfg: DriftConfig,
    prediction: str | None = None,
):
    """Run Evidently's ``DataDriftPreset`` and read a verdict out of it. Returns (DriftResult, snapshot)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in numeric if c not in cfg.exclude_columns]
    categorical = [c for c in categorical if c not in cfg.exclude_columns]
    columns = numeric + categorical + ([prediction] if prediction else [])
    definition = DataDefinition(
        numerical_columns=numeric + ([prediction] if prediction else []), categorical_columns=categorical
    )
    preset = DataDriftPreset(
        columns=columns,
        drift_share=cfg.drift_share,
        method=cfg.method,
        threshold=cfg.threshold,
        per_column_method={c: r.method for c, r in cfg.per_column.items() if r.method and c in columns} or None,
        per_column_threshold={
            c: r.threshold for c, r in cfg.per_column.items() if r.threshold is not None and c in columns
        }
        or None,
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    per_column: dict[str, ColumnDrift] = {}
    for metric in snapshot.dict()["metrics"]:
        conf = metric.get("config", {})
        if not conf.get("type", "").endswith("ValueDrift"):
            continue
        score = float(metric["value"])
        method, threshold = str(conf["method"]), float(conf["threshold"])
        per_column[conf["column"]] = ColumnDrift(
            conf["column"], method, threshold, score, is_drifted(method, score, threshold)
        )
    features = [per_column[c] for c in numeric + categorical if c in per_column]
    drifted = sum(c.drifted for c in features)
    share = drifted / len(features) if features else 0.0
    return (
        DriftResult(
            columns=features,
            share=share,
            dataset_drift=share >= cfg.drift_share,
            prediction=per_column.get(prediction) if prediction else None,
            rows_reference=len(reference),
            rows_current=len(current),
        ),
        snapshot,
    )
