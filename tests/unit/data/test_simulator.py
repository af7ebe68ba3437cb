from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.core.config import FAULTS
from include.mlops.data.simulator import COLUMNS, TARGET, generate_day, inject_fault, rows_for_day

DAY = dt.date(2026, 3, 4)  # a Wednesday


def test_same_seed_and_day_give_the_same_frame():
    a, b = generate_day(DAY, seed=1, rows_per_day=800), generate_day(DAY, seed=1, rows_per_day=800)
    assert a.equals(b)
    assert not a.equals(generate_day(DAY, seed=2, rows_per_day=800))


def test_schema_and_rare_label():
    frame = generate_day(DAY, rows_per_day=20_000)
    assert tuple(frame.columns) == COLUMNS
    assert 0.01 <= frame[TARGET].mean() <= 0.03
    assert frame["transaction_id"].is_unique
    assert (frame["event_time"].dt.date == DAY).all()


def test_weekday_and_holiday_volume_patterns():
    saturday, sunday = dt.date(2026, 3, 7), dt.date(2026, 3, 8)
    assert rows_for_day(saturday, 5000) > rows_for_day(sunday, 5000)
    assert rows_for_day(dt.date(2026, 12, 16), 5000) > rows_for_day(dt.date(2026, 10, 14), 5000)


def test_fraud_depends_on_features():
    frame = generate_day(DAY, rows_per_day=50_000)
    by_device = frame.groupby("is_new_device")[TARGET].mean()
    assert by_device[1] > 2 * by_device[0]


def test_abrupt_drift_changes_channel_mix_from_its_start_date():
    start = dt.date(2026, 3, 10)
    before = generate_day(dt.date(2026, 3, 9), scenario="abrupt_drift", scenario_start=start, rows_per_day=5000)
    after = generate_day(dt.date(2026, 3, 10), scenario="abrupt_drift", scenario_start=start, rows_per_day=5000)
    assert (before["channel"] == "mobile").mean() < 0.25
    assert (after["channel"] == "mobile").mean() > 0.45


def test_gradual_drift_grows_over_time():
    start = dt.date(2026, 3, 1)
    amounts = [
        generate_day(start + dt.timedelta(days=d), scenario="gradual_drift", scenario_start=start, rows_per_day=5000)[
            "amount"
        ].median()
        for d in (0, 30, 59)
    ]
    assert amounts[0] < amounts[1] < amounts[2]


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_changes_the_frame(fault):
    clean = generate_day(DAY, rows_per_day=500)
    broken = inject_fault(clean, fault)
    assert not broken.equals(clean)
