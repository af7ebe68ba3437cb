"""Health of the pipeline as Prometheus samples, read from the lake and the MLflow registry (no Airflow).

``collect(cfg, lake, client)`` returns the samples; ``render(samples)`` the Prometheus text exposition
format. The plugin serves it at ``/mlops/metrics`` on the API server (``mlops_airflow.metrics``), cached
for a short while; nothing here runs at DAG parse time.

Values describe the **data day** they belong to, exposed as the timestamp of that day (midnight UTC, in
seconds): "latest" is always the greatest day present, never the day written last, so a backfill of old
days never moves a ``mlops_latest_*`` gauge backwards. Every sample carries ``dataset``; model samples
carry ``model`` too; per-column drift carries ``column``. What a scrape reads:

- lake: one listing each of ``curated/<dataset>/``, ``quarantine/<dataset>/`` and
  ``reports/drift/<dataset>/``, the newest curated partition (its row count) and the newest drift
  summaries (``summary.json``: the newest one, then back while the days keep drifting, at most
  ``STREAK_CAP``);
- registry: one search of the model's versions (tags: ``evaluation.*``, ``promotion.*``,
  ``rollback.*``), the champion alias, the newest finished and failed training run of the experiment.

A source that cannot be read (lake or registry down) leaves its samples out and sets
``mlops_health_source_up{source=...}`` to 0; the other source is still reported.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from include.mlops.core.config import PipelineConfig
    from include.mlops.data.lake import Lake

log = logging.getLogger(__name__)

STREAK_CAP = 30  # drift summaries read back at most, for mlops_drift_consecutive_days
DRIFT_KIND = (
    "drift"  # include.mlops.monitor.drift.REPORT_KIND (not imported: that module pulls in its config at import)
)

# name -> (type, help). Counters are named *_total; gauges of a day are *_timestamp_seconds.
METRICS: dict[str, tuple[str, str]] = {
    "mlops_health_source_up": ("gauge", "1 if the source (lake, registry) could be read at the last collection"),
    "mlops_health_collect_duration_seconds": ("gauge", "Time the last collection took"),
    # data: curated / quarantine partitions
    "mlops_latest_published_day_timestamp_seconds": (
        "gauge",
        "Start (00:00 UTC) of the newest curated (published) day of the dataset",
    ),
    "mlops_latest_published_day_age_seconds": (
        "gauge",
        "Seconds from the end of the newest published day to the collection time (freshness)",
    ),
    "mlops_latest_published_day_rows": ("gauge", "Rows in the newest published day"),
    "mlops_published_days": ("gauge", "Days currently published in curated/"),
    "mlops_quarantined_days": ("gauge", "Days currently in quarantine/"),
    "mlops_latest_quarantined_day_timestamp_seconds": ("gauge", "Start (00:00 UTC) of the newest quarantined day"),
    # drift: the newest daily summary reports/drift/<dataset>/ds=<day>/summary.json
    "mlops_drift_latest_checked_day_timestamp_seconds": ("gauge", "Start (00:00 UTC) of the newest drift-checked day"),
    "mlops_drift_share_ratio": ("gauge", "Share of drifted feature columns on the newest checked day"),
    "mlops_drift_share_threshold_ratio": ("gauge", "Share of drifted columns at which the dataset counts as drifted"),
    "mlops_drifted_columns": ("gauge", "Drifted feature columns on the newest checked day"),
    "mlops_drift_detected": (
        "gauge",
        "1 if the newest checked day drifted (features, predictions or performance), else 0",
    ),
    "mlops_drift_consecutive_days": ("gauge", "Consecutive checked days, up to the newest, that drifted"),
    "mlops_drift_column_score": (
        "gauge",
        "Drift score of a column on the newest checked day (the summary's most drifted columns; method-specific)",
    ),
    "mlops_drift_column_threshold": ("gauge", "Drift threshold of the column's method on the newest checked day"),
    "mlops_drift_column_detected": ("gauge", "1 if the column drifted on the newest checked day"),
    "mlops_prediction_drift_score": ("gauge", "Drift score of the champion's predictions on the newest checked day"),
    "mlops_prediction_drift_detected": ("gauge", "1 if the champion's predictions drifted on the newest checked day"),
    "mlops_champion_current_metric": (
        "gauge",
        "The champion's realized primary metric on the newest checked day (realized: logged predictions joined "
        "with matured labels, pooled over the labelled days)",
    ),
    "mlops_champion_labelled_days": (
        "gauge",
        "Days in the realized metric of the newest drift summary (scored by the champion, labels matured and in)",
    ),
    # registry
    "mlops_champion_present": ("gauge", "1 if the champion alias points at a version, else 0"),
    "mlops_champion_version": ("gauge", "Model version the champion alias points at"),
    "mlops_champion_evaluation_metric": ("gauge", "The champion's primary metric on its evaluation holdout"),
    "mlops_champion_metric_floor": ("gauge", "The absolute floor of the primary metric (evaluation.floor)"),
    "mlops_champion_since_timestamp_seconds": ("gauge", "When the champion was promoted or rolled back to"),
    "mlops_model_versions": ("gauge", "Registered versions of the model"),
    "mlops_promotions_total": ("counter", "Versions promoted to champion (tag promotion.promoted_at)"),
    "mlops_rejections_total": ("counter", "Versions an evaluation rejected (evaluation.decision=reject)"),
    "mlops_rollbacks_total": ("counter", "Versions the champion was rolled back to (tag rollback.at)"),
    "mlops_training_last_success_timestamp_seconds": ("gauge", "End of the newest finished training run"),
    "mlops_training_last_duration_seconds": ("gauge", "Duration of the newest finished training run"),
    "mlops_training_last_failure_timestamp_seconds": ("gauge", "End of the newest failed training run in MLflow"),
}


@dataclass(frozen=True)
class Sample:
    name: str  # one of METRICS; a counter's name includes _total
    value: float
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def day_timestamp(ds: str) -> float:
    """Seconds since the epoch of 00:00 UTC of the ISO day ``ds``."""
    return dt.datetime.combine(dt.date.fromisoformat(ds), dt.time(), tzinfo=dt.UTC).timestamp()


def _sample(name: str, value: float | int | None, **labels: str) -> Sample | None:
    if name not in METRICS:
        raise KeyError(f"{name} is not a declared metric")
    if value is None:
        return None
    return Sample(name, float(value), tuple(sorted(labels.items())))


def _keep(samples: Iterable[Sample | None]) -> list[Sample]:
    return [s for s in samples if s is not None]


# -- lake ------------------------------------------------------------------------------------
def _drift_days(lake: Lake, dataset: str) -> list[str]:
    """ISO days with a drift summary, oldest first."""
    days = set()
    for key in lake.storage.list(f"reports/{DRIFT_KIND}/{dataset}/"):
        parts = key.split("/")
        if len(parts) == 5 and parts[3].startswith("ds=") and parts[4] == "summary.json":
            days.add(parts[3][3:])
    return sorted(days)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def lake_samples(cfg: PipelineConfig, lake: Lake, now: float) -> list[Sample]:
    dataset, model = cfg.dataset.name, cfg.model.name
    data: dict[str, str] = {"dataset": dataset}
    both: dict[str, str] = {"dataset": dataset, "model": model}
    out: list[Sample | None] = []

    curated = lake.list_partitions("curated", dataset)
    quarantined = lake.list_partitions("quarantine", dataset)
    out += [
        _sample("mlops_published_days", len(curated), **data),
        _sample("mlops_quarantined_days", len(quarantined), **data),
    ]
    if curated:
        latest = max(curated)
        start = day_timestamp(latest)
        info = lake.partition_info("curated", dataset, latest)
        out += [
            _sample("mlops_latest_published_day_timestamp_seconds", start, **data),
            _sample("mlops_latest_published_day_age_seconds", now - (start + 86400), **data),
            _sample("mlops_latest_published_day_rows", info.rows if info else None, **data),
        ]
    if quarantined:
        out.append(_sample("mlops_latest_quarantined_day_timestamp_seconds", day_timestamp(max(quarantined)), **data))

    out.append(_sample("mlops_drift_share_threshold_ratio", cfg.drift.drift_share, **both))
    days = _drift_days(lake, dataset)
    if days:
        latest = days[-1]
        summary = lake.read_json(lake.report_key(DRIFT_KIND, dataset, latest, "summary.json"))
        labels = {"dataset": dataset, "model": str(summary.get("model_name") or model)}
        out += [
            _sample("mlops_drift_latest_checked_day_timestamp_seconds", day_timestamp(latest), **labels),
            _sample("mlops_drift_share_ratio", _number(summary.get("drift_share")), **labels),
            _sample("mlops_drifted_columns", len(summary.get("drifted_columns") or []), **labels),
            _sample("mlops_drift_detected", 1 if summary.get("drifted") else 0, **labels),
            _sample("mlops_drift_consecutive_days", _streak(lake, dataset, days, summary), **labels),
        ]
        for column in summary.get("top_columns") or []:
            c = {**labels, "column": str(column.get("column"))}
            out += [
                _sample("mlops_drift_column_score", _number(column.get("score")), **c),
                _sample("mlops_drift_column_threshold", _number(column.get("threshold")), **c),
                _sample("mlops_drift_column_detected", 1 if column.get("drifted") else 0, **c),
            ]
        if summary.get("prediction_score") is not None:
            out.append(_sample("mlops_prediction_drift_score", _number(summary["prediction_score"]), **labels))
        if summary.get("prediction_drift") is not None:
            out.append(_sample("mlops_prediction_drift_detected", 1 if summary["prediction_drift"] else 0, **labels))
        performance = summary.get("performance") or {}
        labelled = _labelled_days(summary, performance)
        if labelled is not None:
            out.append(_sample("mlops_champion_labelled_days", len(labelled), **labels))
        if performance.get("metric"):
            out.append(
                _sample(
                    "mlops_champion_current_metric",
                    _number(performance.get("current")),
                    **labels,
                    metric=str(performance["metric"]),
                )
            )
    return _keep(out)


def _labelled_days(summary: dict[str, Any], performance: dict[str, Any]) -> list[Any] | None:
    """The days in the summary's realized metric: performance's labelled days (its ``per_day``), else the
    summary's ``labelled_days``; None for a summary written before either existed (no sample, not a 0)."""
    for days in (performance.get("labelled_days"), performance.get("per_day"), summary.get("labelled_days")):
        if days:
            return list(days)
    if "labelled_days" in summary or "labelled_days" in performance:
        return []  # the realized metric is waiting for labels: 0 days, reported
    return None


