"""
### rollback_champion

**What it does.** Moves the `champion` alias of the configured model back to an earlier version:
by default the champion that the current one replaced (version tag `promotion.previous_champion`),
or `target_version`. Refuses a version that no evaluation ever blessed. Records who (the triggering
user), why (`reason`) and when as version tags (`rollback.*`) on the restored version and marks the
current one `rolled back to <N>`. Runs in the `mlops_promotion` pool, so it never races a promotion.

**When.** Manual only: Trigger DAG in the UI with the form, or over REST with conf
`{"target_version": "3", "reason": "v5 mis-scores mobile payments"}`.

**Params.** `target_version` (digits, optional), `reason` (required, 3-500 chars).

**When it fails.** "never blessed": pick a version whose `evaluation.decision` tag is `promote`
(MLflow UI, model versions). "no recorded previous champion": pass `target_version`. Those refusals
are not retried (nothing changes until you trigger it again); MLflow being unreachable is retried with
backoff. See docs/runbook.md, "Rollback needed".
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Param, dag

from mlops_airflow.defaults import task_defaults
from mlops_airflow.operators.training import RollbackChampionOperator

PROMOTION_POOL = "mlops_promotion"


@dag(
    dag_id="rollback_champion",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(minutes=30),
    default_args=task_defaults(
        retries=2,
        retry_delay=dt.timedelta(seconds=30),
        max_retry_delay=dt.timedelta(minutes=5),
        execution_timeout=dt.timedelta(minutes=5),
    ),
    params={
        "target_version": Param(
            None,
            type=["null", "string"],
            pattern="^[0-9]+$",
            description="Registered model version to restore. Empty: the previous champion.",
        ),
        "reason": Param(
            "",
            type="string",
            minLength=3,
            maxLength=500,
            description="Why the champion is rolled back; recorded on the version.",
        ),
    },
    tags=["mlops", "registry", "rollback"],
    doc_md=__doc__,
)
def rollback_champion():
    RollbackChampionOperator(
        task_id="rollback",
        target_version="{{ params.target_version }}",
        reason="{{ params.reason }}",
        pool=PROMOTION_POOL,
    )


rollback_champion()
