"""An Airflow component killed with SIGKILL mid-run on the PostgreSQL/Celery stack, as the loss of its
host or container would do it: the run still completes, Airflow (not the test) recovers it, and nothing
is lost or duplicated.

- (a) The scheduler dies while an ingestion task is running; a new scheduler finishes the runs.
- (b) The Celery worker dies, with the task it was running, during ``train_challenger``; a new worker
  starts. The scheduler fails the dead try once its heartbeats stop (the heartbeat timeout is set low
  in ``conftest.py``), Airflow retries it, and MLflow ends up with one model version for the run.

The tests share state: (b) trains on the days (a) ingests. (b) is a dry run, so the champion other
tests rely on is never moved.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from tests.integration.conftest import DATASET, LAKE_BUCKET, MODEL_NAME, Stack

pytestmark = pytest.mark.integration

INGEST, TRAIN = "ingest_and_validate", "train_and_promote"
# Days no other integration test ingests or trains on.
DAYS = [dt.date(2026, 4, 20) + dt.timedelta(days=i) for i in range(3)]
STATE: dict[str, Any] = {}


def _logical(day: dt.date) -> str:
    """The logical date whose (inferred) data interval is ``day``: the interval ending at its midnight."""
    return f"{day + dt.timedelta(days=1)}T00:00:00Z"


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ti(stack: Stack, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    r = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def _wait_running(stack: Stack, dag_id: str, run_id: str, task_id: str, timeout: float) -> dict[str, Any]:
    """Poll the REST API until the task instance is ``running``; fail if it ends first or never starts."""
    deadline = time.monotonic() + timeout
    while True:
        ti = _ti(stack, dag_id, run_id, task_id)
        if ti["state"] == "running":
            return ti
        if ti["state"] in ("success", "failed", "skipped", "upstream_failed", "removed"):
            pytest.fail(
                f"{dag_id}/{run_id}/{task_id} ended ({ti['state']}) before it was seen running: nothing to kill\n"
                + stack.diagnostics(dag_id, run_id)
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"{dag_id}/{run_id}/{task_id} not running within {timeout:.0f}s (state {ti['state']})\n"
                + stack.diagnostics(dag_id, run_id)
            )
        time.sleep(0.5)


def _xcom(stack: Stack, dag_id: str, run_id: str, task_id: str) -> Any:
    r = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
    assert r.status_code == 200, (r.status_code, r.text)
    value = r.json()["value"]
    return json.loads(value) if isinstance(value, str) else value


def _mlflow(stack: Stack, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    import requests

    r = requests.request(method, f"{stack.mlflow_url}/api/2.0/mlflow/{path}", timeout=30, **kwargs)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def _champion(stack: Stack) -> str | None:
    import requests

    r = requests.get(
        f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL_NAME, "alias": "champion"},
        timeout=30,
    )
    return r.json()["model_version"]["version"] if r.status_code == 200 else None


def test_a_scheduler_killed_mid_run_a_new_scheduler_completes_the_runs(stack: Stack):
    stack.unpause(INGEST)
    run_ids = []
    for day in DAYS:
        run_id = f"it_kill_ingest_{day}"
        r = stack.api(
            "POST", f"/api/v2/dags/{INGEST}/dagRuns", json={"dag_run_id": run_id, "logical_date": _logical(day)}
        )
        assert r.status_code in (200, 201), (r.status_code, r.text)
        run_ids.append(run_id)

    # The first run's validation is running, its publication still to be scheduled: kill the scheduler.
    _wait_running(stack, INGEST, run_ids[0], "validate_batch", timeout=240)
    stack.kill("scheduler")
    killed_at = dt.datetime.now(dt.UTC)
    stack.restart("scheduler")

    runs = stack.wait_for_runs(INGEST, run_ids, timeout=300)
    stack.assert_success(INGEST, runs)
    # The runs straddled the kill: the task seen running finished after it, and the next task was queued
    # after it, i.e. by the new scheduler.
    validate = _ti(stack, INGEST, run_ids[0], "validate_batch")
    publish = _ti(stack, INGEST, run_ids[0], "publish_batch")
    assert _ts(validate["end_date"]) > killed_at, ("validate_batch ended before the kill", validate, killed_at)
    assert _ts(publish["queued_when"]) > killed_at, ("publish_batch queued before the kill", publish, killed_at)

    # Nothing lost, nothing doubled: each day has one curated file holding every landed row, and nothing
    # was quarantined.
    lake = stack.list_keys(LAKE_BUCKET, "lake/")
    for day in DAYS:
        curated = sorted(k for k in lake if k.startswith(f"lake/curated/{DATASET}/ds={day}/"))
        assert curated == [f"lake/curated/{DATASET}/ds={day}/part-0.parquet"], curated
        landed = f"lake/landing/{DATASET}/ds={day}/part-0.parquet"
        assert landed in lake, f"no landing file for {day}"
        rows = stack.parquet_rows(LAKE_BUCKET, curated[0])
        assert rows > 0, day
        assert rows == stack.parquet_rows(LAKE_BUCKET, landed), f"{day}: curated rows differ from landed rows"
        assert not [k for k in lake if k.startswith(f"lake/quarantine/{DATASET}/ds={day}/")], day
    STATE["days"] = DAYS


def test_b_celery_worker_killed_mid_task_airflow_retries_it_and_one_version_is_registered(stack: Stack):
    days = STATE.get("days") or pytest.skip("needs test_a (the curated days it trains on)")
    stack.unpause(TRAIN)
    champion_before = _champion(stack)
    conf = {
        "window_end": (days[-1] + dt.timedelta(days=1)).isoformat(),
        "window_days": len(days),
        "holdout_days": 1,
        "reason": "kill-recovery",
        "dry_run": True,  # never moves the champion other tests rely on
    }
    r = stack.api("POST", f"/api/v2/dags/{TRAIN}/dagRuns", json={"logical_date": None, "conf": conf})
    assert r.status_code in (200, 201), (r.status_code, r.text)
    run_id = r.json()["dag_run_id"]
    run_key = f"{TRAIN}/{run_id}"

    ti = _wait_running(stack, TRAIN, run_id, "train_challenger", timeout=300)
    assert ti["try_number"] == 1, ti
    stack.kill("celery-worker")
    killed_at = dt.datetime.now(dt.UTC)
    stack.restart("celery-worker")

    runs = stack.wait_for_runs(TRAIN, [run_id], timeout=420)
    stack.assert_success(TRAIN, runs)
    tis = stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    states = {t["task_id"]: t["state"] for t in tis}
    assert states == {
        "check_training_window": "success",
        "plan_candidates": "success",
        "train_candidate": "success",  # one candidate (no model.candidates): nothing fitted there
        "train_challenger": "success",
        "evaluate_challenger": "success",
        "approve_promotion": "skipped",  # dry run: nothing to approve
        "promote_challenger": "skipped",  # dry run
    }, states

    # Airflow, not the test, noticed the dead try (no heartbeat) and ran the task again.
    tries = stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}/taskInstances/train_challenger/tries").json()
    tries = sorted(tries["task_instances"], key=lambda t: t["try_number"])
    assert [t["try_number"] for t in tries] == list(range(1, len(tries) + 1)), tries
    assert len(tries) >= 2, f"train_challenger was not retried after the kill: {tries}"
    assert tries[0]["state"] == "failed", tries[0]
    assert tries[-1]["state"] == "success", tries[-1]
    assert _ts(tries[-1]["start_date"]) > killed_at, tries[-1]
    events = stack.api(
        "GET",
        "/api/v2/eventLogs",
        params={"dag_id": TRAIN, "run_id": run_id, "task_id": "train_challenger", "event": "heartbeat timeout"},
    ).json()
    assert 1 in {e["try_number"] for e in events["event_logs"]}, f"no heartbeat-timeout event for try 1: {events}"

    # One model version for the run, the one training returned and evaluation scored, trained on every
    # day of the window.
    found = _mlflow(
        stack,
        "GET",
        "model-versions/search",
        params={"filter": f"name = '{MODEL_NAME}' and tags.airflow_run_key = '{run_key}'"},
    ).get("model_versions", [])
    assert len(found) == 1, f"expected one version for {run_key}, got {[v['version'] for v in found]}"
    version = found[0]
    trained = _xcom(stack, TRAIN, run_id, "train_challenger")
    assert trained["version"] == version["version"], (trained, version)
    assert trained["partitions"] == [d.isoformat() for d in days], trained
    assert trained["missing_days"] == [], trained
    assert _xcom(stack, TRAIN, run_id, "evaluate_challenger")["challenger_version"] == version["version"]

    # One finished MLflow run for the run key (a run the killed try opened stays unfinished), the version's.
    experiment = _mlflow(stack, "GET", "runs/get", params={"run_id": version["run_id"]})["run"]["info"]["experiment_id"]
    mlflow_runs = _mlflow(
        stack,
        "POST",
        "runs/search",
        json={"experiment_ids": [experiment], "filter": f"tags.airflow_run_key = '{run_key}'", "max_results": 100},
    ).get("runs", [])
    finished = [run["info"]["run_id"] for run in mlflow_runs if run["info"]["status"] == "FINISHED"]
    assert finished == [version["run_id"]], [(run["info"]["run_id"], run["info"]["status"]) for run in mlflow_runs]

    assert _champion(stack) == champion_before, "a dry run moved the champion"
