"""
### train_and_promote

**What it does.** Trains a challenger (the best of `model.candidates`, below) on the curated days of the
training window, logs it to MLflow (params, metrics, signature, input example, the exact partitions and
their content hash) and registers it with alias `challenger`; scores challenger and `champion` on the same out-of-time
holdout; then moves the `champion` alias to the challenger if the policy blesses it, or skips the
promotion with the reason. With `evaluation.shadow_days` N > 0 and a champion in place, a blessed
challenger is not promoted at once: `promote_challenger` points the alias `shadow` at it (same
compare-and-set) and `review_shadow` promotes or retires it after N labelled days of shadow predictions.
With `promotion.approval` `always` (or `on_drift`, in runs drift_monitor triggered), `approve_promotion`
waits for a human before `promote_challenger` (Required Actions in the UI, or REST `hitlDetails`; the
notifiers send "approval needed" with the link); it is skipped with the reason for a rejected challenger, a
dry run or `never`. Reject (or no answer within `promotion.approval_timeout`) skips the promotion with
"rejected by <user>: <comment>"; who answered, when and the comment are version tags.

**Candidates.** `plan_candidates` expands `model.candidates` (a grid gives one candidate per combination) and
`train_candidate` runs once per candidate in parallel (dynamic task mapping; each map index is labelled with
the candidate's name). With several, each fits on the older curated training days and is scored on the newest
`training.validation_days` of them (at most half; never the holdout, which judges the winner against the
champion), as an MLflow child run of the DAG run's parent run; `train_challenger` refits the best by the primary
metric (ties: the first listed) on the whole training part, logs it into the parent run with
`candidates/leaderboard.json` and tags `candidates.winner`/`count`/`failed`, and registers only it. A candidate
whose params its estimator refuses fails its own task at once (not retried), with its error in the parent run
(`candidates/<name>/error.txt`); the run goes on with the others. With no `model.candidates` (or one),
`train_candidate` fits nothing and `train_challenger` trains that one model on the whole training part as before.

**When.** Weekly, Monday 03:00 UTC (window ends at the run's data interval end). Also triggered from
the UI, by other systems over the REST API (`logical_date: null` trains up to the trigger time), and
by the drift monitor.

**Params.** `window_days` (2-365, default from config), `holdout_days` (1-90, default from config),
`window_end` (`YYYY-MM-DD` within 2000-01-01..2100-12-31, optional), `reason` (free text, 1-500
characters, recorded verbatim in the log, the MLflow tag `trigger_reason` and the decision JSON),
`dry_run` (train and evaluate, never promote). A conf outside these bounds is refused when the run is
triggered (REST: 400).

**When it fails.** `check_training_window`: too few curated rows or one class only: ingest/backfill
more days or widen `window_days`. `plan_candidates`: several candidates but fewer than 2 curated
training days: widen `window_days`. `train_candidate` failed at once: that candidate's params are wrong (the
error is in its log and the parent run); fix its `model.candidates` entry. `train_challenger` failed with "no
candidate has a validation ...": every candidate failed (each listed with its error).
`plan_candidates`/`train_candidate`/`train_challenger`/`evaluate_challenger`: MLflow unreachable:
retried with backoff. `promote_challenger` skipped: the challenger was rejected (reason in the log
and in version tags) or it was a dry run. `promote_challenger` failed with "the champion of <model> moved
from A to B": another promotion or a rollback won the race; clear `evaluate_challenger` to re-evaluate
against the new champion. `promote_challenger` skipped with "rejected by <user>: <comment>": the
reviewer rejected it on Required Actions (or nobody answered within `promotion.approval_timeout`);
train again or trigger with a new `reason` to ask again.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag

from include.mlops.core.pipelines import Pipeline, pipelines
from mlops_airflow.assets import champion_moves
from mlops_airflow.defaults import task_defaults
from mlops_airflow.names import TRAINING_DAG_ID
from mlops_airflow.operators.approval import ApprovePromotionOperator
from mlops_airflow.operators.candidates import (
    PlanCandidatesOperator,
    TrainCandidateOperator,
    TrainChallengerOperator,
)
from mlops_airflow.operators.training import (
    CheckTrainingWindowOperator,
    EvaluateChallengerOperator,
    PromoteChallengerOperator,
)
from mlops_airflow.params import RunParam, date_param, id_param, json_object_param, text_param


def build(p: Pipeline) -> None:
    """This DAG for pipeline ``p`` (see ``include.mlops.core.pipelines``)."""

    @dag(
        dag_id=p.dag_id(TRAINING_DAG_ID),
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
            "window_end": date_param(
                "Exclusive end day of the window (YYYY-MM-DD, 2000-01-01..2100-12-31). "
                "Empty: the run's data interval end."
            ),
            "reason": text_param(
                "scheduled",
                min_length=1,
                max_length=500,
                description="Why this run was started; recorded verbatim in the log, the MLflow run and the decision.",
            ),
            "dry_run": Param(False, type="boolean", description="Train and evaluate, but never move the champion."),
            "drift_summary": json_object_param(
                "Set by drift_monitor: the drift summary that triggered this run (recorded in the MLflow run and the "
                "decision, not used)."
            ),
            "monitoring_run_id": id_param(
                max_length=64,
                description="Set by drift_monitor: the MLflow monitoring run id; tagged on the training run.",
            ),
        },
        tags=["mlops", "training", "mlflow", *p.tags],
        doc_md=p.doc(__doc__),
    )
    def train_and_promote():
        # Upstream results as XComArgs and params as RunParams: native values, no Jinja (see mlops_airflow.params).
        check = CheckTrainingWindowOperator(
            task_id="check_training_window",
            window_end=RunParam("window_end"),
            window_days=RunParam("window_days"),
            holdout_days=RunParam("holdout_days"),
            execution_timeout=dt.timedelta(minutes=15),
        )
        plan = PlanCandidatesOperator(
            task_id="plan_candidates",
            window_check=check.output,
            execution_timeout=dt.timedelta(minutes=10),
        )
        # one mapped task per candidate, labelled with its name in the UI; a failed one leaves no result
        candidates = TrainCandidateOperator.partial(
            task_id="train_candidate",
            window_check=check.output,
            map_index_template="{{ task.candidate['name'] }}",
            execution_timeout=dt.timedelta(hours=1),
        ).expand(candidate=plan.output)
        train = TrainChallengerOperator(
            task_id="train_challenger",
            window_check=check.output,
            candidates=plan.output,
            results=candidates.output,
            trigger_rule="all_done_min_one_success",  # a failed candidate does not stop the others (see doc_md)
            reason=RunParam("reason"),
            monitoring_run_id=RunParam("monitoring_run_id"),
            drift_summary=RunParam("drift_summary"),
            multiple_outputs=True,  # train.output["version"] below
            execution_timeout=dt.timedelta(hours=1),
        )
        evaluate = EvaluateChallengerOperator(
            task_id="evaluate_challenger",
            challenger_version=train.output["version"],
            window_check=check.output,
            reason=RunParam("reason"),
            drift_summary=RunParam("drift_summary"),
        )
        approve = ApprovePromotionOperator(
            task_id="approve_promotion",
            evaluation=evaluate.output,
            window_check=check.output,
            reason=RunParam("reason"),
            drift_summary=RunParam("drift_summary"),
            monitoring_run_id=RunParam("monitoring_run_id"),
            dry_run=RunParam("dry_run"),
            execution_timeout=dt.timedelta(minutes=5),  # building the request; the wait is response_timeout (config)
            response_timeout=dt.timedelta(days=30),  # the longest promotion.approval_timeout; the config's applies
        )
        promote = PromoteChallengerOperator(
            task_id="promote_challenger",
            evaluation=evaluate.output,
            dry_run=RunParam("dry_run"),
            approval=approve.output,  # None when no human was needed (approve_promotion skipped)
            trigger_rule="none_failed",  # runs after a skipped approval; a Reject is its own skip, with the reason
            pool=p.pool,
            outlets=[champion_moves(p)],  # a champion-asset event only when the champion moved
            execution_timeout=dt.timedelta(minutes=5),
        )
        check >> plan >> candidates >> train >> evaluate >> approve >> promote  # also implied by the XComArgs

    train_and_promote()


for _pipeline in pipelines():
    build(_pipeline)