def _streak(lake: Lake, dataset: str, days: list[str], newest: dict[str, Any]) -> int:
    """Consecutive calendar days up to the newest checked day that drifted (a day without a summary ends it)."""
    present, streak, summary = set(days), 0, newest
    day = dt.date.fromisoformat(days[-1])
    while summary.get("drifted") and streak < STREAK_CAP:
        streak += 1
        day -= dt.timedelta(days=1)
        if day.isoformat() not in present:
            break
        summary = lake.read_json(lake.report_key(DRIFT_KIND, dataset, day, "summary.json"))
    return streak


# -- registry ---------------------------------------------------------------------------------
def _iso_timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()


def registry_samples(cfg: PipelineConfig, client: MlflowClient) -> list[Sample]:
    from include.mlops.model import registry  # lazily: MLflow only when the registry is read

    model, ev = cfg.model.name, cfg.evaluation
    labels = {"dataset": cfg.dataset.name, "model": model}
    versions = list(client.search_model_versions(f"name = '{model}'"))
    tags = [dict(v.tags or {}) for v in versions]
    out: list[Sample | None] = [
        _sample("mlops_model_versions", len(versions), **labels),
        _sample("mlops_promotions_total", sum(1 for t in tags if t.get("promotion.promoted_at")), **labels),
        _sample("mlops_rejections_total", sum(1 for t in tags if t.get("evaluation.decision") == "reject"), **labels),
        _sample("mlops_rollbacks_total", sum(1 for t in tags if t.get("rollback.at")), **labels),
    ]
    if ev.floor is not None:
        out.append(
            _sample(
                "mlops_champion_metric_floor",
                ev.floor,
                **labels,
                metric=ev.primary_metric,
                direction=ev.direction,
            )
        )
    champion = registry.champion_version(client, model) if versions else None
    out.append(_sample("mlops_champion_present", 0 if champion is None else 1, **labels))
    if champion is not None:
        out.append(_sample("mlops_champion_version", int(champion), **labels))
        champ = next((t for v, t in zip(versions, tags, strict=True) if str(v.version) == champion), None)
        if champ is None:
            champ = dict(client.get_model_version(model, champion).tags or {})
        metric = champ.get("evaluation.primary_metric") or ev.primary_metric
        out.append(
            _sample(
                "mlops_champion_evaluation_metric",
                _number(champ.get("evaluation.challenger_value")),
                **labels,
                metric=metric,
            )
        )
        since = [_iso_timestamp(champ.get("promotion.promoted_at")), _iso_timestamp(champ.get("rollback.at"))]
        known = [s for s in since if s is not None]
        out.append(_sample("mlops_champion_since_timestamp_seconds", max(known) if known else None, **labels))
    out += _training_samples(cfg, client, labels)
    return _keep(out)


