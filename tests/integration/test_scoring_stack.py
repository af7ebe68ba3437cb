"""score_batch on the distributed path: a publish by ingest_and_validate starts a scoring run through the
curated-batch asset (scheduler -> Redis -> Celery worker), the champion scores the day from MLflow (artifacts on
S3) and the prediction log lands in the lake on S3; a REST-triggered re-score of a range replaces exactly the
days of that range.

Order and shared state: the stack is session-wide and pytest runs the files of this directory in alphabetical
order, so this module runs after test_distributed_pipeline (its six curated days, 2026-05-01..06, and its
champion), test_kill_recovery, test_prometheus_scrape, test_rest_contract and test_rest_fuzz; nothing after it
uses the shared stack. Run on its own (or before test_distributed_pipeline), it makes what it needs first: it
publishes those six days (by conf ``ds``, so their logical dates stay free for test_distributed_pipeline) and
trains a champion over REST, as test_distributed_pipeline does.

It publishes one day no other test uses (``NEW_DAY``) and scores days the pipeline test curated. The asset-triggered
run is found by the event it consumed (the publish of ``NEW_DAY``, ``extra.ds``), and only ``NEW_DAY``'s partition is
asserted for it: Airflow 3.3 hands a DAG's first asset-triggered run every event of its asset since the DAG began
scheduling on it (catchup off: since it was first parsed; paused or not), so that run also scores the days
published while score_batch was paused (measured after test_distributed_pipeline: 2026-05-01..06 and 05-10). score_batch
is unpaused only while this module runs: the module fixture's finalizer leaves score_batch, ingest_and_validate
and train_and_promote paused or unpaused as it found them, so a later publish starts no scoring run.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_dev import wait_until
from tests.integration.conftest import (
    DATASET,
    DAYS,
    INGEST,
    LAKE_BUCKET,
    MODEL_NAME,
    TRAIN,
    Stack,
    _champion,
    _curated_key,
    _logical,
    _make_champion,
    _run_ok,
    _task_states,
    _trigger,
)

pytestmark = pytest.mark.integration

SCORE = "score_batch"
# Not ingested by any other test: test_distributed_pipeline uses 2026-05-01..06 (training window end 05-07),
# test_kill_recovery 2026-04-20..22; test_rest_fuzz's accepted ingest confs (06-01, 06-15) never run.
NEW_DAY = dt.date(2026, 5, 10)
RANGE = DAYS[1:4]  # 2026-05-02..04, re-scored over REST in test_b
STATE: dict[str, Any] = {}


def _predictions_key(day: dt.date) -> str:
    return f"lake/predictions/{DATASET}/ds={day}/part-0.parquet"


def _predictions(stack: Stack, day: dt.date) -> dict[str, Any] | None:
    """Day ``day``'s prediction partition on S3: rows, the distinct run ids / model names / versions, the ETag;
    None when there is none."""
    import pyarrow.parquet as pq

    key = _predictions_key(day)
    keys = stack.list_keys(LAKE_BUCKET, key)
    if key not in keys:
        return None
    body = stack.s3().get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read()
    table = pq.read_table(io.BytesIO(body), columns=["run_id", "model_name", "model_version", "score"])
    return {
        "rows": table.num_rows,
        "run_ids": set(table.column("run_id").to_pylist()),
        "model_names": set(table.column("model_name").to_pylist()),
        "versions": set(table.column("model_version").to_pylist()),
        "null_scores": table.column("score").null_count,
        "etag": keys[key]["ETag"],
    }


@pytest.fixture(scope="module")
def champion(stack: Stack) -> Iterator[str]:
    """The champion's version (made first when there is none); score_batch unpaused for the module. The
    finalizer leaves score_batch, ingest_and_validate and train_and_promote paused or unpaused as they were."""
    dags = (SCORE, INGEST, TRAIN)
    paused = stack.paused(dags)
    try:
        stack.unpause(INGEST)
        if _champion(stack) is None:
            stack.unpause(TRAIN)
            _make_champion(stack)
        version = _champion(stack)
        assert version is not None, f"{MODEL_NAME} has no champion after train_and_promote\n" + stack.diagnostics()
        stack.unpause(SCORE)
        yield version
    finally:
        stack.restore_paused(paused)


def _asset_run_for(stack: Stack, ingest_run_id: str, day: dt.date, before: set[str]) -> dict[str, Any] | None:
    """The score_batch run (new since ``before``) that the asset event of ``ingest_run_id``'s publish created."""
    r = stack.api("GET", f"/api/v2/dags/{SCORE}/dagRuns", params={"run_type": "asset_triggered", "limit": 100})
    assert r.status_code == 200, (r.status_code, r.text)
    for run in r.json()["dag_runs"]:
        if run["dag_run_id"] in before:
            continue
        events = stack.api("GET", f"/api/v2/dags/{SCORE}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
        assert events.status_code == 200, (events.status_code, events.text)
        for event in events.json()["asset_events"]:
            if event["source_run_id"] == ingest_run_id and (event.get("extra") or {}).get("ds") == day.isoformat():
                return run
    return None


def test_a_scoring_runs_on_publish_and_writes_predictions_to_s3(stack: Stack, champion: str):
    assert _predictions(stack, NEW_DAY) is None, f"{NEW_DAY} already has predictions: pick a day no test uses"
    listed = stack.api("GET", f"/api/v2/dags/{SCORE}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    before = {run["dag_run_id"] for run in listed}

    ingest_run_id = _trigger(
        stack, INGEST, {"dag_run_id": f"it_score_ingest_{NEW_DAY}", "logical_date": _logical(NEW_DAY)}
    )
    _run_ok(stack, INGEST, ingest_run_id, timeout=300)

    try:
        run = wait_until(
            lambda: _asset_run_for(stack, ingest_run_id, NEW_DAY, before),
            120,
            2,
            f"a {SCORE} run created by the asset event of {ingest_run_id}",
            ignore=(),
        )
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n" + stack.diagnostics(INGEST, ingest_run_id))
    run_id = run["dag_run_id"]
    run = _run_ok(stack, SCORE, run_id, timeout=300)
    assert run["run_type"] == "asset_triggered", run
    assert _task_states(stack, SCORE, run_id) == {"score": "success"}, "scored, not skipped (no champion)"

    curated_rows = stack.parquet_rows(LAKE_BUCKET, _curated_key(NEW_DAY))
    assert curated_rows > 0
    pred = _predictions(stack, NEW_DAY)
    assert pred is not None, f"no {_predictions_key(NEW_DAY)} on S3 after {SCORE} run {run_id}"
    assert pred["rows"] == curated_rows
    assert pred["run_ids"] == {run_id}
    assert pred["model_names"] == {MODEL_NAME}
    assert pred["versions"] == {_champion(stack)} == {champion}
    assert pred["null_scores"] == 0
    assert f"lake/reports/scoring/{DATASET}/ds={NEW_DAY}/summary.json" in stack.list_keys(
        LAKE_BUCKET, f"lake/reports/scoring/{DATASET}/ds={NEW_DAY}/"
    )
    STATE["new_day"] = {"run_id": run_id, "etag": pred["etag"]}


def test_b_rest_rescore_of_a_range_replaces_exactly_those_days(stack: Stack, champion: str):
    new_day = STATE.get("new_day") or pytest.skip("needs test_a")
    # First every day of the pipeline test's window, so the days outside the range have predictions of a known
    # run: the re-score must leave them as they are.
    conf = {"start": DAYS[0].isoformat(), "end": DAYS[-1].isoformat()}
    all_run_id = _trigger(stack, SCORE, {"logical_date": None, "conf": conf})
    _run_ok(stack, SCORE, all_run_id, timeout=300)
    baseline = {d: _predictions(stack, d) for d in DAYS}
    assert all(p is not None and p["run_ids"] == {all_run_id} for p in baseline.values()), baseline

    conf = {"start": RANGE[0].isoformat(), "end": RANGE[-1].isoformat()}
    run_id = _trigger(stack, SCORE, {"logical_date": None, "conf": conf})
    run = _run_ok(stack, SCORE, run_id, timeout=300)
    assert run["run_type"] == "manual" and run["conf"] == conf, run
    assert _task_states(stack, SCORE, run_id) == {"score": "success"}

    version = _champion(stack)
    assert version == champion
    for day in DAYS:
        pred = _predictions(stack, day)
        assert pred is not None, day
        assert pred["rows"] == stack.parquet_rows(LAKE_BUCKET, _curated_key(day)), day
        assert pred["versions"] == {version}, day
        if day in RANGE:
            assert pred["run_ids"] == {run_id}, day
        else:
            assert pred["run_ids"] == {all_run_id}, f"{day} is outside {conf} but was re-scored"
            assert pred["etag"] == baseline[day]["etag"], day
    outside = _predictions(stack, NEW_DAY)
    assert outside is not None and outside["run_ids"] == {new_day["run_id"]}, outside
    assert outside["etag"] == new_day["etag"]
