from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.core.config import DEFAULT_CONFIG_PATH, FAULTS, load_config
from include.mlops.data.simulator import generate_day, inject_fault
from include.mlops.data.validation import derive_suite, load_suite, validate_frame

DAY = dt.date(2026, 3, 4)


@pytest.fixture(scope="module")
def suite():
    return load_suite(load_config(DEFAULT_CONFIG_PATH).suite_path())


@pytest.fixture(scope="module")
def clean():
    return generate_day(DAY, rows_per_day=1500)


def test_shipped_suite_has_at_least_15_expectations(suite):
    assert len(suite["expectations"]) >= 15


def test_clean_batch_passes(suite, clean):
    summary = validate_frame(clean, suite)
    assert summary.success, summary.message("clean")
    assert summary.evaluated == len(suite["expectations"])


@pytest.mark.parametrize("fault", FAULTS)
def test_every_simulated_fault_fails_with_a_named_expectation(suite, clean, fault):
    summary = validate_frame(inject_fault(clean, fault), suite)
    assert not summary.success
    message = summary.message(f"transactions ds={DAY}")
    assert f"ds={DAY}" in message
    assert all(f.expectation.startswith("expect_") for f in summary.failed)
    assert len(summary.failed) >= 1


def test_failure_message_counts_rows_per_column(suite, clean):
    summary = validate_frame(inject_fault(clean, "unknown_category"), suite)
    (failed,) = summary.failed
    assert failed.column == "merchant_category"
    assert failed.unexpected_count == len(clean) // 10
    assert "crypto_exchange" in failed.describe()


def test_derived_suite_passes_its_own_data_and_catches_a_new_category(clean):
    suite = derive_suite(clean, name="derived", target="is_fraud", timestamp_column="event_time", task="classification")
    assert validate_frame(clean, suite).success
    assert not validate_frame(inject_fault(clean, "unknown_category"), suite).success


def test_distinct_value_checks_speak_of_values_not_rows_and_the_first_line_names_the_column():
    """What check_training_window says of a Yes/No label, and the one line a notifier sends."""
    import pandas as pd

    frame = pd.DataFrame({"default": ["Yes", "No", "No"] * 100, "income": [1.0, 2.0, None] * 100})
    suite = {
        "name": "s",
        "expectations": [
            {
                "type": "expect_column_distinct_values_to_be_in_set",
                "kwargs": {"column": "default", "value_set": [0, 1]},
            },
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}},
        ],
    }
    summary = validate_frame(frame, suite)
    text = {f.expectation: f.describe() for f in summary.failed}
    assert text["expect_column_distinct_values_to_be_in_set"] == (
        "expect_column_distinct_values_to_be_in_set on column 'default': 2 distinct value(s) not in [0, 1]: "
        "['No', 'Yes']"
    )
    assert "rows" not in text["expect_column_distinct_values_to_be_in_set"]
    assert text["expect_column_values_to_not_be_null"].endswith("100 rows (33.33 %) are null")
    first_line = summary.message("credit ds=2026-03-01").splitlines()[0]
    assert "column 'default'" in first_line or "column 'income'" in first_line
    assert "(and 1 more, below)" in first_line


def test_a_derived_suite_records_what_it_was_derived_from_and_knows_when_it_is_stale(clean):
    from include.mlops.core.config import parse_config
    from include.mlops.data.validation import stale_keys

    cfg = parse_config({"dataset": {"suite": None, "exclude_columns": ["transaction_id"]}})
    suite = derive_suite(
        clean, name="t", target="is_fraud", timestamp_column="event_time", task="classification", cfg=cfg
    )
    assert suite["meta"]["derived_from"]["columns"]["amount"] == "float64"
    assert stale_keys(suite, cfg) == []
    moved = parse_config({"dataset": {"suite": None, "exclude_columns": []}})
    assert stale_keys(suite, moved) == ["dataset.exclude_columns"]
    assert stale_keys({"name": "old", "expectations": []}, cfg) == ["derived_from"]
