"""Great Expectations 1.x gate for a batch, with suites kept as data.

``validate_frame`` runs a suite on a DataFrame in an ephemeral GX context (no project folder, no
network) and returns a JSON-safe ``ValidationSummary``: per failed expectation its type, column and
how many rows broke it. ``derive_suite`` writes a reasonable suite for a user's own data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.mlops.core.exceptions import ConfigError
from include.mlops.core.jsonsafe import json_safe
from include.mlops.core.memory import give_back_memory

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    import pyarrow as pa

    from include.mlops.core.config import PipelineConfig


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed: Any = None
    sample: list[Any] = field(default_factory=list)
    error: str | None = None
    allowed: Any = None  # the expectation's value_set, or [min, max]

    def _allowed(self) -> str:
        if isinstance(self.allowed, list) and self.allowed and "between" in self.expectation:
            return f" outside [{self.allowed[0]}, {self.allowed[1]}]"
        return f" not in {self.allowed}" if isinstance(self.allowed, list) else ""

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        if self.error:
            what = f"could not run: {self.error}"
        elif self.expectation == "expect_column_to_exist":
            return f"{self.expectation}: column {self.column!r} does not exist"
        elif "distinct_values" in self.expectation:
            # GX counts distinct values here, not rows
            values = self.sample or (self.observed if isinstance(self.observed, list) else [])
            count = self.unexpected_count if self.unexpected_count is not None else len(values)
            what = f"{count} distinct value(s){self._allowed() or ' not allowed'}" + (
                f": {values[:10]}" if values else ""
            )
        elif self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f} %)" if self.unexpected_percent is not None else ""
            if "not_be_null" in self.expectation:
                return f"{self.expectation} on {where}: {self.unexpected_count} rows{pct} are null"
            what = f"{self.unexpected_count} rows{pct} " + (self._allowed().strip() or "failed")
            examples = list(dict.fromkeys(map(_hashable, self.sample)))[:5]
            if examples:
                what += f", e.g. {examples}"
        else:
            what = f"observed {self.observed!r}"
        return f"{self.expectation} on {where}: {what}"


def _label(value: Any) -> Any:
    """1.0 -> 1 (a label column with a missing value is read as floats); anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else str(value)


@dataclass(frozen=True)
class ValidationSummary:
    suite: str
    success: bool
    rows: int
    evaluated: int
    failed: list[FailedExpectation]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self, partition: str) -> str:
        """The first line names the first failed check and its column: notifiers and OUTCOME lines send
        only that line. The full list follows."""
        first = f": {self.failed[0].describe()}" if self.failed else ""
        more = f" (and {len(self.failed) - 1} more, below)" if len(self.failed) > 1 else ""
        lines = [
            f"batch {partition} failed {len(self.failed)} of {self.evaluated} expectations "
            f"of suite {self.suite!r} ({self.rows} rows){first}{more}"
        ]
        if len(self.failed) > 1:
            lines += [f"  - {f.describe()}" for f in self.failed]
        return "\n".join(lines)


def load_suite(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        suite = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"expectation suite {path} does not exist (dataset.suite in the config)") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"expectation suite {path} is not valid JSON: {exc}") from exc
    if not isinstance(suite, dict) or not suite.get("name") or not isinstance(suite.get("expectations"), list):
        raise ConfigError(f"expectation suite {path} needs a `name` and a list of `expectations`")
    return suite


# Bump when derive_suite's rules change, so suites derived by the old rules count as stale.
DERIVATION_VERSION = 2


def derivation_inputs(cfg: PipelineConfig) -> dict[str, Any]:
    """The config keys a derived suite depends on. When one changes, the kept suite is stale."""
    ds = cfg.dataset
    return {
        "derivation_version": DERIVATION_VERSION,
        "name": ds.name,
        "target": ds.target,
        "task": ds.task,
        "timestamp_column": ds.timestamp_column,
        "features": list(ds.features) if ds.features is not None else None,
        "exclude_columns": list(ds.exclude_columns),
        "positive_label": ds.positive_label,
        "label_delay_days": ds.label_delay_days,
    }


def fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stale_keys(suite: dict[str, Any], cfg: PipelineConfig) -> list[str]:
    """The ``dataset.*`` keys whose value differs from what ``suite`` was derived for ([] = current).

    A suite kept by an older version (no record) is stale as a whole: ``["derived_from"]``."""
    recorded = (suite.get("meta") or {}).get("derived_from")
    if not isinstance(recorded, dict) or "inputs" not in recorded:
        return ["derived_from"]
    now = derivation_inputs(cfg)
    before = {"label_delay_days": 0, **recorded["inputs"]}  # recorded before late labels existed: no delay
    return [k if k == "derivation_version" else f"dataset.{k}" for k in now if before.get(k) != now[k]]


def without_target(suite: dict[str, Any], target: str) -> dict[str, Any]:
    """``suite`` for a feature batch that has no label column (``dataset.label_delay_days`` > 0): every
    expectation on ``target`` dropped, and ``target`` taken out of column-set expectations."""
    kept: list[dict[str, Any]] = []
    for exp in suite.get("expectations", []):
        kwargs = exp.get("kwargs") or {}
        if kwargs.get("column") == target:
            continue
        for name in ("column_set", "column_list"):
            if isinstance(kwargs.get(name), list) and target in kwargs[name]:
                exp = {**exp, "kwargs": {**kwargs, name: [c for c in kwargs[name] if c != target]}}
        kept.append(exp)
    return {**suite, "expectations": kept}


def label_suite(cfg: PipelineConfig) -> dict[str, Any]:
    """The GX suite a late-label feed must pass: at least one row; key present, not null, unique; target
    not null and 0/1 (classification) or numeric (regression)."""
    ds = cfg.dataset
    key, target = ds.key_column, ds.target
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": None}},
        {"type": "expect_column_to_exist", "kwargs": {"column": key}},
        {"type": "expect_column_to_exist", "kwargs": {"column": target}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": key}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": key}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": target}},
    ]
    if ds.task == "classification":
        exps.append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": target, "value_set": [0, 1]}})
    else:
        exps.append(
            {"type": "expect_column_values_to_be_in_type_list", "kwargs": {"column": target, "type_list": _NUMERIC}}
        )
    return {"name": f"{ds.name}_labels", "expectations": exps}


_NUMERIC = ["int", "int8", "int16", "int32", "int64", "Int64", "float", "float16", "float32", "float64", "Float64"]


def derive_suite(
    frame: pd.DataFrame, *, name: str, target: str, timestamp_column: str, task: str, cfg: PipelineConfig | None = None
) -> dict[str, Any]:
    """A suite derived from a sample of the user's data: schema, nulls, ranges with slack, category sets.

    With ``cfg`` the suite records what it was derived from (the config keys, their fingerprint, the
    columns and types it saw), so a later run can tell when it no longer fits the config."""
    import datetime as dt

    import pandas as pd

    if cfg is not None and cfg.dataset.label_delay_days > 0:  # the batch lands without its label
        frame = frame.drop(columns=[target], errors="ignore")
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": None}},
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [str(c) for c in frame.columns], "exact_match": False},
        },
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": timestamp_column}},
    ]
    if target in frame.columns:
        exps.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": target}})
    for col in frame.columns:
        if col in (timestamp_column,):
            continue
        series = frame[col]
        if col != target and series.notna().all():
            exps.append(
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": col}, "meta": {"derived": True}}
            )
        if pd.api.types.is_bool_dtype(series):
            continue
        if col == target and task == "classification":  # labels are 0/1 here (see preflight)
            values = sorted({_label(v) for v in series.dropna().unique().tolist()}, key=str)
            exps.append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": col, "value_set": values}})
        elif pd.api.types.is_numeric_dtype(series):
            lo, hi = series.min(), series.max()
            if pd.isna(lo):
                continue
            span = float(hi - lo) or abs(float(hi)) or 1.0
            exps.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": col, "min_value": float(lo) - span, "max_value": float(hi) + span},
                    "meta": {"derived": True, "observed_min": float(lo), "observed_max": float(hi)},
                }
            )
        elif col == target or series.nunique(dropna=True) <= 50:
            values = sorted(str(v) for v in series.dropna().unique())
            exps.append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": col, "value_set": values}})
    meta: dict[str, Any] = {"derived_from_rows": len(frame)}
    if cfg is not None:
        inputs = derivation_inputs(cfg)
        meta["derived_from"] = {
            "inputs": inputs,
            "fingerprint": fingerprint(inputs),
            "columns": {str(c): str(t) for c, t in frame.dtypes.items()},
            "rows": len(frame),
            "derived_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    return {"name": name, "meta": meta, "expectations": exps}


# How ``validate_frame`` splits a suite (see its docstring). Expectations of these types read only the
# table's length, or only its columns (names, order, dtypes), never a value.
_ROW_COUNT = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})
_SCHEMA = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_column_to_exist",
    }
)
_COLUMN_KWARGS = ("column", "column_A", "column_B")
GroupKey = str | tuple[str, ...]  # "rows", "schema", "all", or the columns an expectation reads


