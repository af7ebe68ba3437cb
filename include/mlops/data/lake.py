"""The data lake: date partitions in zones, on the local filesystem or on S3 (boto3).

Layout under the lake root::

    landing/<dataset>/ds=YYYY-MM-DD/part-0.parquet       what the source gave us, as landed
    curated/<dataset>/ds=YYYY-MM-DD/part-0.parquet       passed validation; the only zone training reads
    quarantine/<dataset>/ds=YYYY-MM-DD/part-0.parquet    failed validation, with validation.json beside it
    labels/<dataset>/ds=YYYY-MM-DD/part-0.parquet        late labels of day D's events (key, target), validated
    predictions/<dataset>/ds=YYYY-MM-DD/part-0.parquet   what the champion (and a shadow) scored on day D
    reports/<kind>/<dataset>/ds=YYYY-MM-DD/...           validation results, decisions, drift reports

Writing a partition replaces it whole, so a re-run or backfill of a day is idempotent. A day lives in
at most one of curated/quarantine: publishing removes the quarantined copy and vice versa.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from include.mlops.core.exceptions import CorruptPartition
from include.mlops.core.exceptions import MlopsError

if TYPE_CHECKING:
    import pandas as pd

ZONES = ("landing", "curated", "quarantine", "labels", "predictions", "reports")
DATA_FILE = "part-0.parquet"


class Storage(Protocol):
    """The few object-store operations the lake needs."""

    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def uri(self, key: str) -> str: ...


class LocalStorage:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: readers see the old or the new file, never half of one

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[str]:
        """The stored file's own path, read in place (``Lake.partition_file``)."""
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")  # as read_bytes raises
        yield str(path)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3Storage:
    """S3 through boto3. ``client`` is a boto3 S3 client (the caller owns credentials)."""

    def __init__(self, root: str, client: Any) -> None:
        without = root[len("s3://") :]
        self.bucket, _, prefix = without.partition("/")
        self.prefix = prefix.strip("/")
        self.client = client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[str]:
        """The object streamed to a temporary file, removed after (``Lake.partition_file``)."""
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]  # raises as read_bytes does
        with tempfile.TemporaryDirectory(prefix="mlops-lake-") as folder:
            path = Path(folder) / Path(key).name
            with path.open("wb") as file:
                shutil.copyfileobj(body, file, 1 << 20)
            yield str(path)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def exists(self, key: str) -> bool:
        return bool(self.list(key))

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk})

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def storage_for(root: str, s3_client: Any = None) -> Storage:
    if root.startswith("s3://"):
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Storage(root, s3_client)
    return LocalStorage(root)


@dataclass(frozen=True)
class PartitionInfo:
    zone: str
    dataset: str
    ds: str
    rows: int
    uri: str
    content_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "dataset": self.dataset,
            "ds": self.ds,
            "rows": self.rows,
            "uri": self.uri,
            "content_hash": self.content_hash,
        }


def partition_prefix(zone: str, dataset: str, ds: str | dt.date) -> str:
    if zone not in ZONES:
        raise ValueError(f"unknown zone {zone!r}")
    return f"{zone}/{dataset}/ds={_iso(ds)}"


def _iso(ds: str | dt.date) -> str:
    return ds.isoformat() if isinstance(ds, dt.date) else dt.date.fromisoformat(ds).isoformat()


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


# the columns to read: all (None), these (a missing one is an error), or chosen from the file's own column names
Columns = Sequence[str] | Callable[[list[str]], list[str]] | None


