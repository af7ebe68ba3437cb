"""The training window: which curated days a run trains and holds out on, read and checked.

``check_window`` is what the ``check_training_window`` task does: read the window's curated partitions, refuse a
too-small or degenerate frame, validate it with ``training_suite`` and return the exact partitions (with content
hashes) that training and evaluation must read again (``window_from_check``, ``assemble_window(expected=...)``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.config import PipelineConfig
from include.mlops.exceptions import InsufficientData, WindowInvalid
from include.mlops.jsonsafe import json_safe
from include.mlops.lake import CorruptPartition, Lake
from include.mlops.outcomes import LABELS, join_labels, last_matured_day, matured

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Window:
    """The days a training run uses: train on [start, holdout_start), hold out [holdout_start, end)."""

    start: dt.date
    holdout_start: dt.date
    end: dt.date  # exclusive

    @classmethod
    def ending(cls, end: dt.date, window_days: int, holdout_days: int) -> Window:
        return cls(end - dt.timedelta(days=window_days), end - dt.timedelta(days=holdout_days), end)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days)]

    def as_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "holdout_start": self.holdout_start.isoformat(),
            "end": self.end.isoformat(),
        }


@dataclass(frozen=True)
class TrainingData:
    train: pd.DataFrame
    holdout: pd.DataFrame
    # ds, rows, content_hash, uri: exactly what was read; with late labels also labels_rows,
    # labels_content_hash, labels_uri and unlabelled_rows (feature rows without a label, dropped)
    partitions: list[dict[str, Any]]
    missing_days: list[str]
    content_hash: str
    label_delay_days: int = 0
    labels_matured_through: str | None = None  # the newest day whose labels are in by the requested end
    immature_days: list[str] = field(default_factory=list)  # days left out: their labels are not in yet
    unlabelled_rows: int = 0

    def label_lineage(self) -> dict[str, Any]:
        return {
            "label_delay_days": self.label_delay_days,
            "labels_matured_through": self.labels_matured_through,
            "immature_days": self.immature_days,
            "unlabelled_rows": self.unlabelled_rows,
        }


def maturity(window: Window, delay_days: int) -> tuple[str | None, list[str]]:
    """(labels matured through, immature days) of a window already ended at the maturity cut
    (``resolve_window``): the days from ``window.end`` to the requested end ``window.end + delay``."""
    if delay_days == 0:
        return None, []
    requested_end = window.end + dt.timedelta(days=delay_days)
    immature = [window.end + dt.timedelta(days=i) for i in range(delay_days)]
    premature = [d.isoformat() for d in window.days() if not matured(d, requested_end, delay_days)]
    if premature:  # cannot happen for a window from resolve_window; a hand-made one is refused
        raise WindowInvalid(f"window {window.start}..{window.end} holds days whose labels are not in: {premature}")
    return last_matured_day(requested_end, delay_days).isoformat(), [d.isoformat() for d in immature]


def assemble_window(
    lake: Lake,
    cfg: PipelineConfig,
    window: Window,
    columns: list[str] | None = None,
    expected: dict[str, str] | None = None,
    holdout_only: bool = False,
    expected_labels: dict[str, str] | None = None,
) -> TrainingData:
    """Read the curated partitions of ``window``. Quarantined or missing days are skipped and reported.

    ``expected`` (ds -> content hash, from an earlier check) pins the exact partitions: a partition
    that changed or vanished since then raises instead of silently training on other data.

    With late labels (``dataset.label_delay_days`` > 0) each day is joined by key with its
    ``labels/`` partition; a day without one counts as missing, feature rows without a label are
    dropped and counted (``unlabelled_rows``). ``expected_labels`` (ds -> labels content hash) pins them.
    """
    import pandas as pd

    dataset = cfg.dataset.name
    delay = cfg.dataset.label_delay_days
    available = set(lake.list_partitions("curated", dataset))
    labelled = set(lake.list_partitions(LABELS, dataset)) if delay > 0 else available
    unlabelled = 0
    frames, partitions, missing = [], [], []
    days = window.days()
    if holdout_only:
        days = [d for d in days if d >= window.holdout_start]
    for day in days:
        ds = day.isoformat()
        if expected is not None and ds not in expected:
            missing.append(ds)
            continue
        if ds not in available or ds not in labelled:
            if expected is not None:
                what = "curated partition" if ds not in available else "labels partition"
                raise InsufficientData(f"{what} {dataset} ds={ds} was checked but is gone; re-run the whole DAG run")
            missing.append(ds)
            continue
        try:
            frame, info = lake.read_partition_with_info("curated", dataset, ds, columns=columns)
        except CorruptPartition as exc:
            if expected is not None and exc.content_hash != expected[ds]:
                raise InsufficientData(_changed(dataset, ds, expected[ds], exc.content_hash)) from None
            raise InsufficientData(
                f"curated partition {dataset} ds={ds} cannot be trained on: {exc}; then re-run this DAG run"
            ) from None
        if expected is not None and info.content_hash != expected[ds]:
            raise InsufficientData(_changed(dataset, ds, expected[ds], info.content_hash))
        entry: dict[str, Any] = {"ds": ds, "rows": info.rows, "content_hash": info.content_hash, "uri": info.uri}
        if delay > 0:
            frame, entry = _join_day_labels(lake, cfg, ds, frame, entry, (expected_labels or {}).get(ds))
            unlabelled += entry["unlabelled_rows"]
        frame["__ds"] = ds
        frames.append(frame)
        partitions.append(entry)
    if not frames and not holdout_only:
        late = (
            f" with their labels (labels arrive {delay} days late: the run of day D + {delay} lands those of D)"
            if delay > 0
            else ""
        )
        raise InsufficientData(
            f"no curated partitions of {dataset!r}{late} between {window.start} and {window.end} (exclusive); "
            "run or backfill ingest_and_validate for those days first"
        )
    if not frames:
        raise InsufficientData(
            f"no curated holdout partitions of {dataset!r} from {window.holdout_start} to {window.end}"
        )
    data = pd.concat(frames, ignore_index=True)
    holdout_mask = data["__ds"] >= window.holdout_start.isoformat()
    train = data.loc[~holdout_mask].drop(columns="__ds").reset_index(drop=True)
    holdout = data.loc[holdout_mask].drop(columns="__ds").reset_index(drop=True)
    hashed = [(p["ds"], p["content_hash"], *([p["labels_content_hash"]] if delay > 0 else [])) for p in partitions]
    digest = hashlib.sha256(json.dumps(hashed).encode()).hexdigest()
    through, immature = maturity(window, delay)
    return TrainingData(train, holdout, partitions, missing, digest, delay, through, immature, unlabelled)


def _join_day_labels(
    lake: Lake, cfg: PipelineConfig, ds: str, frame: pd.DataFrame, entry: dict[str, Any], pinned: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The day's features joined with its late labels by key; the partition entry gains the labels' lineage."""
    dataset, key, target = cfg.dataset.name, cfg.dataset.key_column, cfg.dataset.target
    if not key:  # the config refuses label_delay_days > 0 without key_column; a config built by hand may not
        raise WindowInvalid(
            f"late labels of {dataset} cannot be joined: dataset.key_column is not set; set it to the column that "
            "identifies a row (config validation requires it with dataset.label_delay_days > 0)"
        )
    try:
        labels, info = lake.read_partition_with_info(LABELS, dataset, ds, columns=[key, target])
    except CorruptPartition as exc:
        raise InsufficientData(
            f"labels partition {dataset} ds={ds} cannot be trained on: {exc}; re-run land_labels of the run "
            f"of {dt.date.fromisoformat(ds) + dt.timedelta(days=cfg.dataset.label_delay_days)}"
        ) from None
    if pinned is not None and info.content_hash != pinned:
        raise InsufficientData(_changed(dataset, ds, pinned, info.content_hash).replace("curated", "labels", 1))
    if key not in frame.columns:
        raise InsufficientData(
            f"curated partition {dataset} ds={ds} has no key column {key!r} (dataset.key_column) to join its "
            "labels on; re-ingest the day"
        )
    joined, dropped = join_labels(frame, labels, key, target)
    return joined, entry | {
        "labels_rows": info.rows,
        "labels_content_hash": info.content_hash,
        "labels_uri": info.uri,
        "unlabelled_rows": dropped,
    }


