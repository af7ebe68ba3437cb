"""The daily Evidently drift check and the decision to retrain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow import links
from mlops_airflow.errors import DriftDataMissing  # noqa: F401 (re-exported by its old path)
from mlops_airflow.names import TRAINING_DAG_ID
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.runtime import airflow_tags, window_end

if TYPE_CHECKING:
    from airflow.sdk import Context


class DriftCheckOperator(MlopsOperator):
    """Compare the current window with the champion's training data (Evidently), its logged scores with the
    scores it logged before, its realized metric (predictions joined with matured labels) with its
    evaluation value; decide whether to retrain.

    Returns a small summary; ``trigger`` says whether the downstream trigger should fire and ``conf`` is
    what it passes to ``train_and_promote``. With no champion yet the task is skipped, not failed.
    """

    template_fields: Sequence[str] = ("window_end",)
    ui_color = "#ffe8e8"
    operator_extra_links = (links.MlflowRunLink(), links.MlflowModelVersionLink(), links.ReportLink())

    def __init__(self, *, window_end: Any = None, training_dag_id: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.window_end = window_end
        self.training_dag_id = training_dag_id  # None: this pipeline's train_and_promote

    def training_active(self, context: Context) -> bool:
        dag_id = self.training_dag_id or self.pipeline.dag_id(TRAINING_DAG_ID)
        count = context["ti"].get_dr_count(dag_id=dag_id, states=["queued", "running"])
        return bool(count)

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.monitor.drift import monitor, render_performance, render_table

        cfg = self.config
        end = window_end(context, self.window_end)
        self.begin(
            "drift check of %s: %d days before %s vs the champion's training data",
            cfg.model.name,
            cfg.drift.window_days,
            end,
        )
        # InsufficientData: DriftDataMissing (mlops_airflow.errors), a retry would read the same lake and lineage
        result = monitor(
            self.mlflow_hook.client(), cfg, self.lake, end, self.training_active(context), airflow_tags(context)
        )
        if result.champion_version is None:
            self.outcome("SKIPPED: %s", result.reason)
            raise AirflowSkipException(result.reason)
        self.link_mlflow_run(result.monitoring_run_id)
        self.link_model_version(cfg.model.name, result.champion_version)
        self.link_report(self.lake.report_key("drift", cfg.dataset.name, result.ds, "report.html"))
        self.log.info(
            "most drifted columns (champion v%s, %d reference rows vs %d current rows):\n%s",
            result.champion_version,
            result.rows_reference,
            result.rows_current,
            render_table(result),
        )
        self.log.info("prediction log and matured labels:\n%s", render_performance(result))
        self.log.info(
            "report %s (predictions: %s); MLflow monitoring run %s",
            result.report_uri,
            result.prediction_report_uri,
            result.monitoring_run_id,
        )
        self.outcome(
            "%s: %s",
            "TRIGGER RETRAINING" if result.triggered else ("DRIFT" if result.drifted else "NO DRIFT"),
            result.reason,
        )
        return result.summary(cfg.drift)
