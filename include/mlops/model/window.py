"""The training window: which curated days a run trains and holds out on, read and checked.

``check_window`` is what the ``check_training_window`` task does: read the window's curated partitions, refuse a
too-small or degenerate frame, validate it with ``training_suite`` and return the exact partitions (with content
hashes) that training and evaluation must read again (``window_from_check``, ``assemble_window(expected=...)``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import CorruptPartition, InsufficientData, WindowInvalid
from include.mlops.core.jsonsafe import json_safe
from include.mlops.core.memory import give_back_memory
from include.mlops.data.lake import Columns, Lake
from include.mlops.data.outcomes import LABELS, join_labels, last_matured_day, matured

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


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
    # training.max_rows: {"max_rows", "seed", "stratified_by", "train": {...}, "holdout": {...}} (``Sample.as_dict``)
    sampling: dict[str, Any] = field(default_factory=dict)

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


def sample_cap(cfg: PipelineConfig) -> int | None:
    """The rows a training (or holdout) frame may hold: ``training.max_rows``, never below ``training.min_rows``
    (a cap below the minimum would refuse every window); None: no cap."""
    cap = cfg.training.max_rows
    return None if cap is None else max(cap, cfg.training.min_rows)


def check_columns(cfg: PipelineConfig) -> Columns:
    """What ``check_window`` reads of each partition: the target (with late labels the key that joins them), the
    only columns the check looks at (``check_training_frame``, ``training_suite``) and the sample's strata."""
    ds = cfg.dataset
    wanted = [ds.target, *([ds.key_column] if ds.label_delay_days > 0 and ds.key_column else [])]
    return lambda names: [c for c in names if c in wanted]


def training_columns(cfg: PipelineConfig) -> Columns:
    """What training reads of each partition: the columns ``feature_columns`` (training) may pick and the target (with
    late labels the key that joins them), not the timestamp or ``dataset.exclude_columns`` (with ``dataset.features``
    only those). A column a partition lacks is left out, as a whole read would: the error, if any, comes later."""
    ds = cfg.dataset
    key = {ds.key_column} if ds.label_delay_days > 0 and ds.key_column else set()
    if ds.features:
        wanted = {*ds.features, ds.target, *key}
        return lambda names: [c for c in names if c in wanted]
    skip = {ds.timestamp_column, *ds.exclude_columns} - {ds.target, *key}
    return lambda names: [c for c in names if c not in skip]


