"""A human in the loop before the champion moves, on the distributed path: ``train_and_promote`` with
``promotion.approval: always`` parks ``approve_promotion`` in ``awaiting_input`` on the real scheduler (CeleryExecutor,
PostgreSQL); it is answered over REST (``PATCH .../taskInstances/approve_promotion/-1/hitlDetails``) or by the
scheduler's timeout sweep, and ``promote_challenger`` acts on the answer.

Order and shared state: pytest runs the files of this directory alphabetically, so this module runs after
test_distributed_pipeline (six curated days 2026-05-01..06 and a champion, ``O``) and test_kill_recovery. Run on its
own it first makes those (``conftest._make_champion``).

A blessed challenger, deterministically. Only a blessed challenger waits for a human, and the evaluation blesses
only a strict improvement on the champion; a challenger trained on the same days as the champion ties with it. So
the module first registers a deliberately weak version ``W`` (a dry run with one depth-1 tree, never promoted) and,
before each scenario, points ``champion`` at it with ``MlflowClient``: the scenario's challenger (the stack's usual
model on the same window; simulator, split and estimator are seeded) beats it, with ``evaluation`` relaxed to
``min_improvement: 0``, ``floor: 0`` and no guardrails. Whether it was blessed is still asserted (the evaluation's
XCom), with the evaluation's reason when it was not.

The config: task processes read ``MLOPS_CONFIG`` (``mlops_dev.stack.write_pipeline_config`` wrote it) when they run,
so the module rewrites that file per step (the stack's document plus the keys above and ``promotion``) and restores
it in the fixture's finalizer. Nothing else depends on the keys changed: the dag-processor parses the DAGs without
reading the config, and the API server's plugins (``/mlops/metrics``, ``/mlops/reports``) read only the lake and
MLflow sections, unchanged. ``approval_timeout`` is 10m where a test answers and 1m where nobody does; the scheduler
sweeps timed-out ``awaiting_input`` tasks every ``[scheduler] trigger_timeout_check_interval`` (default 15 s, kept).

At the end ``champion`` is ``O`` again (test d moves it there; the finalizer does if a test failed before), and
ingest_and_validate / train_and_promote are paused or unpaused as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_dev import wait_until
from tests.integration.conftest import (
    DAYS,
    INGEST,
    MODEL_NAME,
    TRAIN,
    WINDOW_END,
    Stack,
    _champion,
    _make_champion,
    _mlflow,
    _run_ok,
    _task_states,
    _trigger,
)

pytestmark = pytest.mark.integration

APPROVE_TASK, PROMOTE_TASK, EVALUATE_TASK = "approve_promotion", "promote_challenger", "evaluate_challenger"
USER = "admin"  # the stack's user (simple auth manager): who answers over REST
WEAK_PARAMS = {"max_iter": 1, "max_depth": 1, "learning_rate": 0.08}
RELAXED_EVALUATION = {"min_improvement": 0.0, "floor": 0.0, "guardrails": []}
STATE: dict[str, Any] = {}


# -- config ------------------------------------------------------------------------------------------------------
class PipelineConfigFile:
    """The stack's MLOPS_CONFIG file: rewritten per step, restored verbatim at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_text()

    def write(self, *, model_params: dict[str, Any] | None = None, **promotion: Any) -> None:
        doc = yaml.safe_load(self.original)
        doc["evaluation"] = {**doc.get("evaluation", {}), **RELAXED_EVALUATION}
        if model_params is not None:
            doc["model"] = {**doc["model"], "params": model_params}
        doc["promotion"] = promotion
        self.path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def restore(self) -> None:
        self.path.write_text(self.original)


# -- REST helpers --------------------------------------------------------------------------------------------------
def _ti(stack: Stack, run_id: str, task_id: str) -> dict[str, Any]:
    r = stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}/taskInstances/{task_id}")
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def _hitl_path(run_id: str) -> str:
    return f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}/taskInstances/{APPROVE_TASK}/-1/hitlDetails"


def _xcom(stack: Stack, run_id: str, task_id: str) -> Any:
    r = stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
    if r.status_code != 200:
        return None
    value = r.json()["value"]
    return json.loads(value) if isinstance(value, str) else value


