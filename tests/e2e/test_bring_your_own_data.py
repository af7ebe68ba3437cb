"""A user's own regression dataset through MLOPS_CONFIG: no code change, derived suite, both task types."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from include.mlops.cli import main as cli
from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from tests.e2e.conftest import UTC, day, ingest, task_states, train, xcom

START = day("2026-02-01")


@pytest.fixture
def houses_csv(tmp_path):
    rng = np.random.default_rng(3)
    n = 12 * 300
    sold_at = pd.Timestamp(START, tz=UTC) + pd.to_timedelta(rng.integers(0, 12 * 86400, n), unit="s")
    sqft = rng.normal(1500, 400, n).clip(300)
    rooms = rng.integers(1, 7, n)
    hood = rng.choice(["north", "south", "harbor", "hills"], n)
    age = rng.integers(0, 80, n)
    price = (
        50_000
        + 150 * sqft
        + 10_000 * rooms
        - 500 * age
        + pd.Series(hood).map({"north": 0, "south": -20_000, "harbor": 60_000, "hills": 30_000}).to_numpy()
        + rng.normal(0, 15_000, n)
    )
    frame = pd.DataFrame(
        {
            "sold_at": sold_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sqft": sqft.round(),
            "rooms": rooms,
            "neighborhood": hood,
            "age_years": age,
            "price": price.round(-2),
        }
    )
    path = tmp_path / "houses.csv"
    frame.sample(frac=1, random_state=1).to_csv(path, index=False)
    return path


def test_regression_dataset_runs_through_the_same_dags(houses_csv, make_config, dags, mlflow_client):
    cfg = make_config(
        dataset={
            "name": "houses",
            "uri": str(houses_csv),
            "timestamp_column": "sold_at",
            "target": "price",
            "task": "regression",
            "suite": None,
        },
        model={"estimator": "hist_gradient_boosting"},
        training={"window_days": 12, "holdout_days": 3, "min_rows": 200},
    )
    assert cfg.evaluation.primary_metric == "rmse" and cfg.evaluation.direction == "minimize"
    # the whole history in one go, except the last day, which the DAG ingests
    assert cli(["load-history", "--to", "2026-02-11"]) == 0
    assert ingest(dags, day("2026-02-12")) == {"2026-02-12": "success"}
    lake = Lake.at(cfg.lake_root)
    assert len(lake.list_partitions("curated", "houses")) == 12
    assert lake.storage.exists("suites/houses.json")  # derived once from the data, kept in the lake

    run = train(dags, day("2026-02-13"))
    assert run.state == "success", task_states(run)
    assert champion_version(mlflow_client, cfg.model.name) == xcom(run, "train_challenger")["version"]
    evaluation = xcom(run, "evaluate_challenger")
    assert evaluation["primary_metric"] == "rmse" and 0 < evaluation["challenger_value"] < 40_000


def test_load_history_reports_a_missing_timestamp_column(make_config, houses_csv, capsys):
    make_config(
        dataset={
            "name": "houses",
            "uri": str(houses_csv),
            "timestamp_column": "listed_at",
            "target": "price",
            "task": "regression",
            "suite": None,
        }
    )
    assert cli(["load-history"]) == 2
    err = capsys.readouterr().err
    assert "listed_at" in err and "sold_at" in err


def test_an_ingestion_rerun_replaces_the_day_and_adds_no_rows(make_config, dags):
    cfg = make_config()
    ingest(dags, day("2026-04-02"))
    lake = Lake.at(cfg.lake_root)
    first = lake.partition_info("curated", cfg.dataset.name, "2026-04-02")
    ingest(dags, day("2026-04-02"))
    second = lake.partition_info("curated", cfg.dataset.name, "2026-04-02")
    assert second.rows == first.rows and second.content_hash == first.content_hash
    assert lake.list_partitions("curated", cfg.dataset.name) == ["2026-04-02"]
    assert dt.date.fromisoformat(first.ds) == day("2026-04-02")
