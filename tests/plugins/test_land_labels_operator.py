"""LandLabelsOperator: skipped without a delay, lands the labels of X - N, a bad feed fails without retry."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow.operators.base import BatchQuarantined
from mlops_airflow.operators.ingest import LandLabelsOperator
from mlops_dev.task_context import task_context


def test_without_a_delay_the_task_is_skipped_with_the_reason(make_config):
    make_config()
    with pytest.raises(AirflowSkipException, match="labels arrive in the batch"):
        LandLabelsOperator(task_id="land_labels").execute(task_context())


def test_the_run_of_day_x_lands_the_labels_of_x_minus_n_and_a_bad_feed_is_quarantined(make_config, monkeypatch):
    import include.mlops.data.sources as sources
    from include.mlops.data.lake import Lake

    cfg = make_config(dataset={"key_column": "transaction_id", "label_delay_days": 2}, simulator={"rows_per_day": 200})
    landed = LandLabelsOperator(task_id="land_labels", ds="2026-03-10").execute(task_context())
    json.dumps(landed)  # XCom stays JSON-safe
    assert landed["ds"] == "2026-03-08" and landed["run_ds"] == "2026-03-10" and landed["rows"] > 0
    lake = Lake.at(cfg.lake_root)
    assert lake.list_partitions("labels", cfg.dataset.name) == ["2026-03-08"]

    real = sources.load_labels
    monkeypatch.setattr(sources, "load_labels", lambda *a, **k: real(*a, **k).assign(is_fraud=None))
    ctx = task_context()
    with pytest.raises(BatchQuarantined) as info:
        LandLabelsOperator(task_id="land_labels", ds="2026-03-10").execute(ctx)
    assert "expect_column_values_to_not_be_null on column 'is_fraud'" in str(info.value)
    pushed = ctx["ti"].xcom_push.call_args.kwargs
    assert pushed["key"] == "validation" and pushed["value"]["success"] is False
    assert lake.list_partitions("quarantine", f"{cfg.dataset.name}.labels") == ["2026-03-08"]
    assert lake.list_partitions("quarantine", cfg.dataset.name) == []  # the features' quarantine is untouched
    assert dt.date.fromisoformat(landed["ds"]) + dt.timedelta(days=2) == dt.date(2026, 3, 10)