def _group_of(expectation: dict[str, Any], columns: list[str]) -> GroupKey:
    """Which slice of the batch an expectation needs to give the verdict it gives on the whole batch."""
    kind, kwargs = expectation["type"], expectation.get("kwargs") or {}
    if kind in _ROW_COUNT:
        return "rows"
    if kind in _SCHEMA:
        return "schema"
    if kwargs.get("row_condition"):  # a condition may name any column
        return "all"
    needed = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    if isinstance(kwargs.get("column_list"), list):
        needed += [c for c in kwargs["column_list"] if isinstance(c, str)]
    if not needed:  # a table-level expectation we do not know: it gets the whole batch
        return "all"
    if any(c not in columns for c in needed):  # GX reports the missing column the same on any frame
        return "schema"
    return tuple(dict.fromkeys(needed))


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


# Expectations whose verdict and details depend on a text column's values only, not on its dtype: a
# Parquet source hands GX such a column as Arrow-backed strings (``string[pyarrow]``, no Python object per
# value: a third of the memory, and decoded several times faster). Null-counting and type expectations
# are not here: they report the nulls (pd.NA, not None) or the dtype itself.
_TEXT_AS_ARROW = frozenset(
    {"expect_column_values_to_be_unique", "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"}
)


class ParquetSource(ColumnSource):
    """A Parquet file (its bytes, or its local path: ``Lake.partition_file``) read one slice at a time: only the
    columns a slice needs are decoded, the row count and schema come from the footer, and a text column whose
    expectations read only its values (``_TEXT_AS_ARROW``) is decoded as Arrow-backed strings. Other
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

        from include.mlops.data.lake import _sha256
        from include.mlops.core.exceptions import CorruptPartition

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


class _NoBatchFingerprint:
    """GX 1.x md5-hashes every pandas batch below 1 GB (``pd.util.hash_pandas_object`` over all columns,
    string columns included) only to put a ``pandas_data_fingerprint`` in the batch markers, once per
    ``get_batch`` and again per ``validate``: 1.8 s per pass at 1M rows, more than the checks themselves.
    Nothing here reads that marker (the lake records its own content hash), so it is switched off while
    we validate and restored after."""

    def __enter__(self) -> None:
        from great_expectations.execution_engine import pandas_execution_engine as engine

        self.engine, self.before = engine, getattr(engine, "HASH_THRESHOLD", None)
        if self.before is not None:
            engine.HASH_THRESHOLD = 0  # hashed only when the frame's memory_usage() is below it: never

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            self.engine.HASH_THRESHOLD = self.before


class _Gx:
    """One ephemeral GX context and pandas batch definition, reused for every slice of a batch."""

    def __init__(self) -> None:
        import logging

        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # keep task logs and the console readable; GX sets one of its modules to INFO explicitly, which logs
        # "Created temporary directory ... for ephemeral docs site" for every context
        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            logging.getLogger(name).setLevel(logging.WARNING)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = context.data_sources.add_pandas("lake").add_dataframe_asset("batch")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")

    def validate(
        self, frame: pd.DataFrame, name: str, expectations: dict[int, dict[str, Any]], result_format: Any
    ) -> dict[int, Any]:
        """GX's result of each of ``expectations`` (by its index in the suite) on ``frame``."""
        from great_expectations.core.expectation_suite import ExpectationSuite

        suite = ExpectationSuite(
            name=name,
            expectations=[
                {"type": e["type"], "kwargs": e.get("kwargs", {}), "meta": {**(e.get("meta") or {}), _SLOT: i}}
                for i, e in expectations.items()
            ],
        )
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        results = batch.validate(suite, result_format=result_format).results
        return {int(r.expectation_config.meta[_SLOT]): r for r in results if r.expectation_config is not None}

    def forget(self) -> None:
        """Drop what GX keeps of the slices validated so far. Its pandas engine is cached on the data source and
        keeps every metric it resolved for the context's life (each check's boolean row mask among them: 3 MB a
        check at 3M rows, never freed) and the last slice's frame; a slice's metrics are never needed for the
        next (GX recomputes every metric of a validation's graph)."""
        engine = self.batch_definition.data_asset.datasource.get_execution_engine()
        for cache in (getattr(engine, "_metric_cache", None), getattr(engine.batch_manager, "_batch_data_cache", None)):
            if isinstance(cache, dict):
                cache.clear()