def _parse_parquet(data: bytes, uri: str, columns: Columns = None, *, metadata_only: bool = False) -> Any:
    """The frame (or, with ``metadata_only``, the row count) of Parquet ``data``; CorruptPartition if unreadable.
    Reading some ``columns`` decodes the others too, a column at a time and dropped, as a whole read would."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if metadata_only:
            return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        import pandas as pd

        if columns is None:
            return pd.read_parquet(io.BytesIO(data))
        file = pq.ParquetFile(io.BytesIO(data))
        names = file.schema_arrow.names
        wanted = list(columns(names) if callable(columns) else columns)
        frame = pd.read_parquet(io.BytesIO(data), columns=wanted)
        for name in names:  # a part read still finds a damaged page anywhere, one column in memory at a time
            if name not in wanted:
                file.read(columns=[name])
        return frame
    except (pa.ArrowException, OSError) as exc:  # ArrowInvalid: bad footer; OSError: corrupt compressed pages
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}"
        raise CorruptPartition(uri, _sha256(data), reason) from exc


class Lake:
    """Date-partitioned zones over a ``Storage``."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def at(cls, root: str, s3_client: Any = None) -> Lake:
        return cls(storage_for(root, s3_client))

    # -- partitions ---------------------------------------------------------------------
    def write_partition(self, zone: str, dataset: str, ds: str | dt.date, frame: pd.DataFrame) -> PartitionInfo:
        """Replace the partition with ``frame``."""
        data = frame_to_parquet(frame)
        prefix = partition_prefix(zone, dataset, ds)
        self.storage.delete_prefix(prefix)
        key = f"{prefix}/{DATA_FILE}"
        self.storage.write_bytes(key, data)
        return PartitionInfo(zone, dataset, _iso(ds), len(frame), self.storage.uri(key), _sha256(data))

    def read_partition(self, zone: str, dataset: str, ds: str | dt.date, columns: Columns = None):
        """The partition as a frame; ``CorruptPartition`` if the file is not readable Parquet."""
        key = f"{partition_prefix(zone, dataset, ds)}/{DATA_FILE}"
        return _parse_parquet(self.storage.read_bytes(key), self.storage.uri(key), columns)

    def read_partition_with_info(
        self, zone: str, dataset: str, ds: str | dt.date, columns: Columns = None
    ) -> tuple[pd.DataFrame, PartitionInfo]:
        """The frame and its ``PartitionInfo`` from one read of the file (the hash covers the whole file).
        ``columns``: every column (None), these, or a function of the file's column names that picks them."""
        key = f"{partition_prefix(zone, dataset, ds)}/{DATA_FILE}"
        data, uri = self.storage.read_bytes(key), self.storage.uri(key)
        frame = _parse_parquet(data, uri, columns)
        rows = len(frame) if columns is None else _parse_parquet(data, uri, metadata_only=True)
        return frame, PartitionInfo(zone, dataset, _iso(ds), rows, uri, _sha256(data))

    def read_partition_bytes(self, zone: str, dataset: str, ds: str | dt.date) -> bytes:
        """The partition's Parquet file as stored (compressed)."""
        return self.storage.read_bytes(f"{partition_prefix(zone, dataset, ds)}/{DATA_FILE}")

    @contextlib.contextmanager
    def partition_file(self, zone: str, dataset: str, ds: str | dt.date) -> Iterator[str]:
        """A local path to the partition's Parquet file, so a reader decodes it a piece at a time and its bytes are
        never all in memory: a local lake's own file, or an S3 object streamed to a temporary file (removed
        after). A storage without ``local_file`` writes its bytes to a temporary file. Pyarrow opens the path
        with its own native file: no Python file object that its reader threads would call back into."""
        key = f"{partition_prefix(zone, dataset, ds)}/{DATA_FILE}"
        local = getattr(self.storage, "local_file", None)
        if local is not None:
            with local(key) as path:
                yield path
            return
        data = self.storage.read_bytes(key)
        with tempfile.TemporaryDirectory(prefix="mlops-lake-") as folder:
            path = Path(folder) / DATA_FILE
            path.write_bytes(data)
            del data
            yield str(path)

    def partition_info(self, zone: str, dataset: str, ds: str | dt.date) -> PartitionInfo | None:
        """Rows, URI and content hash of a partition; None if absent, ``CorruptPartition`` if unreadable."""
        key = f"{partition_prefix(zone, dataset, ds)}/{DATA_FILE}"
        if not self.storage.exists(key):
            return None
        data, uri = self.storage.read_bytes(key), self.storage.uri(key)
        rows = _parse_parquet(data, uri, metadata_only=True)
        return PartitionInfo(zone, dataset, _iso(ds), rows, uri, _sha256(data))

    def has_partition(self, zone: str, dataset: str, ds: str | dt.date) -> bool:
        return self.storage.exists(f"{partition_prefix(zone, dataset, ds)}/{DATA_FILE}")

    def delete_partition(self, zone: str, dataset: str, ds: str | dt.date) -> None:
        self.storage.delete_prefix(partition_prefix(zone, dataset, ds))

    def list_partitions(self, zone: str, dataset: str) -> list[str]:
        """ISO dates of the partitions present in ``zone``."""
        days = set()
        for key in self.storage.list(f"{zone}/{dataset}/"):
            part = key.split("/")[2]
            if part.startswith("ds=") and key.endswith(DATA_FILE):
                days.add(part[3:])
        return sorted(days)

    # -- small JSON documents -----------------------------------------------------------
    def write_json(self, key: str, document: Any) -> str:
        self.storage.write_bytes(key, json.dumps(document, indent=2, sort_keys=True, default=str).encode())
        return self.storage.uri(key)

    def read_json(self, key: str) -> Any:
        return json.loads(self.storage.read_bytes(key))

    def report_key(self, kind: str, dataset: str, ds: str | dt.date, name: str) -> str:
        return f"reports/{kind}/{dataset}/ds={_iso(ds)}/{name}"


def _sha256(data: bytes | str) -> str:
    """The content hash of ``data``: bytes, or the file at a local path, read in chunks."""
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    with open(data, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
