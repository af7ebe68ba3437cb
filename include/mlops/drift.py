"""Daily drift monitoring with Evidently 0.7, and the decision to retrain.

- The **reference** is the data the current champion was trained on, found through its MLflow run's
  lineage (``lineage/training_data.json``), not "whatever is newest".
- The **current window** is the ``drift.window_days`` days before the run's data interval end, so a
  backfill checks the days it names.
- Both sides are a seeded sample, stratified by the target and capped per side, of only the columns
  the model uses, typed as the model typed them.
- Three signals: feature drift (share of drifted columns >= ``drift_share``), prediction drift (the
  champion's scores on both windows) and, where labels are present, the champion's primary metric
  on the current window against its evaluation value.
- ``decide_trigger`` is pure: cooldown counted in logical days, N-of-M drifted days, no trigger while
  a training run is queued or running. Its history comes from the lake (one summary per day), so a
  backfill behaves like live days.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.config import DriftConfig, PipelineConfig
from include.mlops.exceptions import InsufficientData
from include.mlops.lake import Lake

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

PREDICTION = "__champion_score"
REPORT_KIND = "drift"


# -- sampling ---------------------------------------------------------------------------------
def sample(frame: pd.DataFrame, cap: int, seed: int, stratify: str | None = None) -> pd.DataFrame:
    """At most ``cap`` rows, seeded; stratified by ``stratify`` so a rare label keeps its share."""
    if len(frame) <= cap:
        return frame
    return sample_fraction(frame, cap / len(frame), seed, stratify)


def sample_fraction(frame: pd.DataFrame, fraction: float, seed: int, stratify: str | None = None) -> pd.DataFrame:
    """``fraction`` of the rows, seeded; per stratum of ``stratify`` (each keeps at least one row)."""
    if fraction >= 1:
        return frame
    if stratify is None or stratify not in frame.columns or frame[stratify].nunique() > 50:
        return frame.sample(n=max(1, round(len(frame) * fraction)), random_state=seed)
    parts = [
        group.sample(n=max(1, round(len(group) * fraction)), random_state=seed)
        for _, group in frame.groupby(stratify, sort=True, dropna=False)
    ]
    import pandas as pd

    return pd.concat(parts).sort_index()


def read_sampled(
    lake: Lake, dataset: str, days: list[str], columns: list[str], cap: int, seed: int, stratify: str | None = None
) -> tuple[pd.DataFrame, list[str], int]:
    """A seeded sample of at most about ``cap`` rows of the curated ``days``, read one partition at a time.

    Only ``columns`` are decoded, and each partition is sampled as soon as it is read (the same
    fraction everywhere, from the row counts in the Parquet footers), so memory holds one partition
    and the sample, never the whole window. Returns (sample, days read, rows in those days).
    """
    import io

    import pandas as pd
    import pyarrow.parquet as pq

    available = set(lake.list_partitions("curated", dataset))
    present = [d for d in days if d in available]
    if not present:
        raise InsufficientData(f"none of the days {days[0]}..{days[-1]} is curated")
    blobs = {d: lake.read_partition_bytes("curated", dataset, d) for d in present}  # compressed: small
    rows = {d: pq.ParquetFile(io.BytesIO(b)).metadata.num_rows for d, b in blobs.items()}
    total = sum(rows.values())
    fraction = min(1.0, cap / total) if total else 1.0
    parts = []
    for i, d in enumerate(present):
        frame = pd.read_parquet(io.BytesIO(blobs.pop(d)), columns=columns)
        parts.append(sample_fraction(frame, fraction, seed + i, stratify))
        del frame
    return pd.concat(parts, ignore_index=True), present, total


# -- drift ------------------------------------------------------------------------------------
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


def _is_drifted(method: str, score: float, threshold: float) -> bool:
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
            conf["column"], method, threshold, score, _is_drifted(method, score, threshold)
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


# -- the decision to retrain -----------------------------------------------------------------
@dataclass(frozen=True)
class TriggerDecision:
    trigger: bool
    reason: str


def decide_trigger(
    *,
    today: dt.date,
    drifted_today: bool,
    history: dict[str, dict[str, Any]],
    cfg: DriftConfig,
    training_active: bool,
) -> TriggerDecision:
    """Should today's drift check trigger retraining?

    ``history`` maps ISO day -> earlier daily summary (``drifted``, ``triggered``), read from the
    lake; today's own earlier summary (a re-run) is ignored.
    """
    if not drifted_today:
        return TriggerDecision(False, "no drift today")
    window = [today - dt.timedelta(days=i) for i in range(cfg.lookback_days)]
    drifted_days = sum(1 for d in window if (d == today) or history.get(d.isoformat(), {}).get("drifted", False))
    if drifted_days < cfg.min_drifted_days:
        return TriggerDecision(
            False, f"drift on {drifted_days} of the last {cfg.lookback_days} days; needs {cfg.min_drifted_days}"
        )
    recent = sorted(
        day
        for day, summary in history.items()
        if summary.get("triggered")
        and day != today.isoformat()
        and 0 < (today - dt.date.fromisoformat(day)).days < max(cfg.cooldown_days, 1)
    )
    if cfg.cooldown_days and recent:
        until = dt.date.fromisoformat(recent[-1]) + dt.timedelta(days=cfg.cooldown_days)
        return TriggerDecision(False, f"in cooldown: retraining was triggered on {recent[-1]} (until {until})")
    if training_active:
        return TriggerDecision(False, "a train_and_promote run is already queued or running")
    return TriggerDecision(True, f"drift on {drifted_days} of the last {cfg.lookback_days} days")


# -- the whole daily check -------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    champion_version: str
    champion_run_id: str
    days: list[str]
    numeric: list[str]
    categorical: list[str]
    evaluation_value: float | None


def champion_reference(client: MlflowClient, model_name: str, version: str) -> Reference:
    """The champion's training days and feature typing, from its run's lineage artifact."""
    mv = client.get_model_version(model_name, version)
    if not mv.run_id:
        raise InsufficientData(f"{model_name} version {version} has no MLflow run; its training data is unknown")
    import mlflow.artifacts

    lineage = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/lineage/training_data.json")
    holdout_start = (lineage.get("window") or {}).get("holdout_start") or client.get_run(mv.run_id).data.params.get(
        "holdout_start"
    )
    days = [p["ds"] for p in lineage["partitions"] if not holdout_start or p["ds"] < holdout_start]
    value = mv.tags.get("evaluation.challenger_value")
    return Reference(
        champion_version=str(version),
        champion_run_id=mv.run_id,
        days=days,
        numeric=list(lineage["features"]["numeric"]),
        categorical=list(lineage["features"]["categorical"]),
        evaluation_value=float(value) if value not in (None, "none") else None,
    )


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
    prediction_drift: bool | None = None
    prediction_score: float | None = None
    performance: dict[str, Any] | None = None
    drifted: bool = False
    triggered: bool = False
    reason: str = ""
    report_uri: str | None = None
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
                "report_uri": self.report_uri,
            },
            "monitoring_run_id": self.monitoring_run_id,
            **({"window_days": drift.retrain_window_days} if drift.retrain_window_days else {}),
            **({"holdout_days": drift.retrain_holdout_days} if drift.retrain_holdout_days else {}),
        }

    def summary(self, drift: DriftConfig) -> dict[str, Any]:
        """Small and JSON-safe (the drift task's XCom): the outcome, and ``conf`` for the retraining trigger."""
        from include.mlops.jsonsafe import json_safe

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
                "report_uri": self.report_uri,
                "monitoring_run_id": self.monitoring_run_id,
                "conf": self.retrain_conf(drift),
            }
        )


