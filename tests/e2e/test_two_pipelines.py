"""Two pipelines side by side in one Airflow home: the simulator's fraud model (the main config, plain DAG ids)
and a regression pipeline from a folder of configs (``energy__...``), each ingesting into its own lake and
training its own model through its own DAGs, with its own Assets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from include.mlops.core.pipelines import PIPELINES_ENV
from include.mlops.data.examples import write_energy
from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from tests.e2e.conftest import UTC, asset_event_extras, day, task_states, xcom

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAYS = [day("2026-05-01") + dt.timedelta(days=i) for i in range(7)]
WINDOW_END = DAYS[-1] + dt.timedelta(days=1)


def _run(bag, dag_id: str, conf: dict | None = None, **kwargs):
    dag = bag.dags[dag_id]
    full = {k: dag.params.get_param(k).value for k in dag.params} | (conf or {})
    return dag.test(run_conf=full, **kwargs)


@pytest.fixture
def two_pipelines(make_config, tmp_path, monkeypatch, airflow_db, request):
    from airflow.dag_processing.dagbag import DagBag

    safe = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    main = make_config(
        simulator={"rows_per_day": 1200},
        training={"window_days": 7, "holdout_days": 2, "min_rows": 200},
        evaluation={"floor": 0.01},
    )
    write_energy(tmp_path / "energy_data", DAYS[-1], len(DAYS), rows=600)
    folder = tmp_path / "pipelines"
    folder.mkdir()
    doc = yaml.safe_load((ROOT / "include/config/pipelines/energy.yaml").read_text())
    doc["dataset"]["uri"] = str(tmp_path / "energy_data")
    doc["model"]["name"] = f"energy_{safe}"
    doc["training"] = {"window_days": 7, "holdout_days": 2, "min_rows": 200, "validation_days": 1}
    (folder / "energy.yaml").write_text(yaml.safe_dump(doc))  # no lake.root: data/lake/pipelines/energy ...
    monkeypatch.setenv(PIPELINES_ENV, str(folder))
    monkeypatch.setattr("include.mlops.core.config.PIPELINE_LAKE", str(tmp_path / "pipeline_lakes"))  # ... in tmp_path
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag, main, doc


def test_each_pipeline_ingests_into_its_own_lake_and_trains_its_own_model(two_pipelines, tmp_path, mlflow_client):
    bag, main, doc = two_pipelines
    assert {"ingest_and_validate", "energy__ingest_and_validate", "energy__train_and_promote"} <= set(bag.dag_ids)
    for d in DAYS:
        logical = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=UTC)
        for dag_id in ("ingest_and_validate", "energy__ingest_and_validate"):
            run = _run(bag, dag_id, logical_date=logical)
            assert run.state == "success", (dag_id, d, task_states(run))

    main_lake = Lake.at(main.lake_root)
    energy_lake = Lake.at(str(tmp_path / "pipeline_lakes" / "energy"))
    days = [d.isoformat() for d in DAYS]
    assert main_lake.list_partitions("curated", "transactions") == days
    assert energy_lake.list_partitions("curated", "energy") == days
    assert main_lake.list_partitions("curated", "energy") == []  # nothing crossed over
    assert energy_lake.list_partitions("curated", "transactions") == []
    energy_events = [e for e in asset_event_extras("mlops_curated_batch__energy") if e and e.get("ds") in days]
    assert {e["ds"] for e in energy_events} == set(days)

    conf = {"window_end": WINDOW_END.isoformat(), "reason": "two pipelines"}
    energy_run = _run(bag, "energy__train_and_promote", conf)
    assert energy_run.state == "success", task_states(energy_run)
    main_run = _run(bag, "train_and_promote", conf)
    assert main_run.state == "success", task_states(main_run)

    energy_model, main_model = doc["model"]["name"], main.model.name
    assert champion_version(mlflow_client, energy_model) == xcom(energy_run, "train_challenger")["version"]
    assert champion_version(mlflow_client, main_model) == xcom(main_run, "train_challenger")["version"]
    energy_eval = xcom(energy_run, "evaluate_challenger")
    assert energy_eval["model_name"] == energy_model and energy_eval["primary_metric"] == "rmse"
    assert xcom(main_run, "evaluate_challenger")["primary_metric"] == "average_precision"
    assert energy_lake.storage.exists(energy_eval["report_key"])  # the decision went to the pipeline's own lake
    assert not main_lake.storage.exists(energy_eval["report_key"])
    run = mlflow_client.get_run(mlflow_client.get_model_version(energy_model, energy_eval["challenger_version"]).run_id)
    assert run.data.tags["dag_id"] == "energy__train_and_promote"
    assert run.data.params["config_file"] == str(tmp_path / "pipelines" / "energy.yaml")
