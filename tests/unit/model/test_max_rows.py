"""training.max_rows: the training part of a window is a seeded sample stratified by the target, drawn while the
partitions are read; the holdout is read whole unless it alone exceeds the cap; the lineage records the fraction."""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np
import pandas as pd
import pytest

from include.mlops.data.lake import Lake
from include.mlops.model.window import Sample, Window, assemble_window, check_window

pytestmark = pytest.mark.unit

START = dt.date(2026, 3, 1)
WINDOW = Window(START, START + dt.timedelta(days=7), START + dt.timedelta(days=10))  # 7 training, 3 holdout days


def day_frame(day: dt.date, rows: int, positives: int, seed: int = 0) -> pd.DataFrame:
    """Rows with a unique id (day and row), one numeric and one categorical feature and ``positives`` fraud rows."""
    rng = np.random.default_rng([seed, day.toordinal()])
    label = np.zeros(rows, dtype=int)
    label[rng.choice(rows, size=positives, replace=False)] = 1
    return pd.DataFrame(
        {
            "row_id": [f"{day.isoformat()}-{i}" for i in range(rows)],
            "event_time": pd.Timestamp(day) + pd.to_timedelta(np.arange(rows), unit="s"),
            "amount": rng.gamma(2.0, 30.0, rows) + 40 * label,
            "channel": rng.choice(["pos", "online", "mobile"], rows),
            "is_fraud": label,
        }
    )


def write_window(cfg, train_rows: int, train_positives: int, holdout_rows: int, holdout_positives: int) -> Lake:
    lake = Lake.at(cfg.lake_root)
    for day in WINDOW.days():
        training = day < WINDOW.holdout_start
        frame = day_frame(day, *(train_rows, train_positives) if training else (holdout_rows, holdout_positives))
        lake.write_partition("curated", cfg.dataset.name, day, frame)
    return lake


def test_the_training_part_is_sampled_to_the_cap_proportionally_per_class_and_the_holdout_is_whole(make_config):
    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    full = assemble_window(lake, cfg, WINDOW, max_rows=None)
    data = assemble_window(lake, cfg, WINDOW)

    assert len(full.train) == 7000 and len(data.train) == 1000
    # 210 of 7000 rows are fraud: 3 % of the 1000 sampled rows
    assert int(data.train["is_fraud"].sum()) == 30
    assert set(data.train["row_id"]) <= set(full.train["row_id"])
    assert data.train["row_id"].is_unique
    # in the order read: day, then row within the day
    order = full.train.reset_index().set_index("row_id").loc[data.train["row_id"], "index"]
    assert order.is_monotonic_increasing
    # every training day contributes (a sample of the whole window, not its first days)
    assert data.train["event_time"].dt.date.nunique() == 7
    pd.testing.assert_frame_equal(data.holdout, full.holdout)  # 900 rows, under the cap: read whole

    assert data.sampling["max_rows"] == 1000 and data.sampling["stratified_by"] == "is_fraud"
    assert data.sampling["train"] == {
        "rows_before": 7000,
        "rows_after": 1000,
        "fraction": round(1000 / 7000, 6),
        "sampled": True,
        "class_rows_before": {"0": 6790, "1": 210},
        "class_rows_after": {"0": 970, "1": 30},
    }
    assert data.sampling["holdout"]["sampled"] is False and data.sampling["holdout"]["fraction"] == 1.0
    assert [p["rows"] for p in data.partitions] == [1000] * 7 + [300] * 3  # the lineage keeps the partitions' rows


def test_a_holdout_that_alone_exceeds_the_cap_is_sampled_to_it(make_config):
    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=100, train_positives=5, holdout_rows=600, holdout_positives=60)
    data = assemble_window(lake, cfg, WINDOW)
    assert len(data.train) == 700 and data.sampling["train"]["sampled"] is False  # under the cap: every row
    assert len(data.holdout) == 1000 and int(data.holdout["is_fraud"].sum()) == 100
    assert data.sampling["holdout"]["rows_before"] == 1800
    # the evaluation reads the same holdout rows as training did
    again = assemble_window(lake, cfg, WINDOW, holdout_only=True)
    pd.testing.assert_frame_equal(again.holdout, data.holdout)


def test_a_rare_class_stays_in_the_sample(make_config):
    cfg = make_config(training={"max_rows": 1000})
    lake = Lake.at(cfg.lake_root)
    for day in WINDOW.days():
        lake.write_partition("curated", cfg.dataset.name, day, day_frame(day, 2000, 1 if day == START else 0))
    data = assemble_window(lake, cfg, WINDOW)
    # 1 fraud row in 14,000: its proportional share of 1000 rounds to 0, yet the class is kept
    assert len(data.train) == 1000 and int(data.train["is_fraud"].sum()) == 1


def test_the_sample_is_seeded(make_config):
    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    first = assemble_window(lake, cfg, WINDOW).train
    pd.testing.assert_frame_equal(assemble_window(lake, cfg, WINDOW).train, first)  # what the training task reads
    other = assemble_window(lake, make_config(training={"random_state": 8}), WINDOW).train
    assert len(other) == 1000 and set(other["row_id"]) != set(first["row_id"])


def test_no_cap_reads_every_row(make_config):
    cfg = make_config(training={"max_rows": None})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    data = assemble_window(lake, cfg, WINDOW)
    assert (len(data.train), len(data.holdout)) == (7000, 900)
    assert data.sampling["max_rows"] is None and data.sampling["train"]["sampled"] is False


