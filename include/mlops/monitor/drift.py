"""Daily drift monitoring with Evidently 0.7 on the prediction log, and the decision to retrain.

Nothing is re-scored here: what the champion predicted is read from the prediction log
(``predictions/<dataset>/ds=D``, written by ``score_batch``; see ``include.mlops.data.outcomes``).

- **Feature drift.** The reference is the data the current champion was trained on, found through its
  MLflow run's lineage (``lineage/training_data.json``), not "whatever is newest"; the current window
  is the ``drift.window_days`` days before the run's data interval end, so a backfill checks the days it
  names. Both sides are a seeded sample, capped per side, of only the feature columns the model uses,
  typed as the model typed them, stratified by the target where the curated batch has it (with
  ``dataset.label_delay_days`` > 0 it has not: the labels arrive later in ``labels/``).
- **Prediction drift.** The ``score`` the champion version logged on the current window's days against
  the scores the same version logged on the ``drift.prediction_reference_days`` days before the window:
  out-of-sample scores of the same model, what it "normally" predicted just before. Rows of other
  versions are left out; window days not scored (or scored by another version) are listed in the
  summary. A champion with no logged scores before the window (just promoted) has no prediction-drift
  signal that day, with the reason in ``notes``: the alternative, scoring its training sample, would
  compare in-sample scores (sharper than any out-of-sample ones) with logged ones and call that drift.
  No prediction partition at all in the window: no prediction-drift signal that day (the reason in ``notes``).
- **Realized metric.** The champion's logged predictions joined by key with the labels that have
  matured by the window end (day + ``dataset.label_delay_days`` < end), on the
  ``drift.performance_window_days`` newest matured days, per day and pooled; against its evaluation
  value (``evaluation.challenger_value``): degraded when worse by more than ``drift.performance_tolerance``.
  The summary lists ``labelled_days`` and ``unlabelled_days`` (scored, labels not in yet).
- ``decide_trigger`` is pure: cooldown counted in logical days, N-of-M drifted days, no trigger while
  a training run is queued or running. Its history comes from the lake (one summary per day), so a
  backfill behaves like live days.

The check is cut along its jobs: ``include.mlops.data.sampling`` reads the seeded samples,
``statistics`` runs Evidently, ``realized`` reads the prediction log and the labels, ``trigger`` holds the
retraining policy, ``signals`` turns the measurements into the day's ``MonitorResult`` (pure), ``reporting``
renders it and logs the MLflow monitoring run. This module reads what they need and runs them in order.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import InsufficientData
from include.mlops.data.lake import Lake
from include.mlops.data.sampling import read_sampled
from include.mlops.monitor.realized import days_between, logged_scores, realized_metric
from include.mlops.monitor.reporting import log_monitoring_run, render_performance, render_table
from include.mlops.monitor.result import REPORT_KIND, MonitorResult, PredictionDrift
from include.mlops.monitor.signals import Measured, assess
from include.mlops.monitor.statistics import compute_drift
from include.mlops.monitor.trigger import history_days, retrain_training_days

if TYPE_CHECKING:
    from mlflow import MlflowClient

# what the operator, the benchmarks and the dashboards import from here
__all__ = [
    "REPORT_KIND",
    "MonitorResult",
    "Reference",
    "champion_reference",
    "compute_drift",
    "history_from_lake",
    "monitor",
    "prediction_drift",
    "read_sampled",
    "render_performance",
    "render_table",
]

log = logging.getLogger(__name__)


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
    lineage = _run_json(client, mv.run_id, "lineage/training_data.json")
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


def _run_json(client: MlflowClient, run_id: str, path: str) -> Any:
    """The JSON artifact ``path`` of run ``run_id``, read through ``client`` (no process-wide tracking URI)."""
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(Path(client.download_artifacts(run_id, path, tmp)).read_text())


def history_from_lake(lake: Lake, dataset: str, today: dt.date, days: int) -> dict[str, dict[str, Any]]:
    """The daily summaries of the ``days`` days before ``today`` that the lake has, by ISO day."""
    out = {}
    for i in range(1, days + 1):
        day = today - dt.timedelta(days=i)
        key = lake.report_key(REPORT_KIND, dataset, day, "summary.json")
        if lake.storage.exists(key):
            out[day.isoformat()] = lake.read_json(key)
    return out


def prediction_drift(
    lake: Lake, cfg: PipelineConfig, version: str, start: dt.date, window_end: dt.date
) -> PredictionDrift:
    """Prediction drift from the log: the champion's logged scores on the current window against its own
    logged scores on the ``drift.prediction_reference_days`` days before it, with the days each side covered;
    no verdict (``drifted`` None) when a side has no scores, the reason in ``notes``."""
    from include.mlops.data import outcomes

    dcfg, name = cfg.drift, cfg.dataset.name
    logged = set(lake.list_partitions(outcomes.PREDICTIONS, name))
    current_days = days_between(start, window_end)
    if not logged & set(current_days):
        # Not a failure: a champion promoted today has scored nothing yet, and feature drift and the realized
        # metric need no prediction log. The summary says what to run.
        return PredictionDrift(
            unscored_days=list(current_days),
            notes=(
                f"prediction drift: no predictions are logged for {name} on {current_days[0]}..{current_days[-1]} "
                f"(predictions/{name}/ds=...): no prediction-drift signal today; run or backfill score_batch for "
                "those days",
            ),
        )
    current = logged_scores(lake, cfg, current_days, version, dcfg.sample_cap, dcfg.seed, logged)
    ref_start = start - dt.timedelta(days=dcfg.prediction_reference_days)
    reference = logged_scores(
        lake, cfg, days_between(ref_start, start), version, dcfg.sample_cap, dcfg.seed + 1, logged
    )
    covered = PredictionDrift(
        scored_days=current.days,
        unscored_days=current.unscored_days,
        other_version_days=current.other_version_days,
        reference_days=reference.days,
    )
    if not current.days:
        note = (
            f"prediction drift: version {version} scored no day of the window {current_days[0]}..{current_days[-1]}"
            f" (unscored: {current.unscored_days or 'none'}; other versions: {current.other_version_days or 'none'})"
        )
        return replace(covered, notes=(note,))
    if not reference.days:
        note = (
            f"prediction drift: version {version} logged no scores on the {dcfg.prediction_reference_days} days "
            f"before the window ({ref_start}..{start - dt.timedelta(days=1)}; just promoted, or those days were "
            "not scored): no prediction-drift signal today"
        )
        return replace(covered, notes=(note,))
    import pandas as pd

    drift, snapshot = compute_drift(
        pd.DataFrame({outcomes.SCORE: reference.scores}),
        pd.DataFrame({outcomes.SCORE: current.scores}),
        [],
        [],
        dcfg,
        prediction=outcomes.SCORE,
    )
    if drift.prediction is None:
        return replace(covered, snapshot=snapshot)
    return replace(covered, drifted=drift.prediction.drifted, score=drift.prediction.score, snapshot=snapshot)


def monitor(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    window_end: dt.date,
    training_active: bool,
    tags: dict[str, str] | None = None,
) -> MonitorResult:
    """The daily check for the window ending (exclusive) at ``window_end``. Nothing is re-scored: prediction
    drift and the realized metric come from the prediction log (and the matured labels). Every MLflow read and
    the monitoring run go through ``client``."""
    from include.mlops.model.registry import champion_version

    ds = window_end - dt.timedelta(days=1)
    start = window_end - dt.timedelta(days=cfg.drift.window_days)
    window = {"start": start.isoformat(), "end": window_end.isoformat()}
    version = champion_version(client, cfg.model.name)
    if version is None:
        return MonitorResult(
            ds=ds.isoformat(),
            model_name=cfg.model.name,
            champion_version=None,
            window=window,
            reason=f"no champion for {cfg.model.name} yet: nothing to monitor",
        )
    ref = champion_reference(client, cfg.model.name, version)
    measured, snapshot = measure(lake, cfg, ref, start, window_end)
    training_days = retrain_training_days(cfg, window_end)
    result = assess(
        measured,
        cfg,
        history=history_from_lake(lake, cfg.dataset.name, ds, history_days(cfg, ds, training_days)),
        training_days=training_days,
        training_active=training_active,
    )
    return publish(client, cfg, lake, result, snapshot, measured.prediction.snapshot, tags or {})


def measure(
    lake: Lake, cfg: PipelineConfig, ref: Reference, start: dt.date, window_end: dt.date
) -> tuple[Measured, Any]:
    """What the check reads and computes for the champion ``ref``: feature drift of the current window against its
    training days, prediction drift (when ``drift.prediction_drift``), the realized metric. Returns the
    measurements and the feature-drift Evidently snapshot."""
    dcfg, name, target = cfg.drift, cfg.dataset.name, cfg.dataset.target
    features = ref.numeric + ref.categorical
    # features only; the target (absent from curated when labels arrive late) only stratifies where present
    current, current_days, _ = read_sampled(
        lake, name, days_between(start, window_end), features, dcfg.sample_cap, dcfg.seed, target
    )
    reference, reference_days, _ = read_sampled(lake, name, ref.days, features, dcfg.sample_cap, dcfg.seed, target)
    drift, snapshot = compute_drift(reference, current, ref.numeric, ref.categorical, dcfg)
    del current, reference
    predictions = (
        prediction_drift(lake, cfg, ref.champion_version, start, window_end)
        if dcfg.prediction_drift
        else PredictionDrift()
    )
    measured = Measured(
        ds=window_end - dt.timedelta(days=1),
        window={"start": start.isoformat(), "end": window_end.isoformat()},
        champion_version=ref.champion_version,
        features=drift,
        current_days=current_days,
        reference_days=reference_days,
        prediction=predictions,
        realized=realized_metric(lake, cfg, ref.champion_version, window_end),
        evaluation_value=ref.evaluation_value,
    )
    return measured, snapshot


def publish(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    result: MonitorResult,
    snapshot: Any,
    prediction_snapshot: Any,
    tags: dict[str, str],
) -> MonitorResult:
    """Write the Evidently reports beside the day's summary in the lake, log the monitoring run, then write the
    summary; returns ``result`` with their URIs and the run id."""
    import tempfile
    from pathlib import Path

    ds = dt.date.fromisoformat(result.ds)
    with tempfile.TemporaryDirectory() as tmp:
        htmls: list[Path] = []
        uris: dict[str, Any] = {}
        for filename, snap, attr in (
            ("report.html", snapshot, "report_uri"),
            ("prediction_report.html", prediction_snapshot, "prediction_report_uri"),
        ):
            if snap is None:
                continue
            html = Path(tmp) / filename
            snap.save_html(str(html))
            key = lake.report_key(REPORT_KIND, cfg.dataset.name, ds, filename)
            lake.storage.write_bytes(key, html.read_bytes())
            uris[attr] = lake.storage.uri(key)
            htmls.append(html)
        result = replace(result, **uris)
        result = replace(result, monitoring_run_id=log_monitoring_run(client, cfg, result, htmls, tags))
    summary_uri = lake.write_json(lake.report_key(REPORT_KIND, cfg.dataset.name, ds, "summary.json"), result.as_dict())
    return replace(result, summary_uri=summary_uri)
