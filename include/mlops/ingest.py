"""Land a day's batch, gate it with the expectation suite, then publish or quarantine it.

Every step reads and writes exactly one date partition, so re-running a day (a retry, a clear, a
backfill) replaces that day and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from include.mlops.config import PipelineConfig
from include.mlops.exceptions import DataValidationFailed
from include.mlops.lake import Lake, PartitionInfo
from include.mlops.validation import ValidationSummary, derive_suite, load_suite, validate_frame

log = logging.getLogger(__name__)

DERIVED_SUITE_KEY = "suites/{dataset}.json"


def land_batch(cfg: PipelineConfig, lake: Lake, day: dt.date, storage_client: Any = None) -> PartitionInfo:
    """Copy the day's batch from the source into ``landing`` (replacing any earlier landing)."""
    from include.mlops.sources import load_day

    frame = load_day(cfg, day, storage_client)
    return lake.write_partition("landing", cfg.dataset.name, day, frame)


def suite_for(cfg: PipelineConfig, lake: Lake, storage_client: Any = None) -> dict[str, Any]:
    """The configured suite file, else a suite derived once from the whole source and kept in the lake."""
    path = cfg.suite_path()
    if path is not None:
        return load_suite(path)
    key = DERIVED_SUITE_KEY.format(dataset=cfg.dataset.name)
    if lake.storage.exists(key):
        return lake.read_json(key)
    if cfg.dataset.uri is None:
        from include.mlops.simulator import generate_day

        sample = generate_day(dt.date(2026, 1, 5), seed=cfg.simulator.seed, rows_per_day=2000)
    else:
        from include.mlops.sources import read_source

        sample = read_source(cfg, storage_client)
    suite = derive_suite(
        sample,
        name=cfg.dataset.name,
        target=cfg.dataset.target,
        timestamp_column=cfg.dataset.timestamp_column,
        task=cfg.dataset.task,
    )
    lake.write_json(key, suite)
    log.info(
        "derived an expectation suite of %d expectations into %s", len(suite["expectations"]), lake.storage.uri(key)
    )
    return suite


def validate_landed(cfg: PipelineConfig, lake: Lake, day: dt.date, storage_client: Any = None) -> ValidationSummary:
    """Validate the landed batch. On failure: move it to quarantine with the result beside it and raise."""
    dataset = cfg.dataset.name
    frame = lake.read_partition("landing", dataset, day)
    summary = validate_frame(frame, suite_for(cfg, lake, storage_client))
    report = summary.as_dict() | {"dataset": dataset, "ds": day.isoformat()}
    lake.write_json(lake.report_key("validation", dataset, day, "validation.json"), report)
    if summary.success:
        return summary
    quarantine(cfg, lake, day, frame, report)
    raise DataValidationFailed(
        summary.message(f"{dataset} ds={day}")
        + f"\nThe batch is in quarantine at {lake.storage.uri(f'quarantine/{dataset}/ds={day}')}; nothing was "
        "published and nothing trains on it. Fix the source and clear land_batch with its downstream tasks (the day "
        "is re-landed), or leave the day quarantined.",
        report,
    )


def quarantine(cfg: PipelineConfig, lake: Lake, day: dt.date, frame: Any, report: dict[str, Any]) -> PartitionInfo:
    dataset = cfg.dataset.name
    lake.delete_partition("curated", dataset, day)  # a day that fails now must not stay trainable
    info = lake.write_partition("quarantine", dataset, day, frame)
    lake.write_json(f"quarantine/{dataset}/ds={day.isoformat()}/validation.json", report)
    return info


def publish(cfg: PipelineConfig, lake: Lake, day: dt.date) -> PartitionInfo:
    """Promote the validated landing partition to ``curated`` and drop any quarantined copy of the day."""
    dataset = cfg.dataset.name
    frame = lake.read_partition("landing", dataset, day)
    info = lake.write_partition("curated", dataset, day, frame)
    lake.delete_partition("quarantine", dataset, day)
    return info


def ingest_day(cfg: PipelineConfig, lake: Lake, day: dt.date, storage_client: Any = None) -> dict[str, Any]:
    """land -> validate -> publish|quarantine in one call (the history loader and seeding use this)."""
    landed = land_batch(cfg, lake, day, storage_client)
    try:
        validate_landed(cfg, lake, day, storage_client)
    except DataValidationFailed as exc:
        return {
            "ds": day.isoformat(),
            "status": "quarantined",
            "rows": landed.rows,
            "failed": len(exc.summary.get("failed", [])),
        }
    curated = publish(cfg, lake, day)
    return {"ds": day.isoformat(), "status": "published", "rows": curated.rows}