_SLOT = "_mlops_index"  # GX returns results in its own order (errors first): each carries its index in meta
DETAILS = {"result_format": "SUMMARY", "partial_unexpected_count": 10}


def validate_frame(frame: pd.DataFrame, suite: dict[str, Any]) -> ValidationSummary:
    """Run ``suite`` against ``frame`` and summarise what failed."""
    return validate_source(ColumnSource(frame), suite)


def validate_source(source: ColumnSource, suite: dict[str, Any]) -> ValidationSummary:
    """Run ``suite`` against the batch ``source`` reads, with GX computing every verdict.

    GX runs each expectation on the slice of the batch it reads, never on a frame it does not need:
    an expectation on one column (or a pair, or a list) gets a frame of just those columns, so GX's
    per-expectation null filter copies that column, not the whole table; row-count checks get a frame of
    the batch's length with no columns; schema checks (and any expectation on a column the batch lacks,
    which GX reports as missing on any frame) get the empty frame with the batch's columns and dtypes; an
    expectation with a ``row_condition`` or of a table-level type not known here gets the whole batch. The
    verdicts and details are those of one GX run on the whole batch (tests/unit/data/test_validation_fast.py
    compares them fault by fault). Each slice is read when it is validated and dropped after, so a
    source that reads columns from a file holds one slice at a time. The passing path asks GX only for
    booleans; the expectations that failed are run again, alone, for their counts and samples."""
    import pandas as pd

    expectations = list(suite["expectations"])
    groups: dict[GroupKey, list[int]] = {}
    for i, e in enumerate(expectations):
        groups.setdefault(_group_of(e, source.columns), []).append(i)
    gx = _Gx()
    results: dict[int, Any] = {}
    with _NoBatchFingerprint():
        for key, indexes in groups.items():
            partwise = _partwise(key, indexes, expectations, source.rows)
            if partwise:  # a big batch: these checks run part by part, the group's others on the whole column
                verdicts = _verdicts_by_parts(gx, source, key[0], suite["name"], expectations, partwise)
                results.update(verdicts)
                failing = {i: expectations[i] for i in partwise if not verdicts[i].success}
                if failing:  # the counts and samples of a whole-batch run: the column read whole, once
                    arrow = all(e["type"] in _TEXT_AS_ARROW for e in failing.values())
                    frame = source.read(list(key), text_as_arrow=arrow)
                    results.update(gx.validate(frame, suite["name"], failing, DETAILS))
                    del frame
                gx.forget()
                source.give_back()
                indexes = [i for i in indexes if i not in partwise]
                if not indexes:
                    continue
            if key == "rows":
                frame = pd.DataFrame(index=pd.RangeIndex(source.rows))
            elif key == "schema":
                frame = source.schema()
            else:
                arrow = (
                    isinstance(key, tuple)
                    and len(key) == 1
                    and all(expectations[i]["type"] in _TEXT_AS_ARROW for i in indexes)
                )
                frame = source.read(None if key == "all" else list(key), text_as_arrow=arrow)
            verdicts = gx.validate(frame, suite["name"], {i: expectations[i] for i in indexes}, "BOOLEAN_ONLY")
            results.update(verdicts)
            failing = {i: expectations[i] for i in indexes if not verdicts[i].success}
            if failing:
                results.update(gx.validate(frame, suite["name"], failing, DETAILS))
            del frame
            gx.forget()
            source.give_back()
        source.finish()
    # in GX's order for one run: the expectations that raised first, then the others, each in suite order
    ordered = sorted(range(len(expectations)), key=lambda i: (not _raised(results[i]), i))
    return ValidationSummary(
        suite=suite["name"],
        success=all(results[i].success for i in ordered),
        rows=source.rows,
        evaluated=len(ordered),
        failed=[f for f in (_failed(results[i]) for i in ordered) if f is not None],
    )