def _changed(dataset: str, ds: str, pinned: str, now: str) -> str:
    return (
        f"curated partition {dataset} ds={ds} changed after it was checked (hash {pinned[:12]} -> {now[:12]}); "
        "nothing was trained on it. Re-run the whole DAG run so the check task validates the new content"
    )


def check_training_frame(train: pd.DataFrame, holdout: pd.DataFrame, cfg: PipelineConfig, window: Window) -> None:
    """Refuse to train on too little data or on a degenerate label, with a message that says what to do."""
    target = cfg.dataset.target
    if len(train) < cfg.training.min_rows:
        raise InsufficientData(
            f"only {len(train)} training rows between {window.start} and {window.holdout_start} "
            f"(training.min_rows={cfg.training.min_rows}); backfill more days or widen window_days"
        )
    if holdout.empty:
        raise InsufficientData(
            f"no holdout rows between {window.holdout_start} and {window.end}; "
            "ingest those days or lower training.holdout_days"
        )
    for name, frame in (("training", train), ("holdout", holdout)):
        if frame[target].isna().any():
            raise InsufficientData(
                f"{name} frame has {int(frame[target].isna().sum())} rows without a {target!r} label"
            )
    if cfg.dataset.task == "classification" and train[target].nunique() < 2:
        raise InsufficientData(
            f"training frame has a single class in {target!r} ({train[target].iloc[0]!r}); "
            "a classifier needs both classes: widen window_days"
        )


