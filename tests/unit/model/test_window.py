"""The training window: resolved from a run's end and params, checked, and parsed back from the check's result."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from include.mlops.core.exceptions import InsufficientData, WindowInvalid
from include.mlops.data.ingest import ingest_day
from include.mlops.data.lake import Lake
from include.mlops.model.window import Window, check_window, resolve_window, window_from_check

END = dt.date(2026, 3, 11)


def test_resolve_window_takes_the_configured_days_unless_given(make_config):
    cfg = make_config()  # training: window_days 10, holdout_days 3
    assert resolve_window(END, None, None, cfg) == Window(dt.date(2026, 3, 1), dt.date(2026, 3, 8), END)
    assert resolve_window(END, 5, 2, cfg) == Window(dt.date(2026, 3, 6), dt.date(2026, 3, 9), END)


@pytest.mark.parametrize(("days", "holdout"), [(5, 5), (5, 0), (3, 7)])
def test_a_holdout_outside_the_window_is_refused(make_config, days, holdout):
    with pytest.raises(WindowInvalid, match=f"holdout_days={holdout} must be at least 1 and less than"):
        resolve_window(END, days, holdout, make_config())
    assert issubclass(WindowInvalid, InsufficientData)  # the task fails without retry, like a too-small window


@pytest.mark.parametrize("check", [None, "window", {"partitions": {}}, ["window"]])
def test_a_malformed_check_result_is_refused(check):
    with pytest.raises(WindowInvalid, match="window_check must be the check task's result"):
        window_from_check(check)


def test_check_window_pins_the_partitions_and_round_trips_through_json(make_config):
    cfg = make_config(simulator={"rows_per_day": 1500, "faults": {"2026-03-05": "nulls"}})
    lake = Lake.at(cfg.lake_root)
    for d in range(1, 11):
        ingest_day(cfg, lake, dt.date(2026, 3, d))
    window = resolve_window(END, None, None, cfg)
    check = check_window(lake, cfg, window)
    assert check.missing_days == ["2026-03-05"]  # quarantined: never trained on
    assert sorted(check.partitions) == [f"2026-03-{d:02d}" for d in range(1, 11) if d != 5]
    assert check.rows_train > 0 and check.rows_holdout > 0
    xcom = json.loads(json.dumps(check.as_dict()))
    assert window_from_check(xcom) == window
    assert xcom["partitions"] == check.partitions and xcom["content_hash"] == check.content_hash


def test_check_window_refuses_an_empty_window(make_config):
    cfg = make_config()
    with pytest.raises(InsufficientData, match="run or backfill ingest_and_validate"):
        check_window(Lake.at(cfg.lake_root), cfg, resolve_window(END, None, None, cfg))
