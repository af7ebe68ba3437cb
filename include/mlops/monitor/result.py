"""What the daily drift check found (``MonitorResult``): its summary in the lake and the task's XCom, and the
conf of the retraining run it triggers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.mlops.core.config import DriftConfig

REPORT_KIND = "drift"  # reports/drift/<dataset>/ds=D/: summary.json, report.html, prediction_report.html


@dataclass(frozen=True)
class PredictionDrift:
    """The champion's logged scores on the window against those it logged before: the verdict (None: no signal
    today, the reason in ``notes``), which days each side covered, and Evidently's snapshot for the report."""

    drifted: bool | None = None
    score: float | None = None
    scored_days: list[str] = field(default_factory=list)  # window days the champion's logged scores cover
    unscored_days: list[str] = field(default_factory=list)  # window days without a prediction partition
    other_version_days: dict[str, list[str]] = field(default_factory=dict)  # window days scored by other versions
    reference_days: list[str] = field(default_factory=list)  # the champion's logged days before the window
    notes: tuple[str, ...] = ()
    snapshot: Any = None


@dataclass
class MonitorResult:
    ds: str
    model_name: str
    champion_version: str | None
    window: dict[str, str]
    reference_days: list[str] = field(default_factory=list)
    current_days: list[str] = field(default_factory=list)
    rows_reference: int = 0
    rows_current: int = 0
    drift_share: float = 0.0
    dataset_drift: bool = False
    drifted_columns: list[str] = field(default_factory=list)
    top_columns: list[dict[str, Any]] = field(default_factory=list)
    prediction_drift: bool | None = None  # None: no signal today (the reason is in ``notes``)
    prediction_score: float | None = None
    scored_days: list[str] = field(default_factory=list)  # window days the champion's logged scores cover
    unscored_days: list[str] = field(default_factory=list)  # window days without a prediction partition
    other_version_days: dict[str, list[str]] = field(default_factory=dict)  # window days scored by other versions
    prediction_reference_days: list[str] = field(default_factory=list)  # the champion's logged days before
    performance: dict[str, Any] | None = None  # the realized metric against the evaluation value
    labelled_days: list[str] = field(default_factory=list)  # in the realized metric
    unlabelled_days: list[str] = field(default_factory=list)  # scored by the champion, labels not in yet
    notes: list[str] = field(default_factory=list)  # why a signal is missing today
    drifted: bool = False
    triggered: bool = False
    reason: str = ""
    report_uri: str | None = None
    prediction_report_uri: str | None = None
    summary_uri: str | None = None
    monitoring_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def retrain_conf(self, drift: DriftConfig) -> dict[str, Any]:
        """The conf of the ``train_and_promote`` run this check triggers (when ``triggered``)."""
        return {
            "reason": f"drift_monitor {self.ds}: {self.reason}"[:500],
            "window_end": self.window["end"],
            "drift_summary": {
                "ds": self.ds,
                "drift_share": round(self.drift_share, 4),
                "drifted_columns": self.drifted_columns[:20],
                "prediction_drift": self.prediction_drift,
                "performance": self.performance,
                "labelled_days": self.labelled_days,
                "unlabelled_days": self.unlabelled_days,
                "unscored_days": self.unscored_days,
                "report_uri": self.report_uri,
            },
            "monitoring_run_id": self.monitoring_run_id,
            **({"window_days": drift.retrain_window_days} if drift.retrain_window_days else {}),
            **({"holdout_days": drift.retrain_holdout_days} if drift.retrain_holdout_days else {}),
        }

    def summary(self, drift: DriftConfig) -> dict[str, Any]:
        """Small and JSON-safe (the drift task's XCom): the outcome, and ``conf`` for the retraining trigger."""
        from include.mlops.core.jsonsafe import json_safe

        performance = self.performance or {}
        return json_safe(
            {
                "ds": self.ds,
                "champion_version": self.champion_version,
                "drifted": self.drifted,
                "trigger": self.triggered,
                "reason": self.reason,
                "drift_share": round(self.drift_share, 4),
                "drifted_columns": self.drifted_columns[:20],
                "prediction_drift": self.prediction_drift,
                "prediction_score": self.prediction_score,
                "scored_days": self.scored_days,
                "unscored_days": self.unscored_days,
                "realized": performance.get("realized"),
                "realized_per_day": performance.get("per_day"),
                "labelled_days": self.labelled_days,
                "unlabelled_days": self.unlabelled_days,
                "notes": self.notes,
                "report_uri": self.report_uri,
                "monitoring_run_id": self.monitoring_run_id,
                "conf": self.retrain_conf(drift),
            }
        )
