"""
### ingest_and_validate

**What it does.** Every day, lands the previous day's batch from the configured source into the lake
(`landing/<dataset>/ds=YYYY-MM-DD`), validates it with the dataset's Great Expectations suite, then
publishes it to `curated/` and emits the `mlops_curated_batch` asset event, or moves it to
`quarantine/` with `validation.json` beside it and fails. With late labels (`dataset.label_delay_days`
N > 0) the batch lands without its label column and `land_labels`, in parallel, lands the labels of
the events of N days earlier into `labels/` after their own small suite.

**When.** Daily at 00:00 UTC for the day that just ended (the run's data interval). Backfill a range
with `airflow backfill create --dag-id ingest_and_validate --from-date 2026-01-01 --to-date 2026-01-31`
or from the UI (Trigger > Backfill). Re-running a day replaces that day's partitions only.

**Params.** `ds` (optional `YYYY-MM-DD` within 2000-01-01..2100-12-31): process this day instead of the data
interval's. `requarantine_curated` (default false): see below. A conf outside these bounds is refused when
the run is triggered (REST: 400).

**When it fails.** `validate_batch` failed: the log lists each failed expectation, its column and how
many rows broke it; the batch is in quarantine and nothing trains on it. Fix the source, then clear
`land_batch` with its downstream tasks (the day is re-landed and re-validated; clearing
`validate_batch` alone re-checks the same landed batch), or leave the day quarantined. Never mark
`validate_batch` successful by hand: `publish_batch` would publish the bad batch. See docs/runbook.md.
`validate_batch` failed with "KEPT IN CURATED": the day was published before and now fails (the suite
or the source changed); it was left in `curated/` and nothing was deleted. Fix the suite (derived suites:
`python -m include.mlops.cli suite explain`), or trigger the day with conf
`{"ds": "<day>", "requarantine_curated": true}` to move it to quarantine.
`land_batch` failed: the source is unreachable or the config does not fit the data (a column name, a label
that does not fit the task); the message names the column, the file and the key to set. Not retried.
`land_labels` failed (only with `dataset.label_delay_days` N > 0; the run of day X lands the labels of the
events of X - N into `labels/<dataset>/ds=X-N`): "LABELS QUARANTINED" names the failed checks of the label
suite (key null or duplicated, target null or not 0/1, no rows); the feed is in
`quarantine/<dataset>.labels/ds=X-N/` with `validation.json` and no training uses that day. Fix the label
feed (`dataset.labels_uri`), then clear `land_labels`. "LABELS NOT LANDED": the label file is unreadable or
lacks a column (the message names it and the key to set). Not retried. With N = 0 the task is skipped
("labels arrive in the batch").
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag

from include.mlops.core.pipelines import Pipeline, pipelines
from mlops_airflow.assets import curated_batch
from mlops_airflow.defaults import task_defaults
from mlops_airflow.names import INGEST_DAG_ID
from mlops_airflow.operators.ingest import (
    GxValidateBatchOperator,
    LandBatchOperator,
    LandLabelsOperator,
    PublishBatchOperator,
)
from mlops_airflow.params import RunParam, date_param

# The validated param as it is (None: the run's data interval), no Jinja (see mlops_airflow.params).
DS = RunParam("ds")


def build(p: Pipeline) -> None:
    """This DAG for pipeline ``p`` (see ``include.mlops.core.pipelines``)."""

    @dag(
        dag_id=p.dag_id(INGEST_DAG_ID),
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=4,
        dagrun_timeout=dt.timedelta(hours=2),
        default_args=task_defaults(
            retries=2,
            retry_delay=dt.timedelta(minutes=1),
            max_retry_delay=dt.timedelta(minutes=15),
            execution_timeout=dt.timedelta(minutes=20),
        ),
        params={
            "ds": date_param(
                "Process this day (YYYY-MM-DD, 2000-01-01..2100-12-31) instead of the run's data interval. "
                "Empty: the run's data interval."
            ),
            "requarantine_curated": Param(
                False,
                type="boolean",
                description=(
                    "A day already published that now fails validation is left in curated/ and the task fails, "
                    "unless this is true: then it moves to quarantine (nothing is deleted)."
                ),
            ),
        },
        tags=["mlops", "ingestion", "great-expectations", *p.tags],
        doc_md=p.doc(__doc__),
    )
    def ingest_and_validate():
        land = LandBatchOperator(task_id="land_batch", ds=DS)
        validate = GxValidateBatchOperator(task_id="validate_batch", ds=DS, execution_timeout=dt.timedelta(minutes=30))
        publish = PublishBatchOperator(task_id="publish_batch", ds=DS, outlets=[curated_batch(p)])
        land >> validate >> publish
        # in parallel: the labels of day D - dataset.label_delay_days (skipped with no delay)
        LandLabelsOperator(task_id="land_labels", ds=DS, execution_timeout=dt.timedelta(minutes=30))

    ingest_and_validate()


for _pipeline in pipelines():
    build(_pipeline)
