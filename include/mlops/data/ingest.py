"""Land a day's batch, gate it with the expectation suite, then publish or quarantine it.

Every step reads and writes exactly one date partition, so re-running a day (a retry, a clear, a
backfill) replaces that day and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import CorruptPartition, CuratedDayKept, DataValidationFailed
from include.mlops.core.jsonsafe import json_safe
from include.mlops.data.lake import DATA_FILE, Lake, PartitionInfo, partition_prefix
from include.mlops.data.validation import (
    FailedExpectation,
    ParquetSource,
    ValidationSummary,
    derive_suite,
    label_suite,
    load_suite,
    stale_keys,
    validate_frame,
    validate_source,
    without_target,
)

log = logging.getLogger(__name__)

DERIVED_SUITE_KEY = "suites/{dataset}.json"
LABELS_SUFFIX = ".labels"  # a failing label feed of day D: quarantine/<dataset>.labels/ds=D/ (+ validation.json)


def land_batch(cfg: PipelineConfig, lake: Lake, day: dt.date, storage_client: Any = None) -> PartitionInfo:
    """Copy the day's batch from the source into ``landing`` (replacing any earlier landing)."""
    from include.mlops.data.sources import load_day

    frame = load_day(cfg, day, storage_client)
    return lake.write_partition("landing", cfg.dataset.name, day, frame)


def suite_for(cfg: PipelineConfig, lake: Lake, storage_client: Any = None) -> dict[str, Any]:
    """The feature batch's suite: ``_suite_for`` without expectations on the target when the labels arrive
    late (``dataset.label_delay_days`` > 0: the batch has no target; the labels have ``label_suite``)."""
    suite = _suite_for(cfg, lake, storage_client)
    return without_target(suite, cfg.dataset.target) if cfg.dataset.label_delay_days > 0 else suite


def _suite_for(cfg: PipelineConfig, lake: Lake, storage_client: Any = None) -> dict[str, Any]:
    """The configured suite file, else the suite derived from the whole source and kept in the lake.

    A kept suite records the config keys it was derived from; when one of them changed (a corrected
    target, new features, a positive_label) it no longer fits and is derived again, the old one kept
    beside it with a timestamp (``suites/<dataset>.<UTC time>.json``) and a warning naming the keys."""
    path = cfg.suite_path()
    if path is not None:
        return load_suite(path)
    key = DERIVED_SUITE_KEY.format(dataset=cfg.dataset.name)
    if lake.storage.exists(key):
        kept = lake.read_json(key)
        changed = stale_keys(kept, cfg)
        if not changed:
            return kept
        reason = (
            "has no record of what it was derived from (kept by an older version)"
            if changed == ["derived_from"]
            else f"no longer fits the config: changed since it was derived: {', '.join(changed)}"
        )
        return derive_and_keep(cfg, lake, storage_client, reason=reason)
    return derive_and_keep(cfg, lake, storage_client)


def derive_and_keep(cfg: PipelineConfig, lake: Lake, storage_client: Any = None, reason: str | None = None) -> dict:
    """Derive the dataset's suite from the whole source into the lake; an earlier one is kept beside it."""
    key = DERIVED_SUITE_KEY.format(dataset=cfg.dataset.name)
    if cfg.dataset.uri is None:
        from include.mlops.data.simulator import generate_day

        sample = generate_day(dt.date(2026, 1, 5), seed=cfg.simulator.seed, rows_per_day=2000)
    else:
        from include.mlops.data.sources import read_source

        sample = read_source(cfg, storage_client)
    suite = derive_suite(
        sample,
        name=cfg.dataset.name,
        target=cfg.dataset.target,
        timestamp_column=cfg.dataset.timestamp_column,
        task=cfg.dataset.task,
        cfg=cfg,
    )
    kept_at = None
    if lake.storage.exists(key):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        kept_at = key.removesuffix(".json") + f".{stamp}.json"
        lake.storage.write_bytes(kept_at, lake.storage.read_bytes(key))
    lake.write_json(key, suite)
    if kept_at:
        log.warning(
            "the derived suite %s %s; derived it again from %d rows (%d expectations); the old one is kept at %s",
            lake.storage.uri(key),
            reason or "was derived again on request",
            len(sample),
            len(suite["expectations"]),
            lake.storage.uri(kept_at),
        )
    else:
        log.info(
            "derived an expectation suite of %d expectations into %s", len(suite["expectations"]), lake.storage.uri(key)
        )
    return suite


