from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.mlops.core.config import DriftConfig
from include.mlops.data.sampling import sample
from include.mlops.data.simulator import CATEGORICAL_COLUMNS, FLAG_COLUMNS, NUMERIC_COLUMNS, generate_day
from include.mlops.monitor.statistics import compute_drift
from include.mlops.monitor.trigger import decide_trigger

TODAY = dt.date(2026, 6, 20)
NUM, CAT = list(NUMERIC_COLUMNS + FLAG_COLUMNS), list(CATEGORICAL_COLUMNS)
CFG = DriftConfig(exclude_columns=("day_of_week",))


def ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("drifted", "history", "cfg", "active", "trigger", "why"),
    [
        (False, {}, DriftConfig(), False, False, "no drift"),
        (True, {}, DriftConfig(), False, True, "drift on 1 of the last 1"),
        (True, {ago(3): {"drifted": True, "triggered": True}}, DriftConfig(cooldown_days=7), False, False, "cooldown"),
        (True, {ago(7): {"drifted": True, "triggered": True}}, DriftConfig(cooldown_days=7), False, True, "drift"),
        (True, {ago(1): {"drifted": True, "triggered": True}}, DriftConfig(cooldown_days=0), False, True, "drift"),
        (True, {}, DriftConfig(), True, False, "already queued or running"),
        (True, {}, DriftConfig(min_drifted_days=2, lookback_days=3), False, False, "needs 2"),
        (
            True,
            {ago(2): {"drifted": True}},
            DriftConfig(min_drifted_days=2, lookback_days=3),
            False,
            True,
            "2 of the last 3",
        ),
        (True, {ago(3): {"drifted": True}}, DriftConfig(min_drifted_days=2, lookback_days=3), False, False, "needs 2"),
    ],
)
def test_trigger_decision(drifted, history, cfg, active, trigger, why):
    decision = decide_trigger(today=TODAY, drifted_today=drifted, history=history, cfg=cfg, training_active=active)
    assert decision.trigger is trigger
    assert why in decision.reason


def test_a_rerun_of_the_trigger_day_is_not_its_own_cooldown():
    history = {TODAY.isoformat(): {"drifted": True, "triggered": True}}
    assert decide_trigger(
        today=TODAY, drifted_today=True, history=history, cfg=DriftConfig(), training_active=False
    ).trigger


def test_sample_is_seeded_capped_and_keeps_the_rare_label_share():
    frame = pd.concat([generate_day(dt.date(2026, 3, d), rows_per_day=10_000) for d in (1, 2, 3)])
    a, b = sample(frame, 5000, 11, "is_fraud"), sample(frame, 5000, 11, "is_fraud")
    assert a.equals(b) and abs(len(a) - 5000) <= 2
    assert a["is_fraud"].mean() == pytest.approx(frame["is_fraud"].mean(), rel=0.05)
    assert sample(frame.head(100), 5000, 11, "is_fraud").equals(frame.head(100))


def _frames(scenario: str, current_offset: int, rows: int = 8000):
    start = dt.date(2026, 3, 1)
    shift = start + dt.timedelta(days=15)
    ref = pd.concat([generate_day(start + dt.timedelta(days=i), rows_per_day=rows) for i in range(10)])
    cur = pd.concat(
        [
            generate_day(
                start + dt.timedelta(days=current_offset + i),
                rows_per_day=rows,
                scenario=scenario,
                scenario_start=shift,
            )
            for i in range(3)
        ]
    )
    return ref, cur


@pytest.mark.parametrize(
    ("scenario", "offset", "expected"),
    [("baseline", 20, False), ("abrupt_drift", 20, True), ("gradual_drift", 20, False)],
)
def test_sampled_verdict_matches_the_full_data(scenario, offset, expected):
    ref, cur = _frames(scenario, offset)
    full, _ = compute_drift(ref, cur, NUM, CAT, CFG)
    cap = CFG.sample_cap  # the default cap: the verdict users get
    assert len(ref) > cap
    sampled, _ = compute_drift(sample(ref, cap, 11, "is_fraud"), sample(cur, cap, 11, "is_fraud"), NUM, CAT, CFG)
    assert full.dataset_drift is expected
    assert sampled.dataset_drift is full.dataset_drift
    assert sorted(sampled.drifted_columns) == sorted(full.drifted_columns)


