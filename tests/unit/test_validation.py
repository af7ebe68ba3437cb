from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.config import DEFAULT_CONFIG_PATH, FAULTS, load_config
from include.mlops.simulator import generate_day, inject_fault
from include.mlops.validation import derive_suite, load_suite, validate_frame

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
