"""Trigger ``train_and_promote`` from the drift check, the Airflow 3 way, without Airflow core at parse time.

The standard provider's ``TriggerDagRunOperator`` does its Airflow 3 work by raising
``DagRunTriggerException``, which the task runner turns into a request to the API server (create the
run; skip the task when the run id exists and ``skip_when_already_exists``). This operator raises the
same exception, but its module imports only the Task SDK: the provider's module imports Airflow core
(models, SQLAlchemy) when the DAG file is parsed, ~250 ms that every parse of ``drift_monitor`` paid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk.exceptions import AirflowSkipException, DagRunTriggerException

from mlops_airflow import links
from mlops_airflow.operators.base import MlopsOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class TriggerRetrainingOperator(MlopsOperator):
    """When the drift check decided to retrain, create a run of ``trigger_dag_id`` with id
    ``drift__<day>`` and the check's ``conf``; otherwise end as skipped with the check's reason.

    ``check`` is the drift check's result (``check_drift.output`` in the DAG). ``logical_date`` is None (a
    REST-style run: the drift check is not the training DAG's schedule). A run with the same id already there means this
    day already triggered: the task is skipped.
    """

    template_fields: Sequence[str] = ("check",)
    ui_color = "#ffefd5"
    operator_extra_links = (links.TriggeredRunLink(),)

    def __init__(self, *, trigger_dag_id: str, check: Any, skip_when_already_exists: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.check = check
        self.skip_when_already_exists = skip_when_already_exists

    def execute(self, context: Context) -> None:
        check = self.check
        if not isinstance(check, dict):
            raise TypeError(f"check must render to the drift check's result (a mapping), got {check!r}")
        self.begin("decide whether to trigger %s for the drift check of %s", self.trigger_dag_id, check.get("ds"))
        if not check.get("trigger"):
            self.outcome("NO TRIGGER: %s", check.get("reason", "the drift check did not ask for retraining"))
            raise AirflowSkipException(str(check.get("reason") or "no retraining needed"))
        conf = check.get("conf") or {}
        self.trigger_run_id = f"drift__{check['ds']}"
        base = os.environ.get("AIRFLOW__API__BASE_URL", "").rstrip("/")
        self.extra_link_urls[links.TRIGGERED_RUN] = (
            f"{base}/dags/{quote(self.trigger_dag_id)}/runs/{quote(str(self.trigger_run_id))}"
        )
        self.outcome(
            "TRIGGER %s run %s (skipped if it already exists): %s",
            self.trigger_dag_id,
            self.trigger_run_id,
            conf.get("reason", ""),
        )
        raise DagRunTriggerException(
            trigger_dag_id=self.trigger_dag_id,
            dag_run_id=str(self.trigger_run_id),
            conf=conf,
            logical_date=None,
            reset_dag_run=False,
            skip_when_already_exists=self.skip_when_already_exists,
            wait_for_completion=False,
            allowed_states=["success"],
            failed_states=["failed"],
            poke_interval=60,
            deferrable=False,
        )
