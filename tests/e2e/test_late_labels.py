"""Labels that arrive late, end to end with dag.test(): the batch lands without its label, land_labels brings the
labels N days later, training uses only matured days and says so in its lineage; your own labels_uri too."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from include.mlops.cli import main as cli
from include.mlops.data.lake import Lake
from tests.e2e.conftest import UTC, day, ingest, run_dag, task_states, train, xcom

DELAY = 3
DAYS = [day("2026-03-01") + dt.timedelta(days=i) for i in range(12)]
WINDOW_END = day("2026-03-13")


def lineage(mlflow_client, run_id: str, tmp_path) -> dict:
    path = mlflow_client.download_artifacts(run_id, "lineage/training_data.json", str(tmp_path))
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture
def late_history(make_config, dags):
    cfg = make_config(
        dataset={"key_column": "transaction_id", "label_delay_days": DELAY},
        simulator={"rows_per_day": 600},
        training={"window_days": 6, "holdout_days": 2, "min_rows": 200},
        evaluation={"floor": None},
    )
    return cfg, ingest(dags, *DAYS)


def test_the_batch_lands_without_its_label_and_the_labels_land_delay_days_later(late_history, dags):
    cfg, states = late_history
    assert set(states.values()) == {"success"}
    lake, name = Lake.at(cfg.lake_root), cfg.dataset.name
    assert lake.list_partitions("curated", name) == [d.isoformat() for d in DAYS]
    curated = lake.read_partition("curated", name, "2026-03-05")
    assert cfg.dataset.target not in curated.columns
    # the run of day X landed the labels of X - 3: 02-26 .. 03-09; the last three days have none yet
    first = DAYS[0] - dt.timedelta(days=DELAY)
    assert lake.list_partitions("labels", name) == [
        (first + dt.timedelta(days=i)).isoformat() for i in range(len(DAYS))
    ]
    labels = lake.read_partition("labels", name, "2026-03-05")
    assert list(labels.columns) == ["transaction_id", cfg.dataset.target]
    assert sorted(labels["transaction_id"]) == sorted(curated["transaction_id"])  # one label per event

    # a re-run of a day's ingestion replaces its labels partition (here: a damaged one is restored)
    good = lake.partition_info("labels", name, "2026-03-09")
    lake.write_partition("labels", name, "2026-03-09", labels.head(3))
    logical = dt.datetime.combine(day("2026-03-13"), dt.time(), tzinfo=UTC)
    rerun = run_dag(dags, "ingest_and_validate", logical_date=logical, run_after=logical)
    assert rerun.state == "success", task_states(rerun)
    assert xcom(rerun, "land_labels")["ds"] == "2026-03-09"
    assert lake.partition_info("labels", name, "2026-03-09").content_hash == good.content_hash
    assert lake.storage.list(f"labels/{name}/ds=2026-03-09/") == [f"labels/{name}/ds=2026-03-09/part-0.parquet"]


def test_training_skips_immature_days_and_trains_on_joined_labels(late_history, dags, mlflow_client, tmp_path):
    cfg, _ = late_history
    run = train(dags, WINDOW_END)
    assert task_states(run)["train_challenger"] == "success", task_states(run)
    checked = xcom(run, "check_training_window")
    immature = ["2026-03-10", "2026-03-11", "2026-03-12"]  # curated, but their labels land from 03-13 on
    assert checked["window"] == {"start": "2026-03-04", "holdout_start": "2026-03-08", "end": "2026-03-10"}
    assert checked["immature_days"] == immature and checked["labels_matured_through"] == "2026-03-09"
    assert sorted(checked["partitions"]) == [f"2026-03-{d:02d}" for d in range(4, 10)]
    assert not set(checked["partitions"]) & set(immature)
    assert checked["rows_holdout"] > 0 and checked["unlabelled_rows"] == 0

    trained = xcom(run, "train_challenger")
    doc = lineage(mlflow_client, trained["run_id"], tmp_path)
    assert doc["label_delay_days"] == DELAY and doc["labels_matured_through"] == "2026-03-09"
    assert doc["immature_days"] == immature
    lake = Lake.at(cfg.lake_root)
    for part in doc["partitions"]:  # every partition used has matured, with its labels' content hash
        assert dt.date.fromisoformat(part["ds"]) + dt.timedelta(days=DELAY) < WINDOW_END
        assert part["labels_content_hash"] == lake.partition_info("labels", cfg.dataset.name, part["ds"]).content_hash
    params = mlflow_client.get_run(trained["run_id"]).data.params
    assert params["label_delay_days"] == str(DELAY) and params["labels_matured_through"] == "2026-03-09"
    evaluation = xcom(run, "evaluate_challenger")  # the holdout it evaluated on was joined with its labels
    assert evaluation is not None and evaluation["challenger_value"] > 0


def test_with_no_delay_nothing_changes(make_config, dags):
    cfg = make_config(simulator={"rows_per_day": 300})
    logical = dt.datetime.combine(day("2026-03-03"), dt.time(), tzinfo=UTC)
    run = run_dag(dags, "ingest_and_validate", logical_date=logical, run_after=logical)
    states = task_states(run)
    assert run.state == "success" and states["publish_batch"] == "success" and states["land_labels"] == "skipped"
    lake = Lake.at(cfg.lake_root)
    assert cfg.dataset.target in lake.read_partition("curated", cfg.dataset.name, "2026-03-02").columns
    assert lake.list_partitions("labels", cfg.dataset.name) == []


def test_your_own_events_and_late_labels_through_load_history_and_training(make_config, dags, tmp_path):
    rng = np.random.default_rng(5)
    n = 12 * 120
    at = pd.Timestamp("2026-02-01", tz=UTC) + pd.to_timedelta(rng.integers(0, 12 * 86400, n), unit="s")
    x = rng.normal(0, 1, n)
    events = pd.DataFrame(
        {"event_id": [f"ev{i:05d}" for i in range(n)], "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "x": x.round(3)}
    )
    events["kind"] = rng.choice(["a", "b"], n)
    events.to_csv(tmp_path / "events.csv", index=False)
    chargeback = np.where(rng.random(n) < 1 / (1 + np.exp(-(2.5 * x - 1))), "yes", "no")
    labels = pd.DataFrame({"event_id": events["event_id"], "at": events["at"], "chargeback": chargeback})
    (tmp_path / "labels").mkdir()
    labels.iloc[: n // 2].to_csv(tmp_path / "labels" / "part-1.csv", index=False)
    labels.iloc[n // 2 :].to_csv(tmp_path / "labels" / "part-2.csv", index=False)
    cfg = make_config(
        dataset={
            "name": "payments",
            "uri": str(tmp_path / "events.csv"),
            "timestamp_column": "at",
            "target": "chargeback",
            "positive_label": "yes",
            "suite": None,
            "key_column": "event_id",
            "exclude_columns": ["event_id"],
            "label_delay_days": 2,
            "labels_uri": str(tmp_path / "labels"),
        },
        training={"window_days": 8, "holdout_days": 2, "min_rows": 200},
        evaluation={"floor": None},
    )
    assert cli(["load-history"]) == 0
    lake = Lake.at(cfg.lake_root)
    assert len(lake.list_partitions("curated", "payments")) == 12
    # as if each day's run had happened: the labels of 02-01 .. 02-10 (the runs of 02-03 .. 02-12)
    assert lake.list_partitions("labels", "payments") == [f"2026-02-{d:02d}" for d in range(1, 11)]
    assert set(lake.read_partition("labels", "payments", "2026-02-04")["chargeback"]) == {0, 1}  # mapped
    assert "chargeback" not in lake.read_partition("curated", "payments", "2026-02-04").columns
    assert "chargeback" not in json.dumps(lake.read_json("suites/payments.json")["expectations"])

    run = train(dags, day("2026-02-13"))
    assert task_states(run)["train_challenger"] == "success", task_states(run)
    checked = xcom(run, "check_training_window")
    assert checked["window"]["end"] == "2026-02-11" and checked["immature_days"] == ["2026-02-11", "2026-02-12"]
    assert sorted(checked["partitions"]) == [f"2026-02-{d:02d}" for d in range(3, 11)]
