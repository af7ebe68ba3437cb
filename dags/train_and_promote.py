"""
### train_and_promote

**What it does.** Trains a challenger on the curated days of the training window, logs it to MLflow
(params, metrics, signature, input example, the exact partitions and their content hash) and
registers it with alias `challenger`; scores challenger and `champion` on the same out-of-time
holdout; then moves the `champion` alias to the challenger if the policy blesses it, or skips the
promotion with the reason.

**When.** Weekly, Monday 03:00 UTC (window ends at the run's data interval end). Also triggered from
the UI, by other systems over the REST API (`logical_date: null` trains up to the trigger time), and
by the drift monitor.

**Params.** `window_days` (2-365, default from config), `holdout_days` (1-90, default from config),
`window_end` (`YYYY-MM-DD`, optional), `reason` (free text, recorded), `dry_run` (train and
evaluate, never promote).

**When it fails.** `check_training_window`: too few curated rows or one class only: ingest/backfill
more days or widen `window_days`. `train_challenger`/`evaluate_challenger`: MLflow unreachable:
retried with backoff. `promote_challenger` skipped: the challenger was rejected (reason in the log
and in version tags) or it was a dry run. `promote_challenger` failed with "the champion of <model> moved
from A to B": another promotion or a rollback won the race; clear `evaluate_challenger` to re-evaluate
against the new champion.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag

from mlops_airflow.assets import CHAMPION_MODEL
from mlops_airflow.defaults import task_defaults
from mlops_airflow.operators.training import (
    CheckTrainingWindowOperator,
    EvaluateChallengerOperator,
    PromoteChallengerOperator,
    TrainModelOperator,
)

PROMOTION_POOL = "mlops_promotion"
CHECK = "{{ ti.xcom_pull(task_ids='check_training_window') }}"


@dag(
    dag_id="train_and_promote",
    schedule=CronDataIntervalTimetable("0 3 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 5, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=4),
    render_template_as_native_obj=True,
    default_args=task_defaults(
        retries=3,
        retry_delay=dt.timedelta(seconds=30),
        max_retry_delay=dt.timedelta(minutes=10),
        execution_timeout=dt.timedelta(minutes=30),
    ),
    params={
        "window_days": Param(
            None,
            type=["null", "integer"],
            minimum=2,
            maximum=365,
            description="Days of curated data to use, holdout included. Empty: training.window_days from config.",
        ),
        "holdout_days": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=90,
            description="Most recent days held out for champion/challenger evaluation. Empty: from config.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Exclusive end day of the window (YYYY-MM-DD). Empty: the run's data interval end.",
        ),
        "reason": Param(
            "scheduled",
            type="string",
            minLength=1,
            maxLength=500,
            description="Why this run was started; recorded in the log and the MLflow run.",
        ),
        "dry_run": Param(False, type="boolean", description="Train and evaluate, but never move the champion."),
        "drift_summary": Param(
            None,
            type=["null", "object"],
            description="Set by drift_monitor: the drift summary that triggered this run (recorded, not used).",
        ),
        "monitoring_run_id": Param(
            None,
            type=["null", "string"],
            maxLength=64,
            pattern="^[0-9A-Za-z_-]+$",
            description="Set by drift_monitor: the MLflow monitoring run id; tagged on the training run.",
        ),
    },
    tags=["mlops", "training", "mlflow"],
    doc_md=__doc__,
)
def train_and_promote():
    check = CheckTrainingWindowOperator(
        task_id="check_training_window",
        window_end="{{ params.window_end }}",
        window_days="{{ params.window_days }}",
        holdout_days="{{ params.holdout_days }}",
        execution_timeout=dt.timedelta(minutes=15),
    )
    train = TrainModelOperator(
        task_id="train_challenger",
        window_check=CHECK,
        reason="{{ params.reason }}",
        monitoring_run_id="{{ params.monitoring_run_id }}",
        execution_timeout=dt.timedelta(hours=1),
    )
    evaluate = EvaluateChallengerOperator(
        task_id="evaluate_challenger",
        challenger_version="{{ ti.xcom_pull(task_ids='train_challenger')['version'] }}",
        window_check=CHECK,
    )
    promote = PromoteChallengerOperator(
        task_id="promote_challenger",
        evaluation="{{ ti.xcom_pull(task_ids='evaluate_challenger') }}",
        dry_run="{{ params.dry_run }}",
        pool=PROMOTION_POOL,
        outlets=[CHAMPION_MODEL],
        execution_timeout=dt.timedelta(minutes=5),
    )
    check >> train >> evaluate >> promote


train_and_promote()