# Above this many rows, a batch's row-by-row checks on one column run part by part (``ColumnSource.parts``), so
# a task holds one part of a column, not the column, whatever the batch's size. Each of these checks holds for
# the batch exactly when it holds for every part: nulls, sets and ranges on any split of the rows; uniqueness on
# parts split by value (equal values share a part), which also ends its cost of holding every value at once
# (GX's duplicate search: ~125 bytes a row for a 36-character id, the largest cost of validating a big batch).
# A check with ``mostly`` (a share of the rows) or any other type (types, aggregates) is judged on the whole.
PART_ROWS = 500_000
_UNIQUE = "expect_column_values_to_be_unique"
_PARTWISE = frozenset(
    {
        _UNIQUE,
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_between",
    }
)


def _partwise(key: GroupKey, indexes: list[int], expectations: list[dict[str, Any]], rows: int) -> list[int]:
    """Which expectations of a group run part by part: [] unless the batch is bigger than ``PART_ROWS``."""
    if rows <= PART_ROWS or not isinstance(key, tuple) or len(key) != 1:
        return []
    return [
        i
        for i in indexes
        if expectations[i]["type"] in _PARTWISE and (expectations[i].get("kwargs") or {}).get("mostly") is None
    ]


def _verdicts_by_parts(
    gx: _Gx, source: ColumnSource, column: str, name: str, expectations: list[dict[str, Any]], indexes: list[int]
) -> dict[int, Any]:
    """GX's boolean verdict of each expectation in ``indexes`` on every part of ``column`` (split by value when
    one checks uniqueness): the first result that failed, or the last that passed. Text is read as Arrow
    strings (a verdict does not depend on it; the details of a failure are computed on the column as read)."""
    verdicts: dict[int, Any] = {}
    by_value = any(expectations[i]["type"] == _UNIQUE for i in indexes)
    for part in source.parts(column, PART_ROWS, text_as_arrow=True, by_value=by_value):
        todo = {i: expectations[i] for i in indexes if i not in verdicts or verdicts[i].success}
        if todo:  # once a check failed on a part, the other parts cannot change its verdict
            verdicts.update(gx.validate(part, name, todo, "BOOLEAN_ONLY"))
        del part
        gx.forget()
        source.give_back()
    return verdicts


def _raised(r: Any) -> bool:
    return _error(r) is not None


def _error(r: Any) -> str | None:
    """The first line of the exception an expectation raised, if it raised."""
    info = r.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message", "")).splitlines()[0][:300] or "exception"
    for value in info.values() if isinstance(info, dict) else []:  # GX 1.x nests exception info per metric
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message", "")).splitlines()[0][:300]
    return None


def _failed(r: Any) -> FailedExpectation | None:
    """The summary of one GX result; None when it passed."""
    if r.success:
        return None
    cfg = r.expectation_config
    if cfg is None:  # GX always sets it on a suite's results; the type allows None
        return None
    res = r.result or {}
    error = _error(r)
    kwargs = cfg.kwargs
    allowed = kwargs.get("value_set")
    if allowed is None and ("min_value" in kwargs or "max_value" in kwargs):
        allowed = [kwargs.get("min_value"), kwargs.get("max_value")]
    return FailedExpectation(
        expectation=cfg.type,
        column=cfg.kwargs.get("column"),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=json_safe(res.get("unexpected_percent")),
        observed=json_safe((res.get("details") or {}).get("mismatched") or res.get("observed_value")),
        sample=[json_safe(v) for v in (res.get("partial_unexpected_list") or [])[:10]],
        error=error,
        allowed=json_safe(list(allowed)) if allowed is not None else None,
    )
