"""One DagBag over two pipelines and a broken file: each pipeline's DAGs with their own names, and the broken
file reported as an import error that names it, without touching the others."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from include.mlops.core.pipelines import PIPELINES_ENV

pytestmark = pytest.mark.integrity

ROOT = Path(__file__).resolve().parents[2]
BASE = (
    "ingest_and_validate",
    "train_and_promote",
    "drift_monitor",
    "rollback_champion",
    "score_batch",
    "review_shadow",
)


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path_factory.mktemp("pipelines")
    (folder / "energy.yaml").write_text((ROOT / "include/config/pipelines/energy.yaml").read_text())
    (folder / "churn.yaml").write_text("name: churn\nmodel: {name: churn_model}\n")
    (folder / "broken.yaml").write_text("name: Not A Name\n")
    mp = pytest.MonkeyPatch()
    mp.setenv(PIPELINES_ENV, str(folder))
    try:
        yield DagBag(dag_folder=str(ROOT / "dags"))
    finally:
        mp.undo()


def test_each_pipeline_has_its_own_dags_and_the_main_one_keeps_plain_ids(bag):
    expected = {*BASE, *(f"energy__{d}" for d in BASE), *(f"churn__{d}" for d in BASE)}
    assert set(bag.dag_ids) == expected


def test_a_broken_file_is_an_import_error_naming_it_and_nothing_else_breaks(bag):
    assert [Path(k).name for k in bag.import_errors] == ["pipeline_configs.py"]
    (message,) = bag.import_errors.values()
    assert "broken.yaml" in message and "'Not A Name'" in message
    assert "energy.yaml" not in message and "churn.yaml" not in message


def test_a_folder_pipeline_has_its_own_pool_assets_trigger_target_and_tags(bag):
    promote = bag.dags["energy__train_and_promote"].get_task("promote_challenger")
    assert promote.pool == "mlops_promotion__energy"
    assert bag.dags["train_and_promote"].get_task("promote_challenger").pool == "mlops_promotion"
    assert bag.dags["energy__rollback_champion"].get_task("rollback").pool == "mlops_promotion__energy"
    score = bag.dags["energy__score_batch"]
    assert [a.name for a in score.timetable.asset_condition.objects] == ["mlops_curated_batch__energy"]
    assert [a.name for a in bag.dags["score_batch"].timetable.asset_condition.objects] == ["mlops_curated_batch"]
    trigger = bag.dags["churn__drift_monitor"].get_task("trigger_retraining")
    assert trigger.trigger_dag_id == "churn__train_and_promote"
    assert "pipeline:churn" in bag.dags["churn__ingest_and_validate"].tags
    assert "Pipeline `churn`" in bag.dags["churn__ingest_and_validate"].doc_md


@pytest.mark.parametrize("dag_id", [f"energy__{d}" for d in BASE])
def test_every_folder_pipeline_task_retries_and_times_out(bag, dag_id):
    for task in bag.dags[dag_id].tasks:
        assert task.retries >= 1, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout <= dt.timedelta(hours=2)