class Sample:
    """A seeded sample of at most ``cap`` rows, drawn while partitions are read (``add`` one at a time), stratified
    by ``stratify`` (the target of a classification; None: one stratum) and proportional to each stratum's rows.

    Every row gets a uniform key from a generator seeded by (``seed``, its day): the sample is the rows with the
    smallest keys of each stratum, as many as the stratum's share of ``cap`` (largest remainders; at least one row
    of every stratum present). The keys live beside the frames, not in them: when the buffered rows pass 1.5 x
    ``cap`` each buffered frame keeps only its rows among the ``cap`` smallest keys of their stratum (one frame
    copied at a time, no concatenation), and a new partition is filtered by the same bound as it is read. So it
    holds about 1.5 x ``cap`` rows plus the partition being read, the same window gives the same rows in every
    task, rows stay in the order read (day, then row) and below the cap every row is kept."""

    def __init__(self, cap: int | None, seed: int, stratify: str | None) -> None:
        self.cap, self.seed, self.stratify = cap, seed, stratify
        self.frames: list[pd.DataFrame] = []
        self.keys: list[Any] = []  # per frame: its rows' keys (numpy)
        self.strata: list[Any] = []  # per frame: its rows' strata (numpy)
        self.buffered = 0
        self.counts: dict[Any, int] = {}  # rows seen per stratum
        self.thresholds: dict[Any, float] = {}  # the cap-th smallest key per stratum, once it has cap rows

    def _strata(self, frame: pd.DataFrame) -> pd.Series:
        import pandas as pd

        if self.stratify is None:
            return pd.Series(0, index=frame.index)
        return frame[self.stratify].astype(object).where(frame[self.stratify].notna(), "__null__")

    def add(self, frame: pd.DataFrame, day: dt.date) -> None:
        import numpy as np

        if frame.empty:
            return
        strata = self._strata(frame)
        for value, n in strata.value_counts(sort=False).items():
            self.counts[value] = self.counts.get(value, 0) + int(n)
        if self.cap is None:
            self.frames.append(frame)
            return
        keys = np.random.default_rng([self.seed, day.toordinal()]).random(len(frame))
        if self.thresholds:  # rows whose key is above their stratum's cap-th smallest can never be drawn
            mask = keys <= strata.map(self.thresholds).fillna(np.inf).to_numpy(dtype=float)
            frame, keys, strata = frame.loc[mask], keys[mask], strata[mask]
        self.frames.append(frame)
        self.keys.append(keys)
        self.strata.append(strata.to_numpy())
        self.buffered += len(frame)
        if self.buffered > self.cap + self.cap // 2:
            self.thresholds = self._keep({k: self.cap for k in self.counts})

    def _keep(self, limits: dict[Any, int]) -> dict[Any, float]:
        """Keep in each buffered frame only the rows among the ``limits[stratum]`` smallest keys of their stratum;
        returns the bound per stratum that had more rows than its limit."""
        import numpy as np
        import pandas as pd

        keys, strata = np.concatenate(self.keys), np.concatenate(self.strata)
        bounds = {}
        for value, limit in limits.items():
            of = keys[strata == value]
            if len(of) > limit:
                bounds[value] = float(np.partition(of, limit - 1)[limit - 1])
        if not bounds:
            return {}
        for i, (frame, k, st) in enumerate(zip(self.frames, self.keys, self.strata, strict=True)):
            mask = k <= pd.Series(st).map(bounds).fillna(np.inf).to_numpy(dtype=float)
            if not mask.all():
                self.frames[i], self.keys[i], self.strata[i] = frame.loc[mask], k[mask], st[mask]
        self.buffered = sum(len(k) for k in self.keys)
        return bounds

    def quotas(self) -> dict[Any, int]:
        """Rows drawn per stratum: its share of ``cap`` by largest remainders, at least one each."""
        if self.cap is None:  # a wiring mistake: a Sample without a cap keeps every row and draws no quotas
            raise ValueError("Sample.quotas() needs a cap (training.max_rows); this sample was built without one")
        total = sum(self.counts.values())
        exact = {k: self.cap * n / total for k, n in self.counts.items()}
        out = {k: int(v) for k, v in exact.items()}
        for k in sorted(exact, key=lambda k: out[k] - exact[k])[: self.cap - sum(out.values())]:
            out[k] += 1
        for k in out:  # keep every class present: the largest stratum gives up a row
            if out[k] == 0:
                out[k] = 1
                out[max(out, key=lambda j: out[j])] -= 1
        return out

    @property
    def rows_before(self) -> int:
        return sum(self.counts.values())

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The sampled rows in the order they were read (day, then row)."""
        import pandas as pd

        if not self.frames:
            return pd.DataFrame(columns=columns or [])
        if self.cap is not None and self.rows_before > self.cap:
            self._keep(self.quotas())
        frames, self.frames, self.keys, self.strata = self.frames, [], [], []
        return pd.concat(frames, ignore_index=True)

    def as_dict(self, rows_after: int, after: pd.DataFrame | None = None) -> dict[str, Any]:
        before = self.rows_before
        out: dict[str, Any] = {
            "rows_before": before,
            "rows_after": rows_after,
            "fraction": round(rows_after / before, 6) if before else 1.0,
            "sampled": rows_after < before,
        }
        if self.stratify is not None:
            out["class_rows_before"] = {str(k): n for k, n in sorted(self.counts.items(), key=str)}
            if after is not None:
                counts = self._strata(after).value_counts()
                out["class_rows_after"] = {str(k): int(n) for k, n in sorted(counts.items(), key=lambda kv: str(kv[0]))}
        return out


def assemble_window(
    lake: Lake,
    cfg: PipelineConfig,
    window: Window,
    columns: Columns = None,
    expected: dict[str, str] | None = None,
    holdout_only: bool = False,
    expected_labels: dict[str, str] | None = None,
    *,
    max_rows: int | None | bool = True,
) -> TrainingData:
    """Read the curated partitions of ``window``. Quarantined or missing days are skipped and reported.

    ``training.max_rows`` (``sample_cap``; ``max_rows`` an int overrides it, False or None reads every row): the
    training part is a seeded sample of at most that many rows, stratified by the target of a classification,
    drawn partition by partition while they are read (``Sample``), so a large window is never all in memory.
    The holdout is read whole (the evaluation is exact) unless it alone holds more rows than the cap: then it is
    sampled the same way, to the cap. ``TrainingData.sampling`` says what was drawn (rows before/after, fraction).

    ``columns`` (``Lake.read_partition_with_info``): what to read of each partition, by default every column;
    ``check_columns`` and ``training_columns`` are what the check and training need.

    ``expected`` (ds -> content hash, from an earlier check) pins the exact partitions: a partition
    that changed or vanished since then raises instead of silently training on other data.

    With late labels (``dataset.label_delay_days`` > 0) each day is joined by key with its
    ``labels/`` partition; a day without one counts as missing, feature rows without a label are
    dropped and counted (``unlabelled_rows``). ``expected_labels`` (ds -> labels content hash) pins them.
    """
    dataset = cfg.dataset.name
    delay = cfg.dataset.label_delay_days
    available = set(lake.list_partitions("curated", dataset))
    labelled = set(lake.list_partitions(LABELS, dataset)) if delay > 0 else available
    unlabelled = 0
    partitions: list[dict[str, Any]] = []
    missing: list[str] = []
    cap = sample_cap(cfg) if max_rows is True else (max_rows or None)
    stratify = cfg.dataset.target if cfg.dataset.task == "classification" else None
    seed = cfg.training.random_state
    train_sample, holdout_sample = Sample(cap, seed, stratify), Sample(cap, seed + 1, stratify)
    days = window.days()
    if holdout_only:
        days = [d for d in days if d >= window.holdout_start]
    train: pd.DataFrame | None = None
    for day in days:
        if train is None and day >= window.holdout_start:  # every training day is read: the sample can be drawn
            train = train_sample.frame()  # now, not beside the holdout's buffered rows
        ds = day.isoformat()
        if not _present(dataset, ds, available, labelled, expected):
            missing.append(ds)
            continue
        frame, entry = _read_day(lake, cfg, ds, columns, expected, expected_labels)
        unlabelled += entry.get("unlabelled_rows", 0)
        (holdout_sample if day >= window.holdout_start else train_sample).add(frame, day)
        del frame
        give_back_memory()  # the rows the sample left out, before the next partition is read
        partitions.append(entry)
    if not partitions:
        raise InsufficientData(_nothing_read(dataset, window, delay, holdout_only))
    train, holdout = train_sample.frame() if train is None else train, holdout_sample.frame()
    if train.empty and not holdout.empty:  # a holdout-only read: the same columns, no rows
        train = holdout.iloc[:0].copy()
    if holdout.empty and not train.empty:
        holdout = train.iloc[:0].copy()
    sampling = {
        "max_rows": cap,
        "seed": seed,
        "stratified_by": stratify,
        "train": train_sample.as_dict(len(train), train if stratify else None),
        "holdout": holdout_sample.as_dict(len(holdout), holdout if stratify else None),
    }
    hashed = [(p["ds"], p["content_hash"], *([p["labels_content_hash"]] if delay > 0 else [])) for p in partitions]
    digest = hashlib.sha256(json.dumps(hashed).encode()).hexdigest()
    through, immature = maturity(window, delay)
    return TrainingData(
        train, holdout, partitions, missing, digest, delay, through, immature, unlabelled, json_safe(sampling)
    )


def _present(dataset: str, ds: str, available: set[str], labelled: set[str], expected: dict[str, str] | None) -> bool:
    """Whether day ``ds`` is there to read (curated, and labelled with late labels). Not there: counted as missing,
    unless ``expected`` pinned it (it was checked and is gone since: ``InsufficientData``)."""
    if expected is not None and ds not in expected:
        return False
    if ds in available and ds in labelled:
        return True
    if expected is not None:
        what = "curated partition" if ds not in available else "labels partition"
        raise InsufficientData(f"{what} {dataset} ds={ds} was checked but is gone; re-run the whole DAG run")
    return False


def _read_day(
    lake: Lake,
    cfg: PipelineConfig,
    ds: str,
    columns: Columns,
    expected: dict[str, str] | None,
    expected_labels: dict[str, str] | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Day ``ds``'s curated rows (joined with its late labels) and its lineage entry; a partition that is damaged
    or differs from the one ``expected`` pinned raises ``InsufficientData``."""
    dataset = cfg.dataset.name
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
    if cfg.dataset.label_delay_days > 0:
        frame, entry = _join_day_labels(lake, cfg, ds, frame, entry, (expected_labels or {}).get(ds))
    return frame, entry


