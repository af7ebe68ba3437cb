"""
### score_batch

**What it does.** Scores curated days with the model behind the `champion` alias (resolved to one version
per run and recorded on every row) and writes the prediction log: `predictions/<dataset>/ds=<day>/`
(Parquet: the entity key `dataset.key_column`, `score`, `predicted_class` at `scoring.threshold` for
classification, `model_name`, `model_version`, the Airflow `run_id`, `scored_at`; while a shadow challenger
waits, also `shadow_score` and `shadow_version`), and a summary under `reports/scoring/`. Re-scoring a day
replaces its partition. `drift_monitor` reads this log for prediction drift and the realized metric.

**When.** Data-aware: a run starts when `ingest_and_validate` publishes a day (asset `mlops_curated_batch`;
the asset events carry the day). Re-score a range from the UI (Trigger, with `start`/`end`), the CLI
(`airflow dags trigger score_batch -c '{"start": "2026-10-01", "end": "2026-10-07"}'`) or REST (the same
conf): exactly those days are scored again and their predictions replaced.

**Params.** `start`, `end` (optional `YYYY-MM-DD`, 2000-01-01..2100-12-31, inclusive, at most 366 days; one of
them alone: that day), `model_version` (optional digits: re-score with that registered version instead of
the champion). Which days a run scores: the params range, else the days of the triggering asset events, else
the run's data interval day. A date that is not `YYYY-MM-DD` in that range, or a `model_version` that is not
digits, is refused when the run is triggered (REST: 400); an `end` before `start` or a range over 366 days
fails the run at once (not retried) with what to change.

**When it fails.** `score` skipped: there is no champion yet (train_and_promote first). Failed with "none of
the N day(s) asked for is curated" (not retried): those days were quarantined or never ingested; run
`ingest_and_validate` for them. Failed with "version N ... does not exist" (not retried): fix `model_version`.
Days of a range that are not curated are skipped with the reason in the log; the others are scored.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag

from include.mlops.core.pipelines import Pipeline, pipelines
from mlops_airflow.assets import curated_batch, predictions
from mlops_airflow.defaults import task_defaults
from mlops_airflow.names import SCORE_DAG_ID
from mlops_airflow.operators.scoring import ScoreBatchOperator
from mlops_airflow.params import RunParam, date_param, version_param


def build(p: Pipeline) -> None:
    """This DAG for pipeline ``p`` (see ``include.mlops.core.pipelines``)."""

    @dag(
        dag_id=p.dag_id(SCORE_DAG_ID),
        schedule=[curated_batch(p)],
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=2,
        dagrun_timeout=dt.timedelta(hours=2),
        render_template_as_native_obj=True,
        default_args=task_defaults(
            retries=2,
            retry_delay=dt.timedelta(minutes=1),
            max_retry_delay=dt.timedelta(minutes=15),
            execution_timeout=dt.timedelta(minutes=60),
        ),
        params={
            "start": date_param("First day to score (YYYY-MM-DD, inclusive). Empty: the published day(s)."),
            "end": date_param("Last day to score (YYYY-MM-DD, inclusive, at most 366 days after start)."),
            "model_version": version_param("Score with this registered version (digits). Empty: the champion."),
        },
        tags=["mlops", "scoring", "mlflow", *p.tags],
        doc_md=p.doc(__doc__),
    )
    def score_batch():
        ScoreBatchOperator(
            task_id="score",
            start=RunParam("start"),
            end=RunParam("end"),
            model_version=RunParam("model_version"),
            outlets=[predictions(p)],
        )

    score_batch()


for _pipeline in pipelines():
    build(_pipeline)
