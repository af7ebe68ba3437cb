"""
### drift_monitor

**What it does.** Every day, compares the last `drift.window_days` days of curated data with the data
the current `champion` was trained on (found through the champion's MLflow run lineage), with
Evidently 0.7: per-column drift and the share of drifted columns; the drift of the champion's scores as
logged by `score_batch` (no re-score); and its realized primary metric, from the logged predictions joined
with the labels that have matured, against its evaluation value. Writes
an HTML report and a JSON summary to the lake (`reports/drift/<dataset>/ds=...`) and to an MLflow
monitoring run, and logs the most drifted columns.

When the thresholds are crossed it triggers `train_and_promote` with conf carrying the reason, the
drift summary and the monitoring run, unless a training run is queued or running, the last trigger
is within `drift.cooldown_days` (logical days, so a backfill behaves like live days), or fewer than
`drift.min_drifted_days` of the last `drift.lookback_days` drifted.

**When.** Daily at 01:00 UTC for the day that just ended. Backfill:
`airflow backfill create --dag-id drift_monitor --from-date ... --to-date ... --max-active-runs 1`
(one day at a time, in order: each day's decision reads the previous days' summaries; a backfill
has its own limit, 10 by default from the CLI and REST).

**Params.** `window_end` (optional `YYYY-MM-DD` within 2000-01-01..2100-12-31): check the window ending that
day instead. A date outside that range is refused when the run is triggered (REST: 400).

**When it fails.** `check_drift` skipped: there is no champion yet; run `train_and_promote` first.
Failed with "none of the days ... is curated" (not retried): ingestion for the window did not run or
was quarantined; see `ingest_and_validate`, then clear `check_drift`. `trigger_retraining` skipped: no
trigger was needed (the reason is its last log line), or this day's `drift__<day>` run of
`train_and_promote` already exists. No prediction-drift signal ("no predictions are logged", in the summary's
`notes`): `score_batch` did not score the window; trigger it for those days, then clear `check_drift`. No
realized metric yet: the labels of the newest days have not matured (`unlabelled_days`); it waits for them.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag

from include.mlops.core.pipelines import Pipeline, pipelines
from mlops_airflow.defaults import task_defaults
from mlops_airflow.names import DRIFT_DAG_ID, TRAINING_DAG_ID
from mlops_airflow.operators.drift import DriftCheckOperator
from mlops_airflow.operators.trigger import TriggerRetrainingOperator
from mlops_airflow.params import RunParam, date_param


def build(p: Pipeline) -> None:
    """This DAG for pipeline ``p`` (see ``include.mlops.core.pipelines``)."""

    @dag(
        dag_id=p.dag_id(DRIFT_DAG_ID),
        schedule=CronDataIntervalTimetable("0 1 * * *", timezone="UTC"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=2),
        render_template_as_native_obj=True,
        default_args=task_defaults(
            retries=2,
            retry_delay=dt.timedelta(minutes=1),
            max_retry_delay=dt.timedelta(minutes=15),
            execution_timeout=dt.timedelta(minutes=30),
        ),
        params={
            "window_end": date_param(
                "Exclusive end day (YYYY-MM-DD, 2000-01-01..2100-12-31) of the window to check. "
                "Empty: the run's data interval end."
            ),
        },
        tags=["mlops", "monitoring", "evidently", *p.tags],
        doc_md=p.doc(__doc__),
    )
    def drift_monitor():
        check_drift = DriftCheckOperator(task_id="check_drift", window_end=RunParam("window_end"))
        trigger_retraining = TriggerRetrainingOperator(
            task_id="trigger_retraining",
            trigger_dag_id=p.dag_id(TRAINING_DAG_ID),
            check=check_drift.output,
            skip_when_already_exists=True,
            execution_timeout=dt.timedelta(minutes=5),
        )
        check_drift >> trigger_retraining

    drift_monitor()


for _pipeline in pipelines():
    build(_pipeline)
