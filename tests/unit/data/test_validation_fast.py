"""The fast validation path (a GX run per slice of the batch, booleans first, details only for what
failed) against one straightforward GX run on the whole batch: the same verdict, the same failed
expectations in the same order with the same counts, samples and errors, for every simulator fault."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pandas as pd
import pytest

from include.mlops.core.config import DEFAULT_CONFIG_PATH, FAULTS, load_config
from include.mlops.core.exceptions import CorruptPartition
from include.mlops.data.lake import frame_to_parquet
from include.mlops.data.simulator import generate_day, inject_fault
from include.mlops.data.validation import (
    ParquetSource,
    ValidationSummary,
    _failed,
    load_suite,
    validate_frame,
    validate_source,
)

DAY = dt.date(2026, 3, 4)


def _whole_batch(frame: pd.DataFrame, suite: dict[str, Any]) -> ValidationSummary:
    """The straightforward GX run: one context, one batch of the whole frame, one SUMMARY validation."""
    import logging

    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # keep task logs and the console readable; GX sets one of its modules to INFO explicitly, which logs
    # "Created temporary directory ... for ephemeral docs site" for every context
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("lake").add_dataframe_asset("batch")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = ExpectationSuite(
        name=suite["name"],
        expectations=[
            {"type": e["type"], "kwargs": e.get("kwargs", {}), "meta": e.get("meta")} for e in suite["expectations"]
        ],
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10})
    # the conversion of one GX result into the project's summary is shared (not what this test checks); the
    # whole-batch run above is the reference the fast path must equal
    failed = [f for r in result.results if (f := _failed(r)) is not None]
    return ValidationSummary(
        suite=suite["name"],
        success=bool(result.success),
        rows=len(frame),
        evaluated=len(result.results),
        failed=failed,
    )


@pytest.fixture(scope="module")
def suite():
    return load_suite(load_config(DEFAULT_CONFIG_PATH).suite_path())


@pytest.fixture(scope="module")
def clean():
    return generate_day(DAY, rows_per_day=2000)


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_fast_path_gives_the_whole_batch_verdict_and_details_for_every_fault(suite, clean, fault):
    frame = inject_fault(clean, fault) if fault else clean
    fast, whole = validate_frame(frame, suite), _whole_batch(frame, suite)
    assert fast.success == whole.success == (fault is None)
    assert [(f.expectation, f.column) for f in fast.failed] == [(f.expectation, f.column) for f in whole.failed]
    assert fast == whole  # counts, percents, samples, errors, observed values, rows, evaluated


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_parquet_source_gives_the_whole_batch_verdict_and_details_for_every_fault(suite, clean, fault):
    """What validate_landed runs: the landed file decoded a slice at a time, text columns of uniqueness
    and set checks as Arrow strings; the same summary as one GX run on the file read as a whole frame."""
    data = frame_to_parquet(inject_fault(clean, fault) if fault else clean)
    landed = pd.read_parquet(io.BytesIO(data))  # as Lake.read_partition reads it
    source = ParquetSource(data, "mem://day")
    assert source.columns == list(landed.columns) and source.rows == len(landed)
    assert source.read(None).equals(landed) and (source.schema().dtypes == landed.dtypes).all()
    assert validate_source(source, suite) == _whole_batch(landed, suite)


def test_parquet_source_reports_a_damaged_file_as_a_corrupt_partition(suite, clean):
    data = frame_to_parquet(clean)
    with pytest.raises(CorruptPartition, match="mem://day is not readable Parquet"):
        ParquetSource(data[: len(data) // 2], "mem://day")
    damaged = data[:20] + bytes(200) + data[220:]  # footer intact, a data page of the first column broken
    only_amount = {
        "name": "s",
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}}],
    }
    with pytest.raises(CorruptPartition):  # found although no expectation reads that column
        validate_source(ParquetSource(damaged, "mem://day"), only_amount)


def test_fast_path_on_pairs_lists_row_conditions_and_missing_columns():
    """Expectations over two columns or a list of them, a row condition, a table-level type the split
    does not know, and a column the batch lacks: each gets what it reads, with the same outcome."""
    frame = pd.DataFrame(
        {"a": [1, 2, 3, 4] * 50, "b": [1, 2, 0, 4] * 50, "c": ["x", "y", "x", None] * 50, "d": [1.0] * 200}
    )
    suite = {
        "name": "mixed",
        "expectations": [
            {"type": "expect_column_pair_values_to_be_equal", "kwargs": {"column_A": "a", "column_B": "b"}},
            {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "c"]}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "a",
                    "min_value": 2,
                    "max_value": 9,
                    "row_condition": 'c=="x"',
                    "condition_parser": "pandas",
                },
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 200}},
            {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["a", "b", "c", "d"]}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "missing"}},
            {"type": "expect_column_to_exist", "kwargs": {"column": "missing"}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "c", "value_set": ["x"]}},
            {"type": "expect_column_max_to_be_between", "kwargs": {"column": "d", "min_value": 0, "max_value": 0.5}},
        ],
    }
    fast, whole = validate_frame(frame, suite), _whole_batch(frame, suite)
    assert not whole.success and len(whole.failed) >= 5
    assert fast == whole


# -- big batches: row-by-row checks part by part ------------------------------------------------------------------
def _file(frame: pd.DataFrame, row_group_size: int = 700) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, row_group_size=row_group_size)
    return buf.getvalue()


def test_parts_by_value_put_every_row_in_one_part_and_equal_values_together():
    """Nulls and NaN included; the parts are disjoint and together are the column, row for row."""
    n = 5000
    ids = [f"t{(i * 7919) % 3000:05d}" if i % 11 else None for i in range(n)]  # repeats, nulls, any order
    amounts = [float("nan") if i % 13 == 0 else float(i % 977) for i in range(n)]
    data = _file(pd.DataFrame({"id": ids, "amount": amounts}))
    source = ParquetSource(data, "mem://day")
    for column in ("id", "amount"):
        parts = list(source.parts(column, 1000, by_value=True))
        assert len(parts) >= 4
        whole = pd.read_parquet(io.BytesIO(data))[column]
        together = pd.concat([p[column] for p in parts], ignore_index=True)
        assert together.isna().sum() == whole.isna().sum()
        assert sorted(together.dropna()) == sorted(whole.dropna())
        seen: dict[Any, int] = {}
        for k, part in enumerate(parts):
            for value in part[column].dropna().unique():
                assert seen.setdefault(value, k) == k, f"{value!r} in parts {seen[value]} and {k}"
        assert parts[0][column].isna().sum() == whole.isna().sum()  # nulls and NaN all in the first part
        rows = list(source.parts(column, 1000))  # consecutive rows
        assert pd.concat([p[column] for p in rows], ignore_index=True).equals(whole)


@pytest.mark.parametrize("fault", [None, *FAULTS])
def test_a_big_batch_in_parts_gives_the_whole_batch_verdict_and_details(suite, clean, fault, monkeypatch):
    """``PART_ROWS`` made small, so the simulator's 2000-row day is 'big': every row-by-row check runs part by
    part (uniqueness by value), and the summary is still that of one GX run on the whole batch."""
    import include.mlops.data.validation as validation

    monkeypatch.setattr(validation, "PART_ROWS", 300)
    data = _file(inject_fault(clean, fault) if fault else clean)
    landed = pd.read_parquet(io.BytesIO(data))
    parted: list[str] = []
    real_parts = validation.ParquetSource.parts

    def counted(self, column, rows_per_part, text_as_arrow=False, by_value=False):
        for part in real_parts(self, column, rows_per_part, text_as_arrow, by_value):
            parted.append(column)
            yield part

    monkeypatch.setattr(validation.ParquetSource, "parts", counted)
    assert validate_source(ParquetSource(data, "mem://day"), suite) == _whole_batch(landed, suite)
    for column in ("transaction_id", "amount"):  # what the day has of them, in parts (none on an empty day)
        assert parted.count(column) >= (5 if column in landed.columns and len(landed) > 1000 else 0)


@pytest.mark.parametrize(
    "where",
    ["duplicate", "null", "outside_set", "in_forbidden_set", "out_of_range"],
)
def test_a_break_in_the_last_part_alone_fails_the_batch(where, monkeypatch):
    """One bad row at the end of a batch split into parts: found, with the whole batch's counts and samples."""
    import include.mlops.data.validation as validation

    monkeypatch.setattr(validation, "PART_ROWS", 250)
    n = 2000
    frame = pd.DataFrame(
        {"id": [f"id-{i:05d}" for i in range(n)], "kind": ["a", "b"] * (n // 2), "x": [float(i % 50) for i in range(n)]}
    )
    last = n - 1
    if where == "duplicate":
        frame.loc[last, "id"] = "id-00003"
    elif where == "null":
        frame.loc[last, "kind"] = None
    elif where == "outside_set":
        frame.loc[last, "kind"] = "zzz"
    elif where == "in_forbidden_set":
        frame.loc[last, "kind"] = "banned"
    else:
        frame.loc[last, "x"] = 1e9
    suite = {
        "name": "parts",
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "kind"}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "kind", "value_set": ["a", "b", None]}},
            {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "kind", "value_set": ["banned"]}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 99}},
        ],
    }
    data = _file(frame, row_group_size=600)
    fast = validate_source(ParquetSource(data, "mem://day"), suite)
    whole = _whole_batch(pd.read_parquet(io.BytesIO(data)), suite)
    broken = {
        "duplicate": "expect_column_values_to_be_unique",
        "null": "expect_column_values_to_not_be_null",
        "outside_set": "expect_column_values_to_be_in_set",
        "in_forbidden_set": "expect_column_values_to_not_be_in_set",
        "out_of_range": "expect_column_values_to_be_between",
    }[where]
    assert not fast.success and broken in [f.expectation for f in fast.failed]
    assert fast == whole
