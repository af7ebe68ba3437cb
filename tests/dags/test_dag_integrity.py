from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
EXPECTED = {
    "ingest_and_validate",
    "train_and_promote",
    "drift_monitor",
    "rollback_champion",
    "score_batch",
    "review_shadow",
}
HEAVY = ("pandas", "numpy", "sklearn", "scipy", "mlflow", "great_expectations", "evidently", "pyarrow", "boto3")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors_and_the_expected_dags(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


def test_one_dag_per_file_named_after_it(dagbag):
    for dag_id in dagbag.dag_ids:
        assert Path(dagbag.dags[dag_id].fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_every_task_retries_with_backoff_and_times_out(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.dagrun_timeout is not None and dag.max_active_runs >= 1
    assert dag.tags and dag.doc_md and "When it fails" in dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout <= dt.timedelta(hours=2), task.task_id
        assert task.owner == "mlops"
        callbacks = task.on_failure_callback or []
        assert any(type(cb).__name__ == "MlopsFailureNotifier" for cb in callbacks), task.task_id  # ops hear of it


def test_promotion_runs_in_a_one_slot_pool_declared_for_the_stack(dagbag):
    import yaml

    promote = dagbag.dags["train_and_promote"].get_task("promote_challenger")
    settings = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())
    pools = {p["pool_name"]: p for p in settings["airflow"]["pools"]}
    assert promote.pool in pools and pools[promote.pool]["pool_slot"] == 1
    assert promote.pool in (ROOT / "scripts" / "run_local.sh").read_text()


def test_the_approval_waits_on_response_timeout_outside_the_pool_and_the_promotion_runs_after_a_skip(dagbag):
    """A human's wait is bounded by response_timeout (the longest promotion.approval_timeout; the config's applies
    at run time), not execution_timeout (which bounds building the request); it holds no promotion-pool slot;
    the promotion still runs when no human was needed (the approval skipped) and sits behind it otherwise."""
    from include.mlops.core.config import PromotionConfig

    dag = dagbag.dags["train_and_promote"]
    approve, promote = dag.get_task("approve_promotion"), dag.get_task("promote_challenger")
    longest = PromotionConfig.__pydantic_fields__["approval_timeout"].metadata[-1].le
    assert approve.response_timeout >= dt.timedelta(seconds=longest)
    assert approve.execution_timeout <= dt.timedelta(minutes=10)
    assert approve.pool != promote.pool
    assert approve.upstream_task_ids == {"evaluate_challenger", "check_training_window"}
    assert promote.upstream_task_ids >= {"approve_promotion", "evaluate_challenger"}
    assert promote.trigger_rule == "none_failed"


@pytest.mark.parametrize(
    ("conf", "ok"),
    [
        ({}, True),
        ({"window_days": 14, "holdout_days": 3, "reason": "drift", "dry_run": True}, True),
        ({"window_days": 1}, False),
        ({"window_days": 9999}, False),
        ({"window_days": "ten"}, False),
        ({"holdout_days": 0}, False),
        ({"reason": ""}, False),
        ({"dry_run": "yes"}, False),
        ({"window_end": "not-a-date"}, False),
        ({"window_end": "2026-03-01"}, True),
        ({"window_end": "2026-03-01\n"}, False),
        ({"window_end": "0001-01-01"}, False),
        ({"window_end": "9999-12-31"}, False),
        ({"reason": "1.10", "monitoring_run_id": "abc_1"}, True),
        ({"monitoring_run_id": "abc_1\n"}, False),
    ],
)
def test_train_params_are_typed_and_bounded(dagbag, conf, ok):
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dagbag.dags["train_and_promote"].params)

    def apply():
        params.update(conf)
        return params.validate()

    if ok:
        assert set(conf) <= set(apply())
    else:
        with pytest.raises(ParamValidationError):
            apply()


FREE_TEXT = {("train_and_promote", "reason"), ("rollback_champion", "reason"), ("train_and_promote", "drift_summary")}
PATHS = (
    "/etc/passwd",
    "../../../etc/passwd",
    "s3://someone-elses-bucket/data.parquet",
    "file:///root/.aws/credentials",
)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_no_param_can_name_a_path_outside_the_lake(dagbag, dag_id):
    """Dates, versions and ids are validated by pattern/format, so conf cannot smuggle a path into a task;
    the only free-text params are recorded (log, MLflow tags), never used to build a path or URI."""
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    for name in dagbag.dags[dag_id].params:
        if (dag_id, name) in FREE_TEXT:
            continue
        for value in PATHS:
            params = copy.deepcopy(dagbag.dags[dag_id].params)
            with pytest.raises(ParamValidationError):  # raised on update (ParamsDict validates) or validate()
                params.update({name: value})
                params.validate()


def _fresh(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_file_imports_no_heavy_library(dag_file):
    code = (
        "import sys, runpy, json\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    assert json.loads(_fresh(code)) == []


def test_plugins_folder_shadows_no_library():
    """Airflow imports every .py under plugins/ as a top-level module named after the file."""
    code = (
        "import json, sys\n"
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded() if hasattr(plugins_manager, 'ensure_plugins_loaded') "
        "else plugins_manager.get_plugins()\n"
        "import mlflow\n"
        "print(json.dumps([getattr(mlflow, '__version__', None), sorted(k for k in sys.modules if k in "
        "('base', 'training', 'ingest', 'runtime', 'assets', 'mlflow_hook', 'lake_hook'))]))\n"
    )
    version, shadows = json.loads(_fresh(code))
    assert version is not None
    assert shadows == []
