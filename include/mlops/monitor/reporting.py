"""The drift check's reports: the tables for the task log, and its MLflow monitoring run (metrics, the Evidently
HTML reports, the summary) logged through a client passed in."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from mlflow import MlflowClient

    from include.mlops.core.config import PipelineConfig
    from include.mlops.monitor.result import MonitorResult


def log_monitoring_run(
    client: MlflowClient, cfg: PipelineConfig, result: MonitorResult, htmls: Iterable[Path], tags: dict[str, str]
) -> str:
    """Log the check as a run of the ``<mlflow.experiment>-monitoring`` experiment through ``client``: its tags,
    ``monitoring_metrics``, the HTML reports under ``drift/`` and the summary as ``drift/summary.json``. Returns
    the run id. A failure while logging leaves the run FAILED and raises."""
    from mlflow.entities import Metric, RunStatus
    from mlflow.utils.time import get_current_time_millis

    run_tags = {
        **tags,
        "monitoring.ds": result.ds,
        "model_name": cfg.model.name,
        "champion_version": str(result.champion_version),
        "drifted": str(result.drifted).lower(),
        "triggered": str(result.triggered).lower(),
    }
    experiment_id = _experiment_id(client, f"{cfg.mlflow.experiment}-monitoring")
    run_id = client.create_run(experiment_id, tags=run_tags, run_name=f"drift {result.ds}").info.run_id
    try:
        now = get_current_time_millis()
        metrics = [Metric(k, v, now, 0) for k, v in monitoring_metrics(result).items()]
        client.log_batch(run_id, metrics=metrics)
        for html in htmls:
            client.log_artifact(run_id, str(html), "drift")
        client.log_dict(run_id, result.as_dict(), "drift/summary.json")
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id)
    return run_id


def monitoring_metrics(result: MonitorResult) -> dict[str, float]:
    """The monitoring run's metrics (finite values only): drift share and counts, the prediction-drift score, the
    day counts of the prediction log, the realized metric (pooled and newest day), each top column's score."""
    metrics: dict[str, Any] = {
        "drift_share": result.drift_share,
        "n_drifted_columns": len(result.drifted_columns),
        "rows_reference": result.rows_reference,
        "rows_current": result.rows_current,
    }
    if result.prediction_score is not None:
        metrics["prediction_drift_score"] = result.prediction_score
    metrics["labelled_days"] = len(result.labelled_days)
    metrics["unlabelled_days"] = len(result.unlabelled_days)
    metrics["unscored_days"] = len(result.unscored_days)
    if result.performance:
        metric = result.performance["metric"]
        metrics[f"realized_{metric}"] = result.performance["realized"]
        metrics[f"current_{metric}"] = result.performance["realized"]  # the name of earlier runs
        newest = max(result.performance["per_day"], default=None)
        if newest is not None:
            metrics[f"realized_{metric}_newest_day"] = result.performance["per_day"][newest]
    for col in result.top_columns:
        metrics[f"drift_score.{col['column']}"] = col["score"]
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created if missing (read back when another task created it meanwhile)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # created concurrently: read it back, else the error stands
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def render_table(result: MonitorResult) -> str:
    """The most drifted columns as a small fixed-width table for the task log."""
    lines = [f"{'column':<24} {'method':<32} {'score':>8} {'threshold':>9}  drifted"]
    for c in result.top_columns:
        lines.append(
            f"{c['column']:<24} {c['method'][:32]:<32} {c['score']:>8.4f} {c['threshold']:>9.3f}  "
            f"{'YES' if c['drifted'] else 'no'}"
        )
    return "\n".join(lines)


def render_performance(result: MonitorResult) -> str:
    """The prediction-log side of the check for the task log: days scored, the realized metric per labelled
    day and pooled against the evaluation value, the days whose labels are not in, and why a signal is off."""
    lines = [
        f"window days scored by the champion: {', '.join(result.scored_days) or 'none'}; "
        f"unscored: {', '.join(result.unscored_days) or 'none'}"
        + (f"; scored by other versions: {result.other_version_days}" if result.other_version_days else "")
    ]
    p = result.performance
    if p:

        def number(v: Any) -> str:
            return "n/a" if v is None else f"{v:.4f}"

        per_day = ", ".join(f"{d} {number(v)}" for d, v in (p.get("per_day") or {}).items())
        lines.append(
            f"realized {p['metric']} {number(p.get('realized'))} pooled over {len(result.labelled_days)} "
            f"labelled days ({p.get('rows', 0)} rows; {per_day}) vs {number(p.get('at_evaluation'))} at evaluation"
            + (" -> DEGRADED" if p.get("degraded") else "")
        )
    lines.append(f"labels not in yet: {', '.join(result.unlabelled_days) or 'none'}")
    lines += result.notes
    return "\n".join(lines)