def test_regression_samples_without_strata(make_config):
    cfg = make_config(
        training={"max_rows": 1000}, dataset={"task": "regression", "target": "amount", "uri": "unused.csv"}
    )
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    data = assemble_window(lake, cfg, WINDOW)
    assert len(data.train) == 1000 and data.sampling["stratified_by"] is None
    assert "class_rows_before" not in data.sampling["train"]


def test_the_sample_never_buffers_much_more_than_the_cap():
    sample = Sample(cap=1000, seed=7, stratify="is_fraud")
    peak = 0
    for i in range(40):  # 40 partitions of 1000 rows: 40,000 rows read
        day = START + dt.timedelta(days=i)
        frame = day_frame(day, 1000, 20)
        sample.add(frame, day)
        peak = max(peak, sample.buffered)
    assert peak <= 2 * 1000 + 1000  # the cap per class plus one partition (fraud is < cap rows in all)
    out = sample.frame()
    assert len(out) == 1000 and int(out["is_fraud"].sum()) == 20  # 800 of 40,000 rows are fraud: 2 %
    assert sample.rows_before == 40_000


def test_the_check_logs_and_returns_what_it_drew(make_config, caplog):
    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    with caplog.at_level(logging.INFO, logger="include.mlops.model.window"):
        check = check_window(lake, cfg, WINDOW)
    assert check.rows_train == 1000 and check.rows_holdout == 900
    xcom = json.loads(json.dumps(check.as_dict()))
    assert xcom["sampling"]["train"]["rows_before"] == 7000
    assert "training.max_rows=1000" in caplog.text
    assert "train 7000 -> 1000 rows (fraction 0.1429)" in caplog.text
    assert "holdout 900 rows, not sampled" in caplog.text


def test_the_training_run_records_the_sample(make_config, mlflow_client, mlflow_uri):
    from include.mlops.model.training import train_and_register

    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    data = assemble_window(lake, cfg, WINDOW)
    result = train_and_register(mlflow_client, cfg, data, WINDOW, "test/max-rows", {})
    assert result.rows_train == 1000
    run = mlflow_client.get_run(result.run_id)
    assert run.data.params["rows_train"] == "1000"
    assert run.data.params["rows_train_before_sampling"] == "7000"
    assert float(run.data.params["train_sample_fraction"]) == pytest.approx(1000 / 7000, abs=1e-6)
    assert run.data.tags["data.sampled"] == "true" and run.data.tags["data.max_rows"] == "1000"
    lineage = mlflow_client.download_artifacts(result.run_id, "lineage/training_data.json")
    with open(lineage) as fh:
        recorded = json.load(fh)
    assert recorded["sampling"] == data.sampling
    assert recorded["sampling"]["train"]["fraction"] == round(1000 / 7000, 6)


def test_the_check_reads_only_the_target_and_draws_the_rows_every_column_draws(make_config):
    from include.mlops.model.window import check_columns

    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    full = assemble_window(lake, cfg, WINDOW)
    target_only = assemble_window(lake, cfg, WINDOW, check_columns(cfg))

    assert list(target_only.train.columns) == ["is_fraud"] and list(target_only.holdout.columns) == ["is_fraud"]
    assert target_only.sampling == full.sampling and target_only.content_hash == full.content_hash
    assert target_only.partitions == full.partitions  # rows counted from the file, not from the columns read
    pd.testing.assert_series_equal(target_only.train["is_fraud"], full.train["is_fraud"])


def test_training_reads_neither_the_timestamp_nor_excluded_columns_and_drops_id_like_ones_before_the_fit(make_config):
    from include.mlops.model.training import feature_columns, model_frames
    from include.mlops.model.window import training_columns

    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    full = assemble_window(lake, cfg, WINDOW)
    read = assemble_window(lake, cfg, WINDOW, training_columns(cfg))
    assert list(read.train.columns) == ["row_id", "amount", "channel", "is_fraud"]  # no event_time
    pd.testing.assert_frame_equal(read.train, full.train.drop(columns="event_time"))

    slim = model_frames(read, cfg)  # row_id is unique per row: not a feature, so it goes before the fit
    assert list(slim.train.columns) == list(slim.holdout.columns) == ["amount", "channel", "is_fraud"]
    assert feature_columns(slim.train, cfg) == feature_columns(full.train, cfg) == (["amount"], ["channel"])
    assert slim.sampling == full.sampling and slim.partitions == full.partitions

    excluded = make_config(dataset={"exclude_columns": ["channel"]})
    assert list(assemble_window(lake, excluded, WINDOW, training_columns(excluded)).train.columns) == [
        "row_id",
        "amount",
        "is_fraud",
    ]
    chosen = make_config(dataset={"exclude_columns": [], "features": ["amount", "not_in_the_data"]})
    assert list(assemble_window(lake, chosen, WINDOW, training_columns(chosen)).train.columns) == ["amount", "is_fraud"]


def test_the_model_trained_on_the_columns_read_is_the_one_every_column_trains(make_config, mlflow_client, mlflow_uri):
    from include.mlops.model.training import train_and_register, train_on_check

    cfg = make_config(training={"max_rows": 1000})
    lake = write_window(cfg, train_rows=1000, train_positives=30, holdout_rows=300, holdout_positives=9)
    check = check_window(lake, cfg, WINDOW).as_dict()
    whole = train_and_register(mlflow_client, cfg, assemble_window(lake, cfg, WINDOW), WINDOW, "t/a", {})
    checked = train_on_check(mlflow_client, cfg, lake, check, "t/b", {})

    assert checked.metrics == whole.metrics and checked.rows_train == whole.rows_train == 1000
    lineage = [
        json.load(open(mlflow_client.download_artifacts(r.run_id, "lineage/training_data.json")))
        for r in (whole, checked)
    ]
    assert lineage[0] == lineage[1]
