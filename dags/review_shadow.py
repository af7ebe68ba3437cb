"""
### review_shadow

**What it does.** With `evaluation.shadow_days` N > 0, `train_and_promote` does not promote a blessed
challenger at once (while there is a champion): it points the alias `shadow` at it, and `score_batch` scores
every day with it too (`shadow_score`, `shadow_version` in the prediction log). This DAG judges it on what both
models predicted on the same rows, from the end of the shadow's training window, joined with the labels that
have matured: once N such days are in, the evaluation's policy (primary metric, `min_improvement`,
guardrails) decides. It wins: `champion` moves to it (the same compare-and-set as `promote_challenger`, in the
`mlops_promotion` pool) and `shadow` is removed. It loses, the champion moved meanwhile, or it is still short
of N labelled days `evaluation.shadow_max_wait_days` after its first day: it is retired with the reason. The
outcome is on the version (`shadow.status`, `shadow.reason`, `shadow.labelled_days`, `shadow.shadow_value`,
`shadow.champion_value`) and in `reports/shadow/<dataset>/ds=<day>/review_v<N>.json`.

**When.** Data-aware: after every `score_batch` run (asset `mlops_predictions`), as labels mature with each
day's ingestion. Also from the UI, CLI (`airflow dags trigger review_shadow`) or REST (no conf). With no shadow
waiting it is skipped, so it is harmless with `shadow_days: 0`.

**Params.** None: it reviews the version behind `shadow`.

**When it fails.** `review` skipped: no shadow challenger is waiting. It keeps waiting ("k of N labelled shadow
days"): labels of the newest days are not in yet (`dataset.label_delay_days`). Retired with "is score_batch
scoring every day": days from the shadow's start have no rows scored by both (score them with `score_batch`
for those days) or the label feed stopped. Retired with "the champion moved": a rollback or another promotion
replaced the champion it was compared with; train a new challenger. MLflow or the lake unreachable: retried.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import dag

from include.mlops.core.pipelines import Pipeline, pipelines
from mlops_airflow.assets import champion_moves, predictions
from mlops_airflow.defaults import task_defaults
from mlops_airflow.names import SHADOW_DAG_ID
from mlops_airflow.operators.shadow import ReviewShadowOperator


def build(p: Pipeline) -> None:
    """This DAG for pipeline ``p`` (see ``include.mlops.core.pipelines``)."""

    @dag(
        dag_id=p.dag_id(SHADOW_DAG_ID),
        schedule=[predictions(p)],
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=1),
        default_args=task_defaults(
            retries=2,
            retry_delay=dt.timedelta(minutes=1),
            max_retry_delay=dt.timedelta(minutes=10),
            execution_timeout=dt.timedelta(minutes=20),
        ),
        tags=["mlops", "registry", "shadow", *p.tags],
        doc_md=p.doc(__doc__),
    )
    def review_shadow():
        ReviewShadowOperator(task_id="review", pool=p.pool, outlets=[champion_moves(p)])

    review_shadow()


for _pipeline in pipelines():
    build(_pipeline)