def _training_samples(cfg: PipelineConfig, client: MlflowClient, labels: dict[str, str]) -> list[Sample | None]:
    """The newest finished and failed training runs of the experiment (failed: an exception inside the
    MLflow run, or a run an earlier attempt left RUNNING and the retry closed as FAILED)."""
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        return []

    def newest(status: str) -> Any:
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"attributes.status = '{status}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None

    out: list[Sample | None] = []
    finished, failed = newest("FINISHED"), newest("FAILED")
    if finished is not None and finished.info.end_time:
        out.append(_sample("mlops_training_last_success_timestamp_seconds", finished.info.end_time / 1000, **labels))
        if finished.info.start_time:
            duration = (finished.info.end_time - finished.info.start_time) / 1000
            out.append(_sample("mlops_training_last_duration_seconds", duration, **labels))
    if failed is not None:
        when = failed.info.end_time or failed.info.start_time
        out.append(_sample("mlops_training_last_failure_timestamp_seconds", when / 1000 if when else None, **labels))
    return out


# -- together ---------------------------------------------------------------------------------
def collect(
    cfg: PipelineConfig, lake: Lake | None, client: MlflowClient | None, *, now: float | None = None
) -> list[Sample]:
    """Every sample for ``cfg``'s dataset and model. ``lake`` or ``client`` None (could not be opened), or
    one that fails while read, reports its source as down and leaves its samples out."""
    started = time.monotonic()
    now = time.time() if now is None else now
    out: list[Sample] = []
    readers: dict[str, Callable[[], list[Sample]] | None] = {
        "lake": None if lake is None else lambda: lake_samples(cfg, lake, now),
        "registry": None if client is None else lambda: registry_samples(cfg, client),
    }
    for source, read in readers.items():
        up = 0
        if read is not None:
            try:
                out += read()
                up = 1
            except Exception:
                log.exception("reading the %s for the health metrics failed", source)
        out.append(Sample("mlops_health_source_up", up, (("source", source),)))
    out.append(Sample("mlops_health_collect_duration_seconds", time.monotonic() - started))
    return out


def render(samples: Iterable[Sample]) -> bytes:
    """The Prometheus text exposition format (0.0.4) of ``samples``, grouped by metric with HELP and TYPE."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import Collector, CollectorRegistry

    families: dict[str, Metric] = {}
    for s in samples:
        kind, help_text = METRICS[s.name]
        family = families.get(s.name)
        if family is None:
            names = [k for k, _ in s.labels]
            if kind == "counter":
                family = CounterMetricFamily(s.name.removesuffix("_total"), help_text, labels=names)
            else:
                family = GaugeMetricFamily(s.name, help_text, labels=names)
            families[s.name] = family
        family.add_metric([v for _, v in s.labels], s.value)  # type: ignore[attr-defined]

    class _Samples(Collector):
        def collect(self) -> Iterable[Metric]:
            return list(families.values())

    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Samples())
    return generate_latest(reg)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