def validate_landed(
    cfg: PipelineConfig, lake: Lake, day: dt.date, storage_client: Any = None, requarantine_curated: bool = False
) -> ValidationSummary:
    """Validate the landed batch. On failure: move it to quarantine with the result beside it and raise.

    A day that is already curated is never moved out by a failing re-validation unless
    ``requarantine_curated`` says so: it stays in ``curated/`` untouched and ``CuratedDayKept`` says
    why (the suite changed, or the source's batch for the day changed) and how to move it."""
    dataset = cfg.dataset.name
    # the file is decoded a slice at a time (the columns each expectation reads), never as a whole frame,
    # so a passing day costs about one column's memory whatever its row count; a failing one is read whole
    # below, to be quarantined as landed
    with lake.partition_file("landing", dataset, day) as data:  # decoded in place: the file is never held whole
        source = ParquetSource(data, lake.storage.uri(f"{partition_prefix('landing', dataset, day)}/{DATA_FILE}"))
        summary = validate_source(source, suite_for(cfg, lake, storage_client))
        del source
    report = summary.as_dict() | {"dataset": dataset, "ds": day.isoformat()}
    lake.write_json(lake.report_key("validation", dataset, day, "validation.json"), report)
    if summary.success:
        return summary
    frame, landed = lake.read_partition_with_info("landing", dataset, day)
    curated = _curated_info(lake, dataset, day)
    if curated is not None and not requarantine_curated:
        if curated.content_hash == landed.content_hash:
            cause = "its landed data is identical to the curated copy, so the suite changed, not the data"
        else:
            cause = (
                f"the source's batch for this day changed since it was published (content {curated.content_hash[:12]}"
                f" -> {landed.content_hash[:12]})"
            )
        raise CuratedDayKept(
            summary.message(f"{dataset} ds={day}")
            + f"\n{dataset} ds={day} is published in curated/ and was NOT moved to quarantine: {cause}. Nothing "
            "was deleted; training still uses the curated copy. If the suite is wrong (a derived suite: "
            "`python -m include.mlops.cli suite show`), fix it and re-run. To move the day to quarantine anyway, "
            're-run with requarantine_curated (DAG conf {"requarantine_curated": true}, or '
            "`load-history --requarantine-curated`).",
            report | {"kept_in_curated": True, "cause": cause},
        )
    quarantine(cfg, lake, day, frame, report)
    raise DataValidationFailed(
        summary.message(f"{dataset} ds={day}")
        + f"\nThe batch is in quarantine at {lake.storage.uri(f'quarantine/{dataset}/ds={day}')}; nothing was "
        "published and nothing trains on it. Fix the source and clear land_batch with its downstream tasks (the day "
        "is re-landed), or leave the day quarantined.",
        report,
    )


def quarantine(cfg: PipelineConfig, lake: Lake, day: dt.date, frame: Any, report: dict[str, Any]) -> PartitionInfo:
    """Put the batch in quarantine. A curated copy of the day (moved on request) is kept beside it as
    ``previously-curated.parquet`` when it differs from the batch: nothing is deleted."""
    dataset = cfg.dataset.name
    info = lake.write_partition("quarantine", dataset, day, frame)
    if lake.has_partition("curated", dataset, day):
        curated = _curated_info(lake, dataset, day)
        if curated is not None and curated.content_hash != info.content_hash:
            data = lake.storage.read_bytes(f"curated/{dataset}/ds={day.isoformat()}/{DATA_FILE}")
            lake.storage.write_bytes(f"quarantine/{dataset}/ds={day.isoformat()}/previously-curated.parquet", data)
        lake.delete_partition("curated", dataset, day)  # a day that fails now must not stay trainable
    lake.write_json(f"quarantine/{dataset}/ds={day.isoformat()}/validation.json", report)
    return info


