"""What validation reads a batch through, a slice at a time: ``ColumnSource`` (a DataFrame in memory) and
``ParquetSource`` (a Parquet file, decoding only the columns a slice needs, or one part of a column)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from include.mlops.core.memory import give_back_memory

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    import pyarrow as pa


class ColumnSource:
    """What ``validate_frame`` reads a batch through: its columns, its length, an empty frame with its
    schema, and the frame of some of its columns. This one wraps a DataFrame in memory."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.columns = [str(c) for c in frame.columns]
        self.rows = len(frame)

    def schema(self) -> pd.DataFrame:
        return self.frame.iloc[0:0]

    def read(self, columns: list[str] | None, text_as_arrow: bool = False) -> pd.DataFrame:
        return self.frame if columns is None else self.frame[columns]

    def parts(
        self, column: str, rows_per_part: int, text_as_arrow: bool = False, by_value: bool = False
    ) -> Iterator[pd.DataFrame]:
        """The frame of ``column`` in parts of about ``rows_per_part`` rows: consecutive rows, or with
        ``by_value`` ranges of values (equal values, and all nulls, always in the same part). A frame in memory
        is one part: splitting it would hold more, not less."""
        yield self.read([column], text_as_arrow)

    def give_back(self) -> None:
        """Called after each slice: a source that reads slices from a file returns their memory to the system
        here (``give_back_memory``); a frame in memory holds the batch anyway, and trimming its heap costs time."""

    def finish(self) -> None:
        """Called after the last slice (a file source checks here what no expectation read)."""


class ParquetSource(ColumnSource):
    """A Parquet file (its bytes, or its local path: ``Lake.partition_file``) read one slice at a time: only the
    columns a slice needs are decoded, the row count and schema come from the footer, and a text column whose
    expectations read only its values (``validation._TEXT_AS_ARROW``) is decoded as Arrow-backed strings. Other
    columns decode exactly as ``Lake.read_partition`` decodes them. A file that is not readable Parquet
    raises ``CorruptPartition``, as reading the partition would; ``finish`` decodes the columns no
    expectation read, so a damaged page anywhere is still found."""

    def __init__(self, data: bytes | str, uri: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.data, self.uri, self.decoded = data, uri, set[str]()
        with self._readable():
            self.file = pq.ParquetFile(pa.BufferReader(data) if isinstance(data, bytes) else data)
            self._schema = self.file.schema_arrow.empty_table().to_pandas()
        self.columns = [str(c) for c in self._schema.columns]
        self.rows = self.file.metadata.num_rows

    def _readable(self) -> Any:
        import contextlib

        import pyarrow as pa

        from include.mlops.core.exceptions import CorruptPartition
        from include.mlops.data.lake import _sha256

        @contextlib.contextmanager
        def guard() -> Any:
            try:
                yield
            except (pa.ArrowException, OSError) as exc:  # as Lake.read_partition reports it
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}"
                raise CorruptPartition(self.uri, _sha256(self.data), reason) from exc

        return guard()

    def schema(self) -> pd.DataFrame:
        return self._schema

    def read(self, columns: list[str] | None, text_as_arrow: bool = False) -> pd.DataFrame:
        with self._readable():
            table = self.file.read(columns=columns, use_pandas_metadata=True)
            self.decoded.update(table.column_names)
            return _to_pandas(table, text_as_arrow)

    def parts(
        self, column: str, rows_per_part: int, text_as_arrow: bool = False, by_value: bool = False
    ) -> Iterator[pd.DataFrame]:
        """``column`` in parts of about ``rows_per_part`` rows, one part held at a time: consecutive rows (one
        pass over the file), or with ``by_value`` ranges of values whose bounds are quantiles of a seeded sample
        of the column, so equal values always fall in the same part (nulls and NaN in the first); each such part
        is decoded again from the file, row group by row group, keeping only its rows. A column whose type
        Arrow cannot order is one part."""
        import pyarrow as pa
        import pyarrow.compute as pc

        count = -(-self.rows // max(rows_per_part, 1))
        if count > 1 and not by_value:
            with self._readable():
                batches = self.file.iter_batches(batch_size=rows_per_part, columns=[column], use_pandas_metadata=True)
                for batch in batches:
                    self.decoded.add(column)
                    yield _to_pandas(pa.Table.from_batches([batch]), text_as_arrow)
                    del batch
            return
        bounds = self._bounds(column, count) if count > 1 else []
        if not bounds:
            yield self.read([column], text_as_arrow)
            return
        for lo, hi in zip([None, *bounds], [*bounds, None], strict=True):
            kept = []
            with self._readable():
                for batch in self.file.iter_batches(columns=[column], use_pandas_metadata=True):
                    values = batch.column(0)
                    inside = pc.invert(_at_least(values, bounds[0])) if lo is None else _at_least(values, lo)
                    if lo is not None and hi is not None:
                        inside = pc.and_(inside, pc.invert(_at_least(values, hi)))
                    kept.append(batch.filter(inside))
                table = pa.Table.from_batches(kept)
            del kept
            self.decoded.add(column)
            yield _to_pandas(table, text_as_arrow)
            del table

    def _bounds(self, column: str, count: int, sample_rows: int = 20_000) -> list[Any]:
        """Up to ``count - 1`` distinct, increasing values of ``column`` that split it into ``count`` ranges
        of about equal rows (quantiles of a seeded sample of each row group); [] if Arrow cannot order it."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        rng = np.random.default_rng(0)
        picks = []
        with self._readable():
            for batch in self.file.iter_batches(columns=[column]):
                values = batch.column(0)
                take = min(len(values), max(1, sample_rows * len(values) // max(self.rows, 1)))
                picks.append(values.take(pa.array(rng.choice(len(values), size=take, replace=False))))
        sample = pc.drop_null(pa.chunked_array(picks))
        try:
            if pa.types.is_floating(sample.type):
                sample = sample.filter(pc.invert(pc.is_nan(sample)))
            ordered = sample.take(pc.sort_indices(sample))
            bounds = list(dict.fromkeys(ordered[len(ordered) * q // count] for q in range(1, count)))
            if bounds:
                _at_least(sample, bounds[0])  # every range compares values this way
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return []
        return [b for b in bounds if b.is_valid]

    def give_back(self) -> None:
        give_back_memory()

    def finish(self) -> None:
        with self._readable():
            for column in self.columns:
                if column not in self.decoded:
                    self.file.read(columns=[column])


def _to_pandas(table: pa.Table, text_as_arrow: bool) -> pd.DataFrame:
    """``table`` as ``Lake.read_partition`` decodes it; with ``text_as_arrow`` its text as Arrow-backed strings."""
    import pandas as pd
    import pyarrow as pa

    if text_as_arrow:
        text = pd.StringDtype("pyarrow")
        return table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)
    return table.to_pandas()


def _at_least(values: Any, bound: Any) -> Any:
    """Which of ``values`` are >= ``bound``: False for a null or NaN (they belong to the first range)."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.greater_equal(values, bound), False)
