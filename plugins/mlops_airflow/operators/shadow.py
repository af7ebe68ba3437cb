"""Review the waiting shadow challenger: promote it once its shadow days confirm it, or retire it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow import links
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.operators.training import announce_champion_move
from mlops_airflow.runtime import run_key

if TYPE_CHECKING:
    from airflow.sdk import Context


class ReviewShadowOperator(MlopsOperator):
    """Judge the version behind the ``shadow`` alias on the prediction log (``include.mlops.promotion.shadow.review``):
    its shadow scores and the champion's on the same rows, joined with matured labels, from the end of its
    training window. Promotes it (compare-and-set, in the promotion pool) once ``evaluation.shadow_days``
    labelled days confirm it; retires it when it loses, when the champion moved, or past
    ``evaluation.shadow_max_wait_days``; otherwise it keeps waiting. No shadow: skipped."""

    ui_color = "#f3e6ff"
    operator_extra_links = (links.MlflowModelVersionLink(), links.ReportLink())

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.promotion.shadow import PROMOTED, review

        cfg = self.config
        self.begin(
            "review the shadow challenger of %s (%d labelled days to confirm)",
            cfg.model.name,
            cfg.evaluation.shadow_days,
        )
        actor = run_key(context)
        result = review(self.mlflow_hook.client(), cfg, self.lake, actor=actor)
        if result.shadow_version is None:
            self.outcome("SKIPPED: %s", result.reason)
            raise AirflowSkipException(result.reason)
        self.link_model_version(cfg.model.name, result.shadow_version)
        if result.report_key:
            self.link_report(result.report_key)
        self.log.info(
            "shadow version %s beside champion %s from %s: labelled days %s; waiting for labels %s; "
            "not shadowed %s; %s shadow %s vs champion %s on %d rows",
            result.shadow_version,
            result.champion_version,
            result.start_day,
            ", ".join(result.labelled_days) or "none",
            ", ".join(result.unlabelled_days) or "none",
            ", ".join(result.unshadowed_days) or "none",
            result.primary_metric,
            result.shadow_value,
            result.champion_value,
            result.rows,
        )
        if result.status == PROMOTED:
            announce_champion_move(
                self, context, {"model_name": cfg.model.name, "version": result.shadow_version, "by": actor}
            )
        self.outcome("%s version %s: %s", result.status.upper(), result.shadow_version, result.reason)
        from include.mlops.core.jsonsafe import json_safe

        return json_safe(result.as_dict())
