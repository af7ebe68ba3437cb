"""
### rollback_champion

**What it does.** Moves the `champion` alias of the configured model back to an earlier version:
by default the champion that the current one replaced (version tag `promotion.previous_champion`),
or `target_version`. Refuses a version that no evaluation ever blessed. Records who (the triggering
user), why (`reason`) and when as version tags (`rollback.*`) on the restored version and marks the
current one `rolled back to <N>`. `check_rollback_target` first checks the target (outside the pool,
with a short MLflow retry budget), then `rollback` runs in the `mlops_promotion` pool, so it never races
a promotion and a bad target never holds the pool.

**When.** Manual only: Trigger DAG in the UI with the form, or over REST with conf
`{"target_version": "3", "reason": "v5 mis-scores mobile payments"}`.

**Params.** `target_version` (optional, a string of 1-9 digits without a leading zero), `reason`
(required, 3-500 characters, recorded verbatim). A conf outside these bounds is refused when the run is
triggered (REST: 400).

**When it fails.** `check_rollback_target` (or `rollback`) failed with "never blessed": pick a version
whose `evaluation.decision` tag is `promote` (MLflow UI, model versions). "no recorded previous
champion": pass `target_version`. "has no version N": the version does not exist. Those refusals are not
retried and fail within seconds (nothing changes until you trigger it again); MLflow being unreachable
is retried with backoff. See docs/runbook.md, "Rollback needed".
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag

from include.mlops.core.pipelines import Pipeline, pipelines
from mlops_airflow.defaults import task_defaults
from mlops_airflow.names import ROLLBACK_DAG_ID
from mlops_airflow.operators.training import CheckRollbackTargetOperator, RollbackChampionOperator
from mlops_airflow.params import RunParam, text_param, version_param


def build(p: Pipeline) -> None:
    """This DAG for pipeline ``p`` (see ``include.mlops.core.pipelines``)."""

    @dag(
        dag_id=p.dag_id(ROLLBACK_DAG_ID),
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(minutes=30),
        render_template_as_native_obj=True,
        default_args=task_defaults(
            retries=2,
            retry_delay=dt.timedelta(seconds=30),
            max_retry_delay=dt.timedelta(minutes=5),
            execution_timeout=dt.timedelta(minutes=5),
        ),
        params={
            "target_version": version_param(
                "Registered model version to restore (digits). Empty: the previous champion."
            ),
            "reason": text_param(
                "",
                min_length=3,
                max_length=500,
                description="Why the champion is rolled back; recorded on the version.",
            ),
        },
        tags=["mlops", "registry", "rollback", *p.tags],
        doc_md=p.doc(__doc__),
    )
    def rollback_champion():
        check = CheckRollbackTargetOperator(
            task_id="check_rollback_target",
            target_version=RunParam("target_version"),
            retries=1,  # only MLflow being unreachable is retried; a bad target fails at once
            execution_timeout=dt.timedelta(minutes=2),
        )
        rollback = RollbackChampionOperator(
            task_id="rollback",
            target_version=RunParam("target_version"),
            reason=RunParam("reason"),
            pool=p.pool,
        )
        check >> rollback

    rollback_champion()


for _pipeline in pipelines():
    build(_pipeline)
