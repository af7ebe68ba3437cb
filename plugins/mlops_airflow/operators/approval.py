"""Wait for a human to approve a promotion (Airflow's human-in-the-loop), without Airflow core at parse time.

The standard provider's ``ApprovalOperator`` on Airflow 3.3 writes the request (``upsert_hitl_detail``) and raises
``TaskAwaitingInput``: the task parks in ``awaiting_input`` with no worker slot, trigger or pool slot held, and the
API (an answer from Required Actions, ``PATCH .../hitlDetails``) or the scheduler's timeout sweep (the defaults:
Reject) resumes it in ``execute_complete``. This operator does the same with the Task SDK only: the provider's
module imports ``airflow.triggers.base`` (Airflow core) when the DAG file is parsed, about 25 ms that every parse
of ``train_and_promote`` would pay (``make parse-time``). Options, defaults, params and assigned users are the
provider's, so Required Actions, the REST API and the timeout behave as they do for it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowSkipException, TaskAwaitingInput

from mlops_airflow import links
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.params import InvalidRunParams
from mlops_airflow.runtime import run_key

if TYPE_CHECKING:
    from airflow.sdk import Context

APPROVE, REJECT = "Approve", "Reject"  # the provider's ApprovalOperator options
COMMENT = Param(
    "",
    type="string",
    maxLength=2000,
    title="Comment",
    description="Why you approve or reject; recorded verbatim on the model version (promotion.approval_comment).",
    source="task",
)


def required_actions_url(context: Context, task_id: str) -> str:
    """The task's Required Actions page (what the provider's ``generate_link_to_ui`` builds)."""
    base = os.environ.get("AIRFLOW__API__BASE_URL", "").rstrip("/")
    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    return f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id)}/tasks/{quote(task_id)}/required_actions"


class ApprovePromotionOperator(MlopsOperator):
    """Between ``evaluate_challenger`` and ``promote_challenger``: when ``promotion.approval`` asks for it
    (``always``, or ``on_drift`` in a run ``drift_monitor`` triggered) and the evaluation blessed the challenger of
    a real run, ask a human (Approve / Reject, with a comment) and wait; otherwise skip with the reason.

    The answer is recorded on the version (``include.mlops.promotion.approval.record``) and returned to the promotion,
    which skips on a Reject ("rejected by <user>: <comment>"). No answer within ``promotion.approval_timeout``
    is a Reject. ``execution_timeout`` bounds building the request; the wait is bounded by ``response_timeout``
    (set from the config when the task runs)."""

    template_fields: Sequence[str] = (
        "evaluation",
        "window_check",
        "reason",
        "drift_summary",
        "monitoring_run_id",
        "is_dry_run",
    )
    ui_color = "#fff3cd"
    operator_extra_links = (links.MlflowModelVersionLink(), links.ReportLink())

    def __init__(
        self,
        *,
        evaluation: Any,
        window_check: Any = None,
        reason: Any = None,
        drift_summary: Any = None,
        monitoring_run_id: Any = None,
        dry_run: Any = False,
        response_timeout: dt.timedelta = dt.timedelta(days=30),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.evaluation = evaluation
        self.window_check = window_check
        self.reason = reason
        self.drift_summary = drift_summary
        self.monitoring_run_id = monitoring_run_id
        self.is_dry_run = dry_run
        self.response_timeout = response_timeout  # the bound at parse time; the config's value applies at run time

    def _triggered_by_drift(self, context: Context) -> bool:
        return bool(self.monitoring_run_id) or str(context["run_id"]).startswith("drift__")

    def execute(self, context: Context) -> None:
        from include.mlops.promotion.approval import body, wait_reason

        cfg, ev = self.config, self.evaluation
        if not isinstance(self.is_dry_run, bool):
            raise InvalidRunParams(
                f"dry_run must be a boolean, got {type(self.is_dry_run).__name__} {self.is_dry_run!r}"
            )
        name, version = ev["model_name"], ev["challenger_version"]
        self.begin("approval of %s version %s (promotion.approval: %s)", name, version, cfg.promotion.approval)
        self.link_model_version(name, version)
        wait, why = wait_reason(cfg, ev, dry_run=self.is_dry_run, triggered_by_drift=self._triggered_by_drift(context))
        if not wait:
            raise AirflowSkipException(why)
        report = None
        if ev.get("report_key"):
            self.link_report(ev["report_key"])
            if self.lake.storage.exists(ev["report_key"]):
                report = self.lake.read_json(ev["report_key"])
        trigger = {"run_key": run_key(context), "reason": self.reason or ""}
        if self.drift_summary:
            trigger["drift_summary"] = self.drift_summary
        timeout = cfg.promotion.timeout
        found = {
            "MLflow model version": self.extra_link_urls.get(links.MLFLOW_MODEL_VERSION, ""),
            "Decision report": self.report_url(ev.get("report_key"), absolute=True),
        }
        run_id = self.mlflow_hook.client().get_model_version(name, version).run_id
        found["MLflow run"] = links.mlflow_run_url(self.mlflow_hook.ui_url, run_id)
        text = body(
            ev,
            report,
            self.window_check if isinstance(self.window_check, dict) else None,
            trigger,
            {k: v for k, v in found.items() if v},
            timeout=_human(timeout),
        )
        subject = f"Promote {name} version {version} to champion? ({why.split(': ', 1)[-1]})"[:250]
        from include.mlops.core.compat import request_human_input

        approvers = list(cfg.promotion.approvers)
        self.response_timeout = timeout
        request_human_input(
            ti_id=context["task_instance"].id,
            options=[APPROVE, REJECT],
            subject=subject,
            body=text,
            defaults=[REJECT],  # what the scheduler answers when the timeout passes
            multiple=False,
            params={"comment": COMMENT.serialize()},
            assigned_users=approvers,
        )
        url = required_actions_url(context, self.task_id)
        from mlops_airflow.notify import approval_needed

        approval_needed(
            context,
            f"approval needed: {subject} Answer by {(dt.datetime.now(dt.UTC) + timeout).isoformat(timespec='minutes')}"
            f"{' (approvers: ' + ', '.join(cfg.promotion.approvers) + ')' if approvers else ''}: {url}",
        )
        self.outcome(
            "WAITING for a human: %s (Required Actions: %s; no answer within %s rejects)", why, url, _human(timeout)
        )
        raise TaskAwaitingInput(method_name="execute_complete", timeout=timeout)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from include.mlops.promotion.approval import Answer, answer_from_event, record

        ev = self.evaluation
        if "error" in event:  # a timeout without defaults (not this operator's request): the same as Reject
            answer = Answer(False, "timeout", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), timed_out=True)
        else:
            answer = answer_from_event(event)
        self.log.info("answer: %s (at %s)", answer.summary, answer.at)
        record(self.mlflow_hook.client(), self.lake, ev, answer)
        self.log.info(
            "OUTCOME %s %s version %s: %s",
            "APPROVED" if answer.approved else "REJECTED",
            ev["model_name"],
            ev["challenger_version"],
            answer.summary,
        )
        return answer.as_dict()


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
