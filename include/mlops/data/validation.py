"""Great Expectations 1.x gate for a batch, with suites kept as data.

``validate_frame`` runs a suite on a DataFrame in an ephemeral GX context (no project folder, no
network) and returns a JSON-safe ``ValidationSummary``: per failed expectation its type, column and
how many rows broke it; ``validate_source`` does it on a batch read a slice at a time. The suites
themselves are in ``include.mlops.data.suites`` (``derive_suite`` writes a reasonable suite for a
user's own data) and the sources in ``include.mlops.data.column_source``; both are importable here too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.compat import gx_batch_fingerprint_off, gx_clear_engine_caches
from include.mlops.core.jsonsafe import json_safe
from include.mlops.data.column_source import ColumnSource, ParquetSource
from include.mlops.data.suites import (
    DERIVATION_VERSION,
    derivation_inputs,
    derive_suite,
    fingerprint,
    label_suite,
    load_suite,
    stale_keys,
    without_target,
)

if TYPE_CHECKING:
    import pandas as pd

# the names ingest, the CLI and the window check import from here
__all__ = [
    "DERIVATION_VERSION",
    "ColumnSource",
    "FailedExpectation",
    "ParquetSource",
    "ValidationSummary",
    "derivation_inputs",
    "derive_suite",
    "fingerprint",
    "label_suite",
    "load_suite",
    "stale_keys",
    "validate_frame",
    "validate_source",
    "without_target",
]


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


# Expectations whose verdict and details depend on a text column's values only, not on its dtype: a
# Parquet source hands GX such a column as Arrow-backed strings (``string[pyarrow]``, no Python object per
# value: a third of the memory, and decoded several times faster). Null-counting and type expectations
# are not here: they report the nulls (pd.NA, not None) or the dtype itself.
_TEXT_AS_ARROW = frozenset(
    {"expect_column_values_to_be_unique", "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"}
)


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
        gx_clear_engine_caches(self.batch_definition.data_asset.datasource.get_execution_engine())


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
    with gx_batch_fingerprint_off():
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