@dataclass(frozen=True)
class Quarantined:
    """What a failed validation (``DataValidationFailed``) left, in words: for a task's OUTCOME line and XCom, the
    history loader's status line."""

    status: str  # "quarantined", or "kept" (a curated day the re-validation failed, left in curated/)
    failed: tuple[str, ...]  # each failed expectation in words (``FailedExpectation.describe``)
    rows: int | None  # rows validated
    cause: str | None  # why a curated day was re-validated (``summary["cause"]``), if it was
    summary: dict[str, Any]  # the validation result, JSON-safe (what ``validation.json`` holds)

    @property
    def first(self) -> str:
        """The first failed expectation in words, else where to read why."""
        return self.failed[0] if self.failed else "see validation.json"


def quarantined(exc: DataValidationFailed) -> Quarantined:
    """``exc`` (from ``validate_landed`` or ``land_labels``) in words."""
    failed = tuple(FailedExpectation(**f).describe() for f in exc.summary.get("failed", []))
    status = "kept" if isinstance(exc, CuratedDayKept) else "quarantined"
    return Quarantined(status, failed, exc.summary.get("rows"), exc.summary.get("cause"), json_safe(exc.summary))


def _curated_info(lake: Lake, dataset: str, day: dt.date) -> PartitionInfo | None:
    """The curated partition of the day; None when absent or unreadable (a damaged file is not good data)."""
    try:
        return lake.partition_info("curated", dataset, day)
    except CorruptPartition:
        return None


def publish(cfg: PipelineConfig, lake: Lake, day: dt.date) -> PartitionInfo:
    """Promote the validated landing partition to ``curated`` and drop any quarantined copy of the day."""
    dataset = cfg.dataset.name
    frame = lake.read_partition("landing", dataset, day)
    info = lake.write_partition("curated", dataset, day, frame)
    lake.delete_partition("quarantine", dataset, day)
    return info


def label_day(cfg: PipelineConfig, run_day: dt.date) -> dt.date:
    """The day whose labels the run of ``run_day`` lands: ``run_day - dataset.label_delay_days``."""
    return run_day - dt.timedelta(days=cfg.dataset.label_delay_days)


@dataclass(frozen=True)
class LabelsLanded:
    ds: str  # the day of the events the labels belong to
    run_ds: str  # the day whose run landed them (ds + label_delay_days)
    rows: int
    positives: int | None  # classification: rows with target 1
    uri: str
    content_hash: str
    evaluated: int  # expectations of the label suite, all passed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def labels_quarantine_prefix(cfg: PipelineConfig, day: dt.date) -> str:
    return f"quarantine/{cfg.dataset.name}{LABELS_SUFFIX}/ds={day.isoformat()}"


