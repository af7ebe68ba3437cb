"""Land, validate (Great Expectations) and publish one day's batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops_airflow import links
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.runtime import partition_day

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.mlops.core.exceptions import DataValidationFailed


class DailyPartitionOperator(MlopsOperator):
    """Works on one day's partition: ``ds`` (templated), else the start of the run's data interval.

    A source that cannot be read, or a config that does not fit the data, fails the task at once
    (``SourceUnreadable`` / ``PipelineConfigBroken``); a failed validation too (``BatchQuarantined`` /
    ``CuratedDayNotMoved``), after ``report_quarantine``: see ``mlops_airflow.errors``."""

    template_fields: Sequence[str] = ("ds",)

    def __init__(self, *, ds: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ds = ds

    def report_quarantine(
        self, context: Context, exc: DataValidationFailed, day: Any, *, what: str = "QUARANTINED", checks: str
    ) -> None:
        """A failed validation's result to XCom (key ``validation``), its message to the log as an ERROR and the
        OUTCOME line: ``<what> <dataset> ds=<day>: <n> <checks> failed, first: <the first in words>``."""
        from include.mlops.data.ingest import quarantined

        q = quarantined(exc)
        context["ti"].xcom_push(key="validation", value=q.summary)
        self.log.error("%s", exc)
        self.outcome(
            "%s %s ds=%s: %d %s failed, first: %s",
            "KEPT IN CURATED (not moved)" if q.status == "kept" else what,
            self.config.dataset.name,
            day,
            len(q.failed),
            checks,
            q.first,
        )


class LandBatchOperator(DailyPartitionOperator):
    """Copy the day's batch from the configured source into the lake's landing zone (replacing it)."""

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.data.ingest import land_batch

        day = partition_day(context, self.ds)
        cfg = self.config
        self.begin(
            "land %s ds=%s from %s (config %s)",
            cfg.dataset.name,
            day,
            cfg.dataset.uri or "the simulator",
            cfg.source_path,
        )
        info = land_batch(cfg, self.lake, day, self.source_client())
        self.outcome("landed %d rows at %s", info.rows, info.uri)
        return info.as_dict()


class GxValidateBatchOperator(DailyPartitionOperator):
    """Validate the landed batch with the dataset's Great Expectations suite.

    On success the summary goes to XCom. On failure the batch moves to quarantine with the
    validation result beside it, the summary goes to XCom (key ``validation``) and the task fails
    without retrying, with a message naming each failed expectation, its column and row count.
    """

    ui_color = "#fff3d6"
    operator_extra_links = (links.ReportLink(),)

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.core.exceptions import DataValidationFailed
        from include.mlops.core.jsonsafe import json_safe
        from include.mlops.data.ingest import validate_landed

        day = partition_day(context, self.ds)
        cfg = self.config
        requarantine = (context.get("params") or {}).get("requarantine_curated") is True
        self.begin(
            "validate %s ds=%s with suite %s%s",
            cfg.dataset.name,
            day,
            cfg.dataset.suite or "<derived>",
            " (requarantine_curated: a curated day that fails moves to quarantine)" if requarantine else "",
        )
        self.link_report(self.lake.report_key("validation", cfg.dataset.name, day, "validation.json"))
        try:
            summary = validate_landed(cfg, self.lake, day, self.source_client(), requarantine_curated=requarantine)
        except DataValidationFailed as exc:
            self.report_quarantine(context, exc, day, checks="expectations")
            raise
        self.outcome(
            "PASSED %d expectations on %d rows of %s ds=%s", summary.evaluated, summary.rows, cfg.dataset.name, day
        )
        return json_safe(summary.as_dict())


class LandLabelsOperator(DailyPartitionOperator):
    """Land and validate the late labels the run of day X brings: those of the events of X - label_delay_days.

    Skipped when ``dataset.label_delay_days`` is 0 (the batch holds its labels). A label feed that fails its
    suite goes to ``quarantine/<dataset>.labels/ds=<day>/`` with ``validation.json`` beside it and the task
    fails without retrying, naming the failed checks."""

    ui_color = "#f0e6ff"
    operator_extra_links = (links.ReportLink(),)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.mlops.core.exceptions import DataValidationFailed
        from include.mlops.data.ingest import LABELS_SUFFIX, label_day, land_labels

        run_day = partition_day(context, self.ds)
        cfg = self.config
        delay = cfg.dataset.label_delay_days
        if delay == 0:
            raise AirflowSkipException(
                f"labels arrive in the batch (dataset.label_delay_days is 0 in {cfg.source_path}); nothing to land"
            )
        day = label_day(cfg, run_day)
        self.begin(
            "land the labels of %s ds=%s (%d days late, run of %s) from %s",
            cfg.dataset.name,
            day,
            delay,
            run_day,
            cfg.dataset.labels_uri or "the simulator",
        )
        self.link_report(self.lake.report_key("validation", cfg.dataset.name + LABELS_SUFFIX, day, "validation.json"))
        client = self.lake_hook.s3_client() if self.lake_hook.needs_s3(cfg.dataset.labels_uri) else None
        try:
            landed = land_labels(cfg, self.lake, run_day, client)
        except DataValidationFailed as exc:
            self.report_quarantine(context, exc, day, what="LABELS QUARANTINED", checks="checks")
            raise
        self.outcome(
            "landed %d labels of %s ds=%s (%s positives) at %s",
            landed.rows,
            cfg.dataset.name,
            landed.ds,
            landed.positives if landed.positives is not None else "n/a",
            landed.uri,
        )
        return landed.as_dict()


class PublishBatchOperator(DailyPartitionOperator):
    """Publish the validated batch to the curated zone and emit an asset event for it."""

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.data.ingest import publish

        day = partition_day(context, self.ds)
        cfg = self.config
        self.begin("publish %s ds=%s to the curated zone", cfg.dataset.name, day)
        info = publish(cfg, self.lake, day)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                "dataset": cfg.dataset.name,
                "ds": info.ds,
                "rows": info.rows,
                "content_hash": info.content_hash,
            }
        self.outcome("published %d rows of %s ds=%s at %s", info.rows, cfg.dataset.name, day, info.uri)
        return info.as_dict()