def history_from_lake(lake: Lake, dataset: str, today: dt.date, days: int) -> dict[str, dict[str, Any]]:
    out = {}
    for i in range(1, days + 1):
        day = today - dt.timedelta(days=i)
        key = lake.report_key(REPORT_KIND, dataset, day, "summary.json")
        if lake.storage.exists(key):
            out[day.isoformat()] = lake.read_json(key)
    return out


def monitor(
    client: MlflowClient,
    tracking_uri: str,
    cfg: PipelineConfig,
    lake: Lake,
    window_end: dt.date,
    training_active: bool,
    tags: dict[str, str] | None = None,
) -> MonitorResult:
    """The daily check for the window ending (exclusive) at ``window_end``."""
    from include.mlops.evaluation import compute_metrics, score
    from include.mlops.registry import champion_version, load_version

    dcfg, ds = cfg.drift, window_end - dt.timedelta(days=1)
    start = window_end - dt.timedelta(days=dcfg.window_days)
    result = MonitorResult(
        ds=ds.isoformat(),
        model_name=cfg.model.name,
        champion_version=None,
        window={"start": start.isoformat(), "end": window_end.isoformat()},
    )
    version = champion_version(client, cfg.model.name)
    if version is None:
        result.reason = f"no champion for {cfg.model.name} yet: nothing to monitor"
        return result
    ref = champion_reference(client, cfg.model.name, version)
    result.champion_version = version
    features = ref.numeric + ref.categorical
    target = cfg.dataset.target
    columns = features + [target]
    current_days = [(start + dt.timedelta(days=i)).isoformat() for i in range(dcfg.window_days)]
    name = cfg.dataset.name
    current, result.current_days, _ = read_sampled(
        lake, name, current_days, columns, dcfg.sample_cap, dcfg.seed, target
    )
    reference, result.reference_days, _ = read_sampled(
        lake, name, ref.days, columns, dcfg.sample_cap, dcfg.seed, target
    )

    model = load_version(cfg.model.name, version)
    task = cfg.dataset.task
    prediction = None
    if dcfg.prediction_drift:
        reference = reference.assign(**{PREDICTION: score(model, reference, task)})
        current = current.assign(**{PREDICTION: score(model, current, task)})
        prediction = PREDICTION
    drift, snapshot = compute_drift(reference, current, ref.numeric, ref.categorical, dcfg, prediction)

    if dcfg.performance_tolerance is not None and ref.evaluation_value is not None and current[target].notna().all():
        metric = cfg.evaluation.primary_metric
        scores = current[PREDICTION] if prediction else score(model, current, task)
        value = compute_metrics(task, current[target].to_numpy(), scores)[metric]
        drop = (
            (ref.evaluation_value - value) if cfg.evaluation.direction == "maximize" else (value - ref.evaluation_value)
        )
        result.performance = {
            "metric": metric,
            "current": value,
            "at_evaluation": ref.evaluation_value,
            "drop": drop,
            "tolerance": dcfg.performance_tolerance,
            "degraded": bool(math.isfinite(drop) and drop > dcfg.performance_tolerance),
        }

    result.rows_reference, result.rows_current = drift.rows_reference, drift.rows_current
    result.drift_share, result.dataset_drift = drift.share, drift.dataset_drift
    result.drifted_columns = drift.drifted_columns
    result.top_columns = [asdict(c) for c in drift.top(5)]
    if drift.prediction is not None:
        result.prediction_drift, result.prediction_score = drift.prediction.drifted, drift.prediction.score
    signals = []
    if drift.dataset_drift:
        signals.append(
            f"{len(drift.drifted_columns)} of {len(drift.columns)} columns drifted "
            f"(share {drift.share:.2f} >= {dcfg.drift_share})"
        )
    if result.prediction_drift:
        signals.append(f"prediction drift (score {drift.prediction.score:.3f})")
    if result.performance and result.performance["degraded"]:
        p = result.performance
        signals.append(f"{p['metric']} fell from {p['at_evaluation']:.4f} to {p['current']:.4f}")
    result.drifted = bool(signals)
    decision = decide_trigger(
        today=ds,
        drifted_today=result.drifted,
        history=history_from_lake(lake, cfg.dataset.name, ds, max(dcfg.cooldown_days, dcfg.lookback_days)),
        cfg=dcfg,
        training_active=training_active,
    )
    result.triggered = decision.trigger
    result.reason = ("; ".join(signals) + " -> " if signals else "") + decision.reason

    html_key = lake.report_key(REPORT_KIND, cfg.dataset.name, ds, "report.html")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "drift_report.html"
        snapshot.save_html(str(html))
        lake.storage.write_bytes(html_key, html.read_bytes())
        result.report_uri = lake.storage.uri(html_key)
        result.monitoring_run_id = _log_monitoring_run(tracking_uri, cfg, result, html, tags or {})
    result.summary_uri = lake.write_json(
        lake.report_key(REPORT_KIND, cfg.dataset.name, ds, "summary.json"), result.as_dict()
    )
    return result


