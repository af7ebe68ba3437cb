"""The pipeline on the distributed path: REST -> scheduler -> Redis -> Celery worker -> Task Execution
API, the lake on S3 (moto server), MLflow with a PostgreSQL store and artifacts on S3.

The tests run in order and share state: (a) ingests six days, (b) re-runs some of them, (c) trains
on them.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.integration.conftest import (
    DATASET,
    DAYS,
    INGEST,
    LAKE_BUCKET,
    MLFLOW_BUCKET,
    MODEL_NAME,
    TRAIN,
    WINDOW_END,
    Stack,
    _logical,
)

pytestmark = pytest.mark.integration

CURATED = f"lake/curated/{DATASET}/"
STATE: dict = {}


def _curated(stack: Stack) -> dict[str, dict]:
    """ds -> {key, rows, etag, modified} for every object under curated/; fails on unexpected files."""
    out = {}
    for key, obj in stack.list_keys(LAKE_BUCKET, CURATED).items():
        m = re.fullmatch(rf"{re.escape(CURATED)}ds=(\d{{4}}-\d{{2}}-\d{{2}})/part-0\.parquet", key)
        assert m, f"unexpected object in curated/: {key}"
        out[m.group(1)] = {
            "key": key,
            "rows": stack.parquet_rows(LAKE_BUCKET, key),
            "etag": obj["ETag"],
            "modified": obj["LastModified"],
        }
    return out


def _scheduler_days(stack: Stack) -> set[str]:
    """Days of the runs the scheduler created itself: the DAG is unpaused, so one appears whenever a
    daily interval ends (e.g. the clock passes midnight UTC during the suite)."""
    runs = stack.api("GET", f"/api/v2/dags/{INGEST}/dagRuns", params={"run_type": "scheduled", "limit": 100})
    return {run["data_interval_start"][:10] for run in runs.json()["dag_runs"]}


def _ours(stack: Stack, curated: dict[str, dict]) -> dict[str, dict]:
    """The curated days the tests asked for; any other day must come from a scheduler-created run."""
    wanted = {d.isoformat() for d in DAYS}
    extra = set(curated) - wanted
    assert extra <= _scheduler_days(stack), f"curated days nobody asked for: {sorted(extra)}"
    return {ds: part for ds, part in curated.items() if ds in wanted}


def test_a_ingest_days_over_rest_lands_curated_partitions_on_s3(stack: Stack):
    stack.unpause(INGEST)
    run_ids = []
    for day in DAYS:
        run_id = f"it_ingest_{day}"
        r = stack.api(
            "POST", f"/api/v2/dags/{INGEST}/dagRuns", json={"dag_run_id": run_id, "logical_date": _logical(day)}
        )
        assert r.status_code in (200, 201), (r.status_code, r.text)
        assert r.json()["data_interval_start"].startswith(day.isoformat()), r.json()
        run_ids.append(run_id)

    runs = stack.wait_for_runs(INGEST, run_ids, timeout=300)
    stack.assert_success(INGEST, runs)

    curated = _ours(stack, _curated(stack))
    assert sorted(curated) == [d.isoformat() for d in DAYS]
    for ds, part in curated.items():
        assert part["rows"] > 0, ds
    # Each day also went through landing/; nothing was quarantined.
    lake = stack.list_keys(LAKE_BUCKET, "lake/")
    for day in DAYS:
        assert f"lake/landing/{DATASET}/ds={day}/part-0.parquet" in lake
    assert not [k for k in lake if k.startswith("lake/quarantine/")]
    STATE["curated"] = curated
    STATE["run_ids"] = run_ids


def test_b_rerunning_days_replaces_the_same_partitions(stack: Stack):
    before = STATE.get("curated") or pytest.skip("needs test_a")
    rerun = DAYS[:3]
    # A backfill over the logical dates of the first three runs, reprocessing completed runs: the
    # existing runs are cleared and run again on their own data intervals.
    body = {
        "dag_id": INGEST,
        "from_date": _logical(rerun[0]),
        "to_date": _logical(rerun[-1]),
        "reprocess_behavior": "completed",
        "max_active_runs": 4,
    }
    r = stack.api("POST", "/api/v2/backfills", json=body)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    backfill_id = r.json()["id"]

    rerun_ids = [f"it_ingest_{d}" for d in rerun]
    deadline = time.monotonic() + 240
    while True:
        backfill = stack.api("GET", f"/api/v2/backfills/{backfill_id}").json()
        runs = {run_id: stack.api("GET", f"/api/v2/dags/{INGEST}/dagRuns/{run_id}").json() for run_id in rerun_ids}
        if backfill.get("completed_at") and all(run["state"] in ("success", "failed") for run in runs.values()):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"backfill {backfill} not completed:\n" + stack.diagnostics(INGEST, rerun_ids[0]))
        time.sleep(2)
    stack.assert_success(INGEST, runs)
    for run in runs.values():
        assert run["run_type"] == "backfill", run  # the same runs, taken over by the backfill

    after = _ours(stack, _curated(stack))
    assert sorted(after) == sorted(before)
    for ds in before:
        assert after[ds]["key"] == before[ds]["key"]
        assert after[ds]["rows"] == before[ds]["rows"], ds
        assert after[ds]["etag"] == before[ds]["etag"], f"{ds}: same day, same deterministic content"
    for day in DAYS:  # the re-run days were rewritten (not merely left alone), the others untouched
        ds = day.isoformat()
        if day in rerun:
            assert after[ds]["modified"] > before[ds]["modified"], ds
        else:
            assert after[ds]["modified"] == before[ds]["modified"], ds
    STATE["curated"] = after


def test_c_train_and_promote_registers_a_champion_with_artifacts_on_s3(stack: Stack):
    import requests

    STATE.get("curated") or pytest.skip("needs test_a")
    stack.unpause(TRAIN)
    conf = {"window_end": WINDOW_END.isoformat(), "reason": "integration"}
    r = stack.api("POST", f"/api/v2/dags/{TRAIN}/dagRuns", json={"logical_date": None, "conf": conf})
    assert r.status_code in (200, 201), (r.status_code, r.text)
    run_id = r.json()["dag_run_id"]
    runs = stack.wait_for_runs(TRAIN, [run_id], timeout=360)
    stack.assert_success(TRAIN, runs)
    states = {
        t["task_id"]: t["state"]
        for t in stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    }
    assert states == {
        **dict.fromkeys(
            ["check_training_window", "plan_candidates", "train_candidate", "train_challenger", "evaluate_challenger"],
            "success",
        ),
        "approve_promotion": "skipped",  # promotion.approval: never
        "promote_challenger": "success",
    }, states

    api = f"{stack.mlflow_url}/api/2.0/mlflow"
    r = requests.get(f"{api}/registered-models/alias", params={"name": MODEL_NAME, "alias": "champion"}, timeout=30)
    assert r.status_code == 200, r.text
    version = r.json()["model_version"]
    assert version["tags"] and {t["key"]: t["value"] for t in version["tags"]}.get("airflow_run_key") == (
        f"{TRAIN}/{run_id}"
    ), version
    run = requests.get(f"{api}/runs/get", params={"run_id": version["run_id"]}, timeout=30).json()["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags.get("trigger_reason") == "integration", tags
    assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:"), run["info"]

    # The run's artifacts are on S3, in the MLflow bucket, under the run's id (proxied by the server).
    keys = [k for k in stack.list_keys(MLFLOW_BUCKET) if f"/{version['run_id']}/" in k]
    assert any(k.endswith("lineage/training_data.json") for k in keys), keys
    assert any(re.search(r"evaluation/decision_v\d+\.json$", k) for k in keys), keys
    # The promotion decision is also in the lake, on S3.
    assert [k for k in stack.list_keys(LAKE_BUCKET, "lake/reports/promotion/")], "no promotion report in the lake"


def test_d_drift_backfill_checks_exactly_the_days_it_names(stack: Stack):
    STATE.get("curated") or pytest.skip("needs test_a")
    drift_dag = "drift_monitor"
    stack.unpause(drift_dag)
    days = DAYS[-2:]  # windows of 3 curated days each; the champion from test_c is the reference
    body = {  # drift_monitor's cron is 01:00 UTC: the run for day D has logical date D 01:00
        "dag_id": drift_dag,
        "from_date": f"{days[0]}T01:00:00Z",
        "to_date": f"{days[-1]}T01:00:00Z",
        "max_active_runs": 1,
    }
    r = stack.api("POST", "/api/v2/backfills", json=body)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    backfill_id = r.json()["id"]
    deadline = time.monotonic() + 300
    while True:
        backfill = stack.api("GET", f"/api/v2/backfills/{backfill_id}").json()
        runs = stack.api(
            "GET", f"/api/v2/dags/{drift_dag}/dagRuns", params={"run_type": "backfill", "limit": 10}
        ).json()["dag_runs"]
        if backfill.get("completed_at") and runs and all(run["state"] in ("success", "failed") for run in runs):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"drift backfill {backfill} not completed:\n" + stack.diagnostics(drift_dag))
        time.sleep(2)
    stack.assert_success(drift_dag, {run["dag_run_id"]: run for run in runs})
    summaries = sorted(
        k for k in stack.list_keys(LAKE_BUCKET, f"lake/reports/drift/{DATASET}/") if k.endswith("summary.json")
    )
    assert summaries == [f"lake/reports/drift/{DATASET}/ds={d}/summary.json" for d in days], summaries
    triggered = stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    assert not [run for run in triggered if run["dag_run_id"].startswith("drift__")], "stable data retrained"
