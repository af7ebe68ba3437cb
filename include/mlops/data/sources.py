"""Where a day's batch comes from: the built-in simulator, or the user's own CSV/Parquet data."""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import SourceError

if TYPE_CHECKING:
    import pandas as pd


def _files(uri: str, storage_client: Any = None) -> list[str]:
    """The data files at ``uri``: the file itself, or every csv/parquet file below a folder/prefix."""
    suffixes = (".csv", ".parquet", ".pq", ".csv.gz")
    if uri.startswith("s3://"):
        from include.mlops.data.lake import S3Storage

        storage = S3Storage(uri, storage_client or _boto3_client())
        keys = storage.list("")
        found = [storage.uri(k) for k in keys if k.endswith(suffixes)]
        return found or ([uri] if uri.endswith(suffixes) else [])
    from pathlib import Path

    path = Path(uri)
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    return []


def _boto3_client():
    import boto3

    return boto3.client("s3")


def _read_one(location: str, fmt: str | None, storage_client: Any = None) -> pd.DataFrame:
    """One source file as a frame; ``SourceError`` naming the file if it is not readable as ``fmt``."""
    import pandas as pd
    import pyarrow as pa

    kind = fmt or ("csv" if location.endswith((".csv", ".csv.gz")) else "parquet")
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        body = (storage_client or _boto3_client()).get_object(Bucket=bucket, Key=key)["Body"].read()
        handle: Any = io.BytesIO(body)
        compression = "gzip" if location.endswith(".gz") else None
    else:
        handle = location
        compression = "infer"
    try:
        if kind == "csv":
            return pd.read_csv(handle, compression=compression)
        return pd.read_parquet(handle)
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError) as exc:  # truncated, damaged, wrong format
        detail = str(exc).splitlines()[0][:200] if str(exc) else "no detail"
        raise SourceError(
            f"source file {location} cannot be read as {kind} ({type(exc).__name__}: {detail}); nothing was landed. "
            "Replace or remove the file (or fix dataset.format), then clear the land_batch task"
        ) from exc


def read_source(cfg: PipelineConfig, storage_client: Any = None) -> pd.DataFrame:
    """The user's whole dataset (every file at ``dataset.uri``), timestamp column parsed to UTC."""

    uri = cfg.dataset.uri
    if uri is None:
        raise SourceError("read_source needs `dataset.uri`; the simulator has no whole-history file")
    frame = _read_all(cfg, uri, "dataset.uri", storage_client)
    from include.mlops.data.preflight import prepare_source

    return prepare_source(cfg, frame, uri)


def _read_all(cfg: PipelineConfig, uri: str, key: str, storage_client: Any = None) -> pd.DataFrame:
    """Every file at ``uri`` (named by config ``key``) as one frame, timestamp column parsed to UTC."""
    import pandas as pd

    files = _files(uri, storage_client)
    if not files:
        raise SourceError(
            f"no CSV or Parquet file found at {key}={uri!r} (config {cfg.source_path}); "
            "point it at a file or a folder holding .csv/.parquet files"
        )
    frame = pd.concat([_read_one(f, cfg.dataset.format, storage_client) for f in files], ignore_index=True)
    ts = cfg.dataset.timestamp_column
    if ts not in frame.columns:
        raise SourceError(
            f"timestamp column {ts!r} (dataset.timestamp_column) is not in {uri}; "
            f"columns are: {', '.join(map(str, frame.columns))}"
        )
    try:
        frame[ts] = pd.to_datetime(frame[ts], utc=True)
    except (ValueError, TypeError) as exc:
        raise SourceError(f"column {ts!r} in {uri} cannot be parsed as timestamps: {exc}") from exc
    return frame


def _of_day(frame: pd.DataFrame, column: str, day: dt.date) -> pd.DataFrame:
    """The rows of ``frame`` whose ``column`` (UTC timestamps) falls on ``day``."""
    ts = frame[column]
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    mask = (ts >= start) & (ts < start + dt.timedelta(days=1))
    return frame.loc[mask].reset_index(drop=True)


def days_in_source(cfg: PipelineConfig, storage_client: Any = None) -> list[dt.date]:
    frame = read_source(cfg, storage_client)
    return sorted({d.date() for d in frame[cfg.dataset.timestamp_column].dt.floor("D")})


def _simulated_day(cfg: PipelineConfig, day: dt.date) -> pd.DataFrame:
    from include.mlops.data.simulator import generate_day

    sim = cfg.simulator
    start = dt.date.fromisoformat(sim.scenario_start) if sim.scenario_start else None
    return generate_day(day, seed=sim.seed, rows_per_day=sim.rows_per_day, scenario=sim.scenario, scenario_start=start)


def load_day(cfg: PipelineConfig, day: dt.date, storage_client: Any = None) -> pd.DataFrame:
    """The batch of ``day`` (UTC) from the configured source. May be empty; validation decides.

    With ``dataset.label_delay_days`` > 0 the batch has no target column: the labels land later
    (``load_labels``)."""
    if cfg.dataset.uri is None:
        from include.mlops.data.simulator import inject_fault

        frame = _simulated_day(cfg, day)
        fault = cfg.simulator.faults.get(day.isoformat())
        frame = inject_fault(frame, fault, seed=cfg.simulator.seed) if fault else frame
    else:
        frame = _of_day(read_source(cfg, storage_client), cfg.dataset.timestamp_column, day)
    if cfg.dataset.label_delay_days > 0 and cfg.dataset.target in frame.columns:
        frame = frame.drop(columns=[cfg.dataset.target])
    return frame


def read_labels_source(cfg: PipelineConfig, storage_client: Any = None) -> pd.DataFrame:
    """Every late label at ``dataset.labels_uri``: key, target and event time (UTC), the target mapped like
    the source's (``dataset.positive_label``). ``DataConfigMismatch`` names a missing column and the key to set."""
    from include.mlops.data.preflight import check_and_map_target, check_label_columns

    uri = cfg.dataset.labels_uri
    if uri is None:
        raise SourceError("read_labels_source needs `dataset.labels_uri`; the simulator emits its own labels")
    frame = _read_all(cfg, uri, "dataset.labels_uri", storage_client)
    check_label_columns(cfg, frame, uri)
    return check_and_map_target(cfg, frame, uri)


def load_labels(cfg: PipelineConfig, day: dt.date, storage_client: Any = None) -> pd.DataFrame:
    """The label feed of ``day``'s events: [key_column, target] (may be empty; the label suite decides).

    The simulator's feed is the key and target of its batch of ``day`` (faults apply to features only);
    your own comes from ``dataset.labels_uri``, the rows whose ``timestamp_column`` (event time) is on ``day``."""
    ds = cfg.dataset
    if not ds.key_column:
        raise SourceError("late labels need `dataset.key_column`: the column that joins them to their features")
    columns = [ds.key_column, ds.target]
    if ds.uri is None:
        return _simulated_day(cfg, day)[columns]
    if ds.labels_uri is None:
        raise SourceError(
            f"`dataset.label_delay_days` is {ds.label_delay_days} but `dataset.labels_uri` is not set "
            f"(config {cfg.source_path}); point it at the file or folder your late labels land in"
        )
    return _of_day(read_labels_source(cfg, storage_client), ds.timestamp_column, day)[columns]
