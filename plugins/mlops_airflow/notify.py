"""The failure notifier every task uses: one line in the log always, then Slack, email or your own
function when ``notifications.on_failure`` in the pipeline config says so. The same notifiers carry
"approval needed" (``approval_needed``, with the link to the task's Required Actions page) when a
promotion waits for a human (``promotion.approval``).

    notifications:
      on_failure:
        - {kind: log}                                              # the default
        - {kind: slack, channel: "#mlops-alerts", conn_id: slack_api_default}   # apache-airflow-providers-slack
        - {kind: smtp, to: [oncall@example.com], conn_id: smtp_default}        # apache-airflow-providers-smtp
        - {kind: callable, target: "my_package.alerts:page"}      # called with (context, message)

The config is read when a failure happens, not at parse time. A notifier that cannot send (missing
provider, bad connection) logs why and never hides the task's own failure.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from include.mlops.core.config import NotifierConfig

log = logging.getLogger("mlops_airflow.notify")


def failure_message(context: Any) -> str:
    """One line: which task of which run failed, on which try, why, and where its log is."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", "?")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    where = f"{dag_id}.{ti.task_id}" if ti is not None else dag_id
    try_number = f" try {ti.try_number}" if getattr(ti, "try_number", None) else ""
    error = context.get("exception") or context.get("reason") or "see the log"
    first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    log_url = getattr(ti, "log_url", None) if ti is not None else None
    return f"{where} failed (run {run_id}{try_number}): {first_line}" + (f" | log: {log_url}" if log_url else "")


def send(notifier: NotifierConfig, context: Any, message: str) -> None:
    if notifier.kind == "log":
        return  # already logged
    if notifier.kind == "callable":
        module, _, name = str(notifier.target).partition(":")
        getattr(importlib.import_module(module), name)(context, message)
    elif notifier.kind == "slack":
        try:
            from airflow.providers.slack.notifications.slack import SlackNotifier
        except ImportError:
            raise RuntimeError("the slack notifier needs apache-airflow-providers-slack in requirements") from None
        SlackNotifier(
            slack_conn_id=notifier.conn_id or "slack_api_default", channel=notifier.channel, text=message
        ).notify(context)
    elif notifier.kind == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(
            to=list(notifier.to),
            smtp_conn_id=notifier.conn_id or "smtp_default",
            subject=f"[mlops] {message[:120]}",
            html_content=f"<p>{message}</p>",
        ).notify(context)


class MlopsFailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every task (see ``mlops_airflow.defaults``)."""

    def notify(self, context: Any) -> None:
        message = failure_message(context)
        log.error("FAILURE %s", message)
        send_all(context, message, "the failure above stands")


def send_all(context: Any, message: str, despite: str) -> None:
    """``message`` through every notifier of ``notifications.on_failure``; one that cannot send logs why and
    ``despite`` (what still holds)."""
    try:
        from include.mlops.core.config import load_config
        from include.mlops.core.pipelines import pipeline_of

        pipeline = pipeline_of(context["dag"].dag_id) if context.get("dag") is not None else None
        cfg = load_config(pipeline.config_path, pipeline=pipeline.name) if pipeline else load_config()
        notifiers = cfg.notifications.on_failure
    except Exception as exc:  # a broken config must not hide what is being reported
        log.error("notifications not sent: the pipeline config could not be loaded (%s)", exc)
        return
    for notifier in notifiers:
        try:
            send(notifier, context, message)
        except Exception as exc:
            log.error("the %s notifier could not send (%s); %s", notifier.kind, exc, despite)


def approval_needed(context: Any, message: str) -> None:
    """ "Approval needed" through the same notifiers as failures (``notifications.on_failure``): the log always,
    then Slack, SMTP or your callable. A notifier that cannot send logs why; the request still waits."""
    log.warning("APPROVAL NEEDED %s", message)
    send_all(context, message, "the approval request still waits on Required Actions")