def _nothing_read(dataset: str, window: Window, delay: int, holdout_only: bool) -> str:
    """Why a window read no partition, and what to run."""
    if holdout_only:
        return f"no curated holdout partitions of {dataset!r} from {window.holdout_start} to {window.end}"
    late = (
        f" with their labels (labels arrive {delay} days late: the run of day D + {delay} lands those of D)"
        if delay > 0
        else ""
    )
    return (
        f"no curated partitions of {dataset!r}{late} between {window.start} and {window.end} (exclusive); "
        "run or backfill ingest_and_validate for those days first"
    )


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
    sampling: dict[str, Any] = field(default_factory=dict)  # training.max_rows: what the check drew (TrainingData)

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
                "sampling": self.sampling,
            }
        )


def sampling_summary(sampling: dict[str, Any]) -> str:
    """One line for a log: the cap and what each part drew (rows before -> after, fraction)."""
    if not sampling:
        return "no sampling"
    if sampling.get("max_rows") is None:
        return "training.max_rows is off: every row is read"
    parts = []
    for part in ("train", "holdout"):
        info = sampling.get(part) or {}
        if info.get("sampled"):
            parts.append(f"{part} {info['rows_before']} -> {info['rows_after']} rows (fraction {info['fraction']:.4f})")
        else:
            parts.append(f"{part} {info.get('rows_before', 0)} rows, not sampled")
    by = f", stratified by {sampling['stratified_by']!r}" if sampling.get("stratified_by") else ""
    return f"training.max_rows={sampling['max_rows']} (seed {sampling['seed']}{by}): " + "; ".join(parts)


def check_window(lake: Lake, cfg: PipelineConfig, window: Window) -> WindowCheck:
    """Read the curated partitions of ``window`` and check the frame they make (``check_training_frame``, then
    the GX ``training_suite``). ``InsufficientData`` says what is missing or wrong and what to do.

    Only the target is read (``check_columns``): the check looks at nothing else, and the sample (its rows, counts
    and hashes) is the one training and evaluation draw from every column."""
    from include.mlops.data.validation import validate_frame

    data = assemble_window(lake, cfg, window, check_columns(cfg))
    log.info("training window %s..%s: %s", window.start, window.end, sampling_summary(data.sampling))
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
        sampling=data.sampling,
    )