def _answer(stack: Stack, run_id: str, option: str, comment: str) -> dict[str, Any]:
    body = {"chosen_options": [option], "params_input": {"comment": comment}}
    r = stack.api("PATCH", _hitl_path(run_id), json=body)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def _task_log(stack: Stack, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
    """The events of a task's log file (JSON lines, written by the task runner under AIRFLOW_HOME/logs)."""
    logs = sorted((stack.home / "logs").glob(f"dag_id={TRAIN}/run_id={run_id}/task_id={task_id}/attempt={try_number}*"))
    assert logs, f"no log of {task_id} try {try_number} in run {run_id}"
    events = []
    for line in logs[0].read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            events.append(line)
            continue
        # the message, and the whole record (an exception's text is in its error_detail, not in event)
        events.append(f"{record.get('event', '')} {json.dumps(record, ensure_ascii=False)}")
    return events


def _finished(stack: Stack, run_id: str, timeout: float) -> dict[str, Any]:
    return stack.wait_for_runs(TRAIN, [run_id], timeout=timeout)[run_id]


def _tags(stack: Stack, version: str) -> dict[str, str]:
    return dict(_mlflow(stack).get_model_version(MODEL_NAME, version).tags)


def _set_champion(stack: Stack, version: str) -> None:
    from include.mlops.model.registry import CHAMPION

    _mlflow(stack).set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    assert _champion(stack) == version


def _waiting_run(stack: Stack, config: PipelineConfigFile, reason: str, timeout: str) -> tuple[str, dict[str, Any]]:
    """A train_and_promote run (REST, ``logical_date: null``) whose blessed challenger waits for a human against
    champion ``W``: (run id, the evaluation). Fails with the evaluation's reason when it was not blessed."""
    weak = STATE.get("weak") or pytest.skip("needs the weak version of the module fixture")
    _set_champion(stack, weak)
    config.write(approval="always", approval_timeout=timeout)
    conf = {"window_end": WINDOW_END.isoformat(), "reason": reason}
    run_id = _trigger(stack, TRAIN, {"logical_date": None, "conf": conf})

    def parked() -> str | None:
        state = _ti(stack, run_id, APPROVE_TASK)["state"]
        if state == "awaiting_input":
            return state
        run = stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns/{run_id}").json()
        if state in ("skipped", "success", "failed", "upstream_failed") or run["state"] in ("success", "failed"):
            return f"{APPROVE_TASK} {state}"
        return None

    try:
        state = wait_until(parked, 420, 2, f"{APPROVE_TASK} of {run_id} in awaiting_input", ignore=())
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n" + stack.diagnostics(TRAIN, run_id))
    evaluation = _xcom(stack, run_id, EVALUATE_TASK) or {}
    if state != "awaiting_input":
        pytest.fail(
            f"{state} instead of waiting for a human; evaluation: promote={evaluation.get('promote')} "
            f"({evaluation.get('reason')})\n" + stack.diagnostics(TRAIN, run_id)
        )
    assert evaluation["promote"] is True, evaluation
    assert evaluation["champion_version"] == weak, evaluation
    return run_id, evaluation


# -- fixture -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def approval(stack: Stack) -> Iterator[PipelineConfigFile]:
    """The champion ``O`` (made when there is none), a weak version ``W`` (STATE), the config file to rewrite.
    The finalizer restores the config, makes ``O`` champion again if it is not, and the DAGs' pause state."""
    config = PipelineConfigFile(Path(stack.env["MLOPS_CONFIG"]))
    dags = (INGEST, TRAIN)
    paused = stack.paused(dags)
    original: str | None = None
    try:
        stack.unpause(INGEST)
        stack.unpause(TRAIN)
        if _champion(stack) is None:
            _make_champion(stack)
        original = _champion(stack)
        assert original is not None, f"{MODEL_NAME} has no champion after train_and_promote\n" + stack.diagnostics()
        STATE["original"] = original

        # W: registered by a dry run (never promoted) with one depth-1 tree; approval never.
        config.write(model_params=WEAK_PARAMS, approval="never")
        conf = {"window_end": WINDOW_END.isoformat(), "reason": "integration approval: weak version", "dry_run": True}
        run_id = _trigger(stack, TRAIN, {"logical_date": None, "conf": conf})
        _run_ok(stack, TRAIN, run_id, timeout=420)
        weak = (_xcom(stack, run_id, EVALUATE_TASK) or {}).get("challenger_version")
        assert weak and weak != original, (weak, original)
        STATE["weak"] = weak
        yield config
    finally:
        config.restore()
        if original is not None and _champion(stack) != original:
            _set_champion(stack, original)
        stack.restore_paused(paused)


# -- tests ---------------------------------------------------------------------------------------------------------
def _max_overlap(tis: list[dict[str, Any]]) -> int:
    """The most task instances of ``tis`` that ran at the same time (from their start and end dates)."""
    edges = []
    for ti in tis:
        if ti.get("start_date") and ti.get("end_date"):
            edges += [(ti["start_date"], 1), (ti["end_date"], -1)]
    running = most = 0
    for _, step in sorted(edges, key=lambda e: (dt.datetime.fromisoformat(e[0].replace("Z", "+00:00")), e[1])):
        running += step
        most = max(most, running)
    return most


def test_a_approve_over_rest_promotes_the_challenger(stack: Stack, approval: PipelineConfigFile):
    reason = "integration approval: approve"
    run_id, ev = _waiting_run(stack, approval, reason, "10m")
    version = ev["challenger_version"]

    detail = stack.api("GET", _hitl_path(run_id))
    assert detail.status_code == 200, (detail.status_code, detail.text)
    detail = detail.json()
    assert detail["options"] == ["Approve", "Reject"] and detail["defaults"] == ["Reject"], detail
    assert f"version {version}" in detail["subject"], detail["subject"]
    assert f"version {version}" in detail["body"] and ev["reason"] in detail["body"], detail["body"]
    assert reason in detail["body"], detail["body"]
    assert detail["responded_at"] is None and detail["response_received"] is False, detail

    # Parked without a worker slot or a pool slot: the promotion pool is empty and two ingestion runs (re-ingesting
    # two curated days: same content) run tasks side by side on the 2-slot worker while the approval still waits.
    pool = stack.api("GET", "/api/v2/pools/mlops_promotion").json()
    assert pool["occupied_slots"] == 0 and pool["running_slots"] == 0, pool
    token = secrets.token_hex(3)
    ingest_ids = [
        _trigger(
            stack, INGEST, {"dag_run_id": f"it_approval_{d}_{token}", "logical_date": None, "conf": {"ds": str(d)}}
        )
        for d in DAYS[-2:]
    ]
    stack.assert_success(INGEST, stack.wait_for_runs(INGEST, ingest_ids, timeout=300))
    assert _ti(stack, run_id, APPROVE_TASK)["state"] == "awaiting_input"
    tis = []
    for ingest_id in ingest_ids:
        r = stack.api("GET", f"/api/v2/dags/{INGEST}/dagRuns/{ingest_id}/taskInstances")
        tis += r.json()["task_instances"]
    assert _max_overlap(tis) == 2, [(t["task_id"], t["start_date"], t["end_date"]) for t in tis]

    comment = "Looks right: AP up on the holdout — ok'd by risk (ticket #42) | 100%"
    answered = _answer(stack, run_id, "Approve", comment)
    assert answered["chosen_options"] == ["Approve"], answered
    assert answered["responded_by"]["name"] == USER, answered  # the PATCH response names it responded_by

    run = _finished(stack, run_id, timeout=300)
    stack.assert_success(TRAIN, {run_id: run})
    states = _task_states(stack, TRAIN, run_id)
    assert states[APPROVE_TASK] == "success" and states[PROMOTE_TASK] == "success", states
    assert _champion(stack) == version
    tags = _tags(stack, version)
    assert tags["promotion.approval"] == "approved", tags
    assert tags["promotion.approved_by"] == USER, tags
    assert tags["promotion.approval_comment"] == comment, tags
    assert tags["promotion.status"] == "champion", tags
    history = _mlflow(stack).get_registered_model(MODEL_NAME).tags["champion_history"]
    assert history.split(",")[-1] == f"{version}:approved_by={USER}", history
    STATE["approved"] = version


def test_b_reject_skips_the_promotion_with_who_and_why(stack: Stack, approval: PipelineConfigFile):
    run_id, ev = _waiting_run(stack, approval, "integration approval: reject", "10m")
    version, weak = ev["challenger_version"], STATE["weak"]
    comment = "Not this week: the holdout is too small to trust"
    answered = _answer(stack, run_id, "Reject", comment)
    assert answered["chosen_options"] == ["Reject"], answered

    run = _finished(stack, run_id, timeout=300)
    stack.assert_success(TRAIN, {run_id: run})  # a Reject is a skip, not a failure
    states = _task_states(stack, TRAIN, run_id)
    assert states[APPROVE_TASK] == "success" and states[PROMOTE_TASK] == "skipped", states
    assert any(f"rejected by {USER}: {comment}" in e for e in _task_log(stack, run_id, PROMOTE_TASK))
    tags = _tags(stack, version)
    assert tags["promotion.approval"] == "rejected", tags
    assert tags["promotion.rejected_by"] == USER, tags
    assert tags["promotion.approval_comment"] == comment, tags
    assert tags["promotion.status"] == "rejected by a human", tags
    assert "promotion.approved_by" not in tags, tags
    assert _champion(stack) == weak


def test_c_no_answer_rejects_after_the_timeout(stack: Stack, approval: PipelineConfigFile):
    run_id, ev = _waiting_run(stack, approval, "integration approval: timeout", "1m")
    version, weak = ev["challenger_version"], STATE["weak"]
    parked_at = time.monotonic()
    # Nobody answers: the scheduler's sweep applies the defaults (Reject) once the minute has passed.
    run = _finished(stack, run_id, timeout=360)
    STATE["timeout_resolved_after_s"] = round(time.monotonic() - parked_at)
    stack.assert_success(TRAIN, {run_id: run})
    states = _task_states(stack, TRAIN, run_id)
    assert states[APPROVE_TASK] == "success" and states[PROMOTE_TASK] == "skipped", states
    detail = stack.api("GET", _hitl_path(run_id)).json()
    assert detail["chosen_options"] == ["Reject"] and detail["responded_by_user"] is None, detail
    assert any("no answer before promotion.approval_timeout" in e for e in _task_log(stack, run_id, PROMOTE_TASK))
    tags = _tags(stack, version)
    assert tags["promotion.approval"] == "timed out", tags
    assert tags["promotion.rejected_by"] == "timeout", tags
    assert tags["promotion.status"] == "rejected (approval timed out)", tags
    assert _champion(stack) == weak


def test_d_champion_moved_during_the_wait_fails_the_promotion_at_once(stack: Stack, approval: PipelineConfigFile):
    run_id, ev = _waiting_run(stack, approval, "integration approval: champion moved", "10m")
    version, weak, original = ev["challenger_version"], STATE["weak"], STATE["original"]
    # Another blessed version becomes champion while the reviewer reads (a rollback or another promotion would).
    assert _tags(stack, original).get("evaluation.decision") == "promote"
    _set_champion(stack, original)
    _answer(stack, run_id, "Approve", "approved after the champion moved")

    run = _finished(stack, run_id, timeout=300)
    assert run["state"] == "failed", run
    promote = _ti(stack, run_id, PROMOTE_TASK)
    assert promote["state"] == "failed" and promote["try_number"] == 1, promote  # ChampionMoved: not retried
    moved = f"the champion of {MODEL_NAME} moved from {weak} to {original}"
    assert any(moved in e for e in _task_log(stack, run_id, PROMOTE_TASK)), _task_log(stack, run_id, PROMOTE_TASK)
    assert _champion(stack) == original
    assert _tags(stack, version)["promotion.approval"] == "approved"
    assert _tags(stack, version).get("promotion.status") != "champion"