def training_suite(cfg: PipelineConfig) -> dict[str, Any]:
    """The GX suite a training frame must pass: enough rows, every row labelled, labels of the right kind."""
    target = cfg.dataset.target
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": cfg.training.min_rows}},
        {"type": "expect_column_to_exist", "kwargs": {"column": target}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": target}},
    ]
    if cfg.dataset.task == "classification":
        exps.append(
            {"type": "expect_column_distinct_values_to_be_in_set", "kwargs": {"column": target, "value_set": [0, 1]}}
        )
        exps.append(
            {"type": "expect_column_unique_value_count_to_be_between", "kwargs": {"column": target, "min_value": 2}}
        )
    return {"name": f"{cfg.dataset.name}_training_frame", "expectations": exps}


def resolve_window(end: dt.date, window_days: int | None, holdout_days: int | None, cfg: PipelineConfig) -> Window:
    """The window ending at ``end`` (exclusive); None takes the configured days. ``WindowInvalid`` when the
    holdout is not inside the window.

    With late labels (``dataset.label_delay_days`` = N > 0) the window ends at ``end - N`` instead: its
    newest day is the newest whose labels have matured by ``end`` (``outcomes.last_matured_day``), so the
    holdout is labelled and no day trains before its labels are in. The N days from there to ``end`` are
    the immature days (``maturity``)."""
    days = cfg.training.window_days if window_days is None else window_days
    holdout = cfg.training.holdout_days if holdout_days is None else holdout_days
    if not 1 <= holdout < days:
        raise WindowInvalid(f"holdout_days={holdout} must be at least 1 and less than window_days={days}")
    delay = cfg.dataset.label_delay_days
    return Window.ending(last_matured_day(end, delay) + dt.timedelta(days=1), days, holdout)


def window_from_check(check: Any) -> Window:
    """The window of a ``check_window`` result (as it comes back from XCom)."""
    if not isinstance(check, dict) or "window" not in check:
        raise WindowInvalid(f"window_check must be the check task's result, got {check!r}")
    w = check["window"]
    return Window(*(dt.date.fromisoformat(w[k]) for k in ("start", "holdout_start", "end")))


@dataclass(frozen=True)
class WindowCheck:
    """A window that passed ``check_window``: the partitions (ds -> content hash) training must read."""

    window: Window
    partitions: dict[str, str]
    missing_days: list[str]
    rows_train: int
    rows_holdout: int
    content_hash: str
    label_partitions: dict[str, str] = field(default_factory=dict)  # ds -> labels content hash (late labels)
    label_delay_days: int = 0
    labels_matured_through: str | None = None
    immature_days: list[str] = field(default_factory=list)
    unlabelled_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "window": self.window.as_dict(),
                "partitions": self.partitions,
                "missing_days": self.missing_days,
                "rows_train": self.rows_train,
                "rows_holdout": self.rows_holdout,
                "content_hash": self.content_hash,
                "label_partitions": self.label_partitions,
                "label_delay_days": self.label_delay_days,
                "labels_matured_through": self.labels_matured_through,
                "immature_days": self.immature_days,
                "unlabelled_rows": self.unlabelled_rows,
            }
        )


def check_window(lake: Lake, cfg: PipelineConfig, window: Window) -> WindowCheck:
    """Read the curated partitions of ``window`` and check the frame they make (``check_training_frame``, then
    the GX ``training_suite``). ``InsufficientData`` says what is missing or wrong and what to do."""
    from include.mlops.validation import validate_frame

    data = assemble_window(lake, cfg, window)
    check_training_frame(data.train, data.holdout, cfg, window)
    summary = validate_frame(data.train, training_suite(cfg))
    if not summary.success:
        raise InsufficientData(summary.message(f"training window {window.start}..{window.holdout_start}"))
    return WindowCheck(
        window=window,
        partitions={p["ds"]: p["content_hash"] for p in data.partitions},
        missing_days=data.missing_days,
        rows_train=len(data.train),
        rows_holdout=len(data.holdout),
        content_hash=data.content_hash,
        label_partitions={p["ds"]: p["labels_content_hash"] for p in data.partitions if "labels_content_hash" in p},
        label_delay_days=data.label_delay_days,
        labels_matured_through=data.labels_matured_through,
        immature_days=data.immature_days,
        unlabelled_rows=data.unlabelled_rows,
    )