def _log_monitoring_run(tracking_uri: str, cfg: PipelineConfig, result: MonitorResult, html, tags: dict) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{cfg.mlflow.experiment}-monitoring")
    run_tags = {
        **tags,
        "monitoring.ds": result.ds,
        "model_name": cfg.model.name,
        "champion_version": str(result.champion_version),
        "drifted": str(result.drifted).lower(),
        "triggered": str(result.triggered).lower(),
    }
    with mlflow.start_run(run_name=f"drift {result.ds}", tags=run_tags) as run:
        metrics = {
            "drift_share": result.drift_share,
            "n_drifted_columns": len(result.drifted_columns),
            "rows_reference": result.rows_reference,
            "rows_current": result.rows_current,
        }
        if result.prediction_score is not None:
            metrics["prediction_drift_score"] = result.prediction_score
        if result.performance:
            metrics[f"current_{result.performance['metric']}"] = result.performance["current"]
        for col in result.top_columns:
            metrics[f"drift_score.{col['column']}"] = col["score"]
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))})
        mlflow.log_artifact(str(html), "drift")
        mlflow.log_dict(result.as_dict(), "drift/summary.json")
    return run.info.run_id


def render_table(result: MonitorResult) -> str:
    """The most drifted columns as a small fixed-width table for the task log."""
    lines = [f"{'column':<24} {'method':<32} {'score':>8} {'threshold':>9}  drifted"]
    for c in result.top_columns:
        lines.append(
            f"{c['column']:<24} {c['method'][:32]:<32} {c['score']:>8.4f} {c['threshold']:>9.3f}  "
            f"{'YES' if c['drifted'] else 'no'}"
        )
    return "\n".join(lines)
