from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.core.exceptions import InsufficientData
from include.mlops.data.ingest import ingest_day
from include.mlops.data.lake import Lake
from include.mlops.model.registry import find_registered
from include.mlops.model.training import build_pipeline, feature_columns, train_and_register
from include.mlops.model.window import Window, assemble_window, check_training_frame

END = dt.date(2026, 3, 11)


@pytest.fixture
def curated(make_config):
    """Ten curated days (2026-03-01..10) with 2026-03-05 quarantined."""
    cfg = make_config(simulator={"rows_per_day": 1500, "faults": {"2026-03-05": "nulls"}})
    lake = Lake.at(cfg.lake_root)
    results = [ingest_day(cfg, lake, dt.date(2026, 3, d)) for d in range(1, 11)]
    assert [r["status"] for r in results].count("quarantined") == 1
    return cfg, lake


def test_window_days_and_holdout_split():
    w = Window.ending(END, 10, 3)
    assert w.days()[0] == dt.date(2026, 3, 1) and w.days()[-1] == dt.date(2026, 3, 10)
    assert w.holdout_start == dt.date(2026, 3, 8)


def test_assemble_skips_quarantined_days_and_splits_out_of_time(curated):
    cfg, lake = curated
    data = assemble_window(lake, cfg, Window.ending(END, 10, 3))
    assert data.missing_days == ["2026-03-05"]
    assert len(data.partitions) == 9
    assert data.train["event_time"].max() < data.holdout["event_time"].min()
    assert data.holdout["event_time"].dt.date.min() == dt.date(2026, 3, 8)


def test_pinned_partitions_refuse_changed_data(curated):
    import pandas as pd

    cfg, lake = curated
    window = Window.ending(END, 10, 3)
    pinned = {p["ds"]: p["content_hash"] for p in assemble_window(lake, cfg, window).partitions}
    lake.write_partition("curated", cfg.dataset.name, "2026-03-02", pd.DataFrame({"is_fraud": [0]}))
    with pytest.raises(InsufficientData, match="changed after it was checked"):
        assemble_window(lake, cfg, window, expected=pinned)


def test_empty_window_says_what_to_run(curated):
    cfg, lake = curated
    with pytest.raises(InsufficientData, match="backfill ingest_and_validate"):
        assemble_window(lake, cfg, Window.ending(dt.date(2025, 1, 10), 5, 2))


def test_too_few_rows_is_refused(curated):
    cfg, lake = curated
    window = Window.ending(END, 10, 3)
    data = assemble_window(lake, cfg, window)
    with pytest.raises(InsufficientData, match="training.min_rows"):
        check_training_frame(data.train.head(10), data.holdout, cfg, window)


def test_features_are_typed_from_data_and_ids_dropped(curated):
    cfg, lake = curated
    data = assemble_window(lake, cfg, Window.ending(END, 10, 3))
    numeric, categorical = feature_columns(data.train, cfg)
    assert "amount" in numeric and "channel" in categorical
    assert not {"transaction_id", "event_time", "is_fraud"} & set(numeric + categorical)
    model = build_pipeline(cfg, numeric, categorical).fit(data.train, data.train["is_fraud"])
    assert model.predict_proba(data.holdout).shape == (len(data.holdout), 2)


def test_training_logs_lineage_and_a_retry_reuses_the_version(curated, mlflow_client, mlflow_uri):
    cfg, lake = curated
    window = Window.ending(END, 10, 3)
    data = assemble_window(lake, cfg, window)
    tags = {"dag_id": "train_and_promote", "run_id": "r1", "logical_date": "none"}
    first = train_and_register(mlflow_client, cfg, data, window, "train_and_promote/r1", tags)
    again = train_and_register(mlflow_client, cfg, data, window, "train_and_promote/r1", tags)
    assert (first.reused, again.reused) == (False, True)
    assert again.version == first.version
    versions = mlflow_client.search_model_versions(f"name = '{cfg.model.name}'")
    assert len(versions) == 1
    run = mlflow_client.get_run(first.run_id)
    assert run.data.tags["data.content_hash"] == data.content_hash
    assert run.data.tags["data.partitions"].split(",") == [p["ds"] for p in data.partitions]
    assert run.data.tags["dag_id"] == "train_and_promote"
    assert "holdout_average_precision" in run.data.metrics
    assert str(mlflow_client.get_model_version_by_alias(cfg.model.name, "challenger").version) == first.version
    assert find_registered(mlflow_client, cfg.model.name, "train_and_promote/other") is None


def test_crash_after_logging_before_registering_registers_that_run(curated, mlflow_client, mlflow_uri):
    cfg, lake = curated
    window = Window.ending(END, 10, 3)
    data = assemble_window(lake, cfg, window)
    first = train_and_register(mlflow_client, cfg, data, window, "k/crash", {})
    # simulate the crash: the run finished, but its version never made it into the registry
    mlflow_client.delete_model_version(cfg.model.name, first.version)
    again = train_and_register(mlflow_client, cfg, data, window, "k/crash", {})
    assert again.reused and again.run_id == first.run_id
    assert len(mlflow_client.search_model_versions(f"name = '{cfg.model.name}'")) == 1