def test_abrupt_shift_names_the_channel_mix_and_excluded_columns_are_not_checked():
    ref, cur = _frames("abrupt_drift", 20, rows=3000)
    result, snapshot = compute_drift(ref, cur, NUM, CAT, CFG)
    assert {"channel", "card_present", "is_new_device"} <= set(result.drifted_columns)
    assert "day_of_week" not in [c.column for c in result.columns]
    assert result.top(3)[0].drifted
    assert snapshot.dict()["metrics"]


def test_per_column_method_and_threshold_are_applied():
    from include.mlops.core.config import ColumnDriftRule

    ref, cur = _frames("baseline", 12, rows=2000)
    cfg = DriftConfig(exclude_columns=("day_of_week",), per_column={"amount": ColumnDriftRule("psi", 0.0)})
    result, _ = compute_drift(ref, cur, NUM, CAT, cfg)
    amount = next(c for c in result.columns if c.column == "amount")
    assert "psi" in amount.method.lower() and amount.threshold == 0.0 and amount.drifted


def test_read_sampled_reads_partition_by_partition_into_a_proportional_seeded_sample(tmp_path):
    from include.mlops.core.exceptions import InsufficientData
    from include.mlops.data.lake import Lake
    from include.mlops.data.sampling import read_sampled

    lake = Lake.at(str(tmp_path))
    sizes = {"2026-03-01": 2_000, "2026-03-02": 8_000, "2026-03-04": 4_000}  # 03-03 is missing
    frames = {d: generate_day(dt.date.fromisoformat(d), rows_per_day=n) for d, n in sizes.items()}
    for d, frame in frames.items():
        lake.write_partition("curated", "t", d, frame)
    days = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    a, present, total = read_sampled(lake, "t", days, ["amount", "is_fraud", "event_time"], 1_400, 11, "is_fraud")
    b, _, _ = read_sampled(lake, "t", days, ["amount", "is_fraud", "event_time"], 1_400, 11, "is_fraud")
    assert present == ["2026-03-01", "2026-03-02", "2026-03-04"] and total == sum(len(f) for f in frames.values())
    assert a.equals(b) and list(a.columns) == ["amount", "is_fraud", "event_time"]
    assert abs(len(a) - 1_400) <= 6  # rounding per stratum and partition
    per_day = a["event_time"].dt.date.astype(str).value_counts()
    for d, frame in frames.items():  # each day contributes in proportion to its size
        assert per_day[d] == pytest.approx(1_400 * len(frame) / total, abs=3)
    whole = pd.concat(frames.values())
    assert a["is_fraud"].mean() == pytest.approx(whole["is_fraud"].mean(), rel=0.1)
    small, _, _ = read_sampled(lake, "t", days, ["amount"], 10**9, 11)
    assert len(small) == total  # under the cap: every row
    with pytest.raises(InsufficientData, match="none of the days 2026-02-01..2026-02-02 is curated"):
        read_sampled(lake, "t", ["2026-02-01", "2026-02-02"], ["amount"], 100, 11)


@pytest.mark.parametrize(
    "column",
    [
        [0, 1, 0, 0, 1, 0, 0, 0] * 250,  # a label
        [0.0, 1.0, None, 0.0, 0.0] * 400,  # a label with missing values: a stratum of its own
        ["a", "b", "c", "a", None] * 400,
        list(range(2000)),  # more than 50 values: one random draw, in draw order
        None,  # no stratify column
    ],
)
def test_partition_sample_positions_are_the_draws_of_sample_fraction(tmp_path, column):
    """read_sampled draws a partition's rows from its stratify column alone, as an array: the same rows in the
    same order as sample_fraction on the frame, so the sample (and the drift verdict) does not depend on it."""
    import pyarrow.parquet as pq

    from include.mlops.data.sampling import _sample_positions, sample_fraction

    frame = pd.DataFrame({"x": range(2000)} | ({"y": column} if column is not None else {}))
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    pf = pq.ParquetFile(tmp_path / "p.parquet")
    read = pd.read_parquet(tmp_path / "p.parquet")
    stratify = "y" if column is not None else None
    for fraction, seed in ((0.05, 11), (0.3, 12), (0.0004, 13)):
        expected = sample_fraction(read, fraction, seed, stratify).index.to_numpy()
        assert _sample_positions(pf, len(read), fraction, seed, stratify).tolist() == expected.tolist()
    assert _sample_positions(pf, len(read), 1.0, 11, stratify) is None