def land_labels(cfg: PipelineConfig, lake: Lake, run_day: dt.date, storage_client: Any = None) -> LabelsLanded:
    """Land and validate the label feed of the events of ``run_day - label_delay_days`` into
    ``labels/<dataset>/ds=<that day>/`` (replacing it). A feed that fails ``label_suite`` goes to
    ``quarantine/<dataset>.labels/ds=<day>/`` with ``validation.json`` beside it, any labels landed
    before for the day are left as they are, and ``DataValidationFailed`` names the failed checks.

    Labels may land for a day whose features are quarantined or missing: they are never joined then."""
    from include.mlops.data.outcomes import LABELS
    from include.mlops.data.sources import load_labels

    dataset, day = cfg.dataset.name, label_day(cfg, run_day)
    frame = load_labels(cfg, day, storage_client)
    summary = validate_frame(frame, label_suite(cfg))
    report = summary.as_dict() | {"dataset": dataset, "ds": day.isoformat(), "run_ds": run_day.isoformat()}
    lake.write_json(lake.report_key("validation", dataset + LABELS_SUFFIX, day, "validation.json"), report)
    if not summary.success:
        prefix = labels_quarantine_prefix(cfg, day)
        lake.write_partition("quarantine", dataset + LABELS_SUFFIX, day, frame)
        lake.write_json(f"{prefix}/validation.json", report)
        kept = (
            "the labels landed before for that day are kept"
            if lake.has_partition(LABELS, dataset, day)
            else "no labels of that day are in the lake"
        )
        raise DataValidationFailed(
            summary.message(f"labels of {dataset} ds={day}")
            + f"\nThe label feed is in quarantine at {lake.storage.uri(prefix)}; {kept}, and no training uses "
            f"days without labels. Fix the label feed ({cfg.dataset.labels_uri or 'the simulator'}) and clear "
            f"land_labels of the run of {run_day}.",
            report,
        )
    info = lake.write_partition(LABELS, dataset, day, frame)
    lake.delete_partition("quarantine", dataset + LABELS_SUFFIX, day)
    positives = int(frame[cfg.dataset.target].sum()) if cfg.dataset.task == "classification" else None
    return LabelsLanded(
        day.isoformat(), run_day.isoformat(), info.rows, positives, info.uri, info.content_hash, summary.evaluated
    )


def ingest_labels(cfg: PipelineConfig, lake: Lake, run_day: dt.date, storage_client: Any = None) -> dict[str, Any]:
    """``land_labels`` as a status dict (``landed`` or ``quarantined`` with ``failed`` in words)."""
    try:
        landed = land_labels(cfg, lake, run_day, storage_client)
    except DataValidationFailed as exc:
        q = quarantined(exc)
        return {"ds": label_day(cfg, run_day).isoformat(), "status": q.status, "rows": q.rows, "failed": list(q.failed)}
    return {"ds": landed.ds, "status": "landed", "rows": landed.rows}


def ingest_day(
    cfg: PipelineConfig,
    lake: Lake,
    day: dt.date,
    storage_client: Any = None,
    requarantine_curated: bool = False,
    labels_from: dt.date | None = None,
) -> dict[str, Any]:
    """land -> validate -> publish|quarantine in one call (the history loader and seeding use this).

    Status ``published``, ``quarantined`` or ``kept`` (a curated day the re-validation failed, left in
    curated/); for the last two, ``failed`` lists the failed expectations in words. With
    ``dataset.label_delay_days`` > 0 it also lands the labels of ``day - delay`` as the day's run would
    (key ``labels``), unless that day is before ``labels_from`` (the first day of a loaded history)."""
    batch = _ingest_batch(cfg, lake, day, storage_client, requarantine_curated)
    if cfg.dataset.label_delay_days > 0 and (labels_from is None or label_day(cfg, day) >= labels_from):
        batch["labels"] = ingest_labels(cfg, lake, day, storage_client)
    return batch


def _ingest_batch(
    cfg: PipelineConfig, lake: Lake, day: dt.date, storage_client: Any, requarantine_curated: bool
) -> dict[str, Any]:
    landed = land_batch(cfg, lake, day, storage_client)
    try:
        validate_landed(cfg, lake, day, storage_client, requarantine_curated=requarantine_curated)
    except DataValidationFailed as exc:
        q = quarantined(exc)
        return {
            "ds": day.isoformat(),
            "status": q.status,
            "rows": landed.rows,
            "failed": list(q.failed),
            "cause": q.cause,
        }
    curated = publish(cfg, lake, day)
    return {"ds": day.isoformat(), "status": "published", "rows": curated.rows}
