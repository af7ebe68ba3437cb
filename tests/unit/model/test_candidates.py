"""Candidates: expanding ``model.candidates``, the validation split (never the holdout), choosing the winner, and
the library's candidate training against a real MLflow store (child runs, a failing candidate, reuse on retry)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from include.mlops.core.config import MAX_CANDIDATES, Candidate, ModelConfig
from include.mlops.core.exceptions import ConfigError, InsufficientData, NoCandidateSucceeded
from include.mlops.model.candidates import (
    CandidateOutcome,
    CandidateSpec,
    expand_candidates,
    leaderboard,
    select_best,
    validation_split,
)

pytestmark = pytest.mark.unit

NAN = float("nan")


# -- expand_candidates ---------------------------------------------------------------------------------------------


def test_no_candidates_is_the_configured_estimator_with_its_params():
    model = ModelConfig(estimator="random_forest", params={"n_estimators": 50})
    assert expand_candidates(model) == [CandidateSpec("random_forest", "random_forest", {"n_estimators": 50})]


def test_a_grid_gives_one_candidate_per_combination_merged_over_the_params():
    model = ModelConfig(
        candidates=(
            Candidate("hist_gradient_boosting", name="hgb", params={"max_iter": 50, "learning_rate": 0.1}),
            Candidate("random_forest", params={"n_jobs": 1}, grid={"max_depth": (4, 8), "n_estimators": (10, 20)}),
        )
    )
    specs = expand_candidates(model)
    assert [s.name for s in specs] == [
        "hgb",
        "random_forest-max_depth-4-n_estimators-10",
        "random_forest-max_depth-4-n_estimators-20",
        "random_forest-max_depth-8-n_estimators-10",
        "random_forest-max_depth-8-n_estimators-20",
    ]
    assert specs[0].params == {"max_iter": 50, "learning_rate": 0.1}
    assert specs[4].params == {"n_jobs": 1, "max_depth": 8, "n_estimators": 20}
    assert {s.estimator for s in specs[1:]} == {"random_forest"}


def test_duplicate_names_are_refused_naming_them():
    model = ModelConfig(candidates=(Candidate("random_forest"), Candidate("random_forest", params={"max_depth": 3})))
    with pytest.raises(ValueError, match="duplicate names random_forest; give each candidate its own `name`"):
        expand_candidates(model)


def test_more_than_the_maximum_is_refused_and_grids_count_multiplied():
    grid = {"max_depth": tuple(range(1, 6)), "n_estimators": tuple(range(10, 15))}  # 25 combinations
    with pytest.raises(ValueError, match=f"more than {MAX_CANDIDATES} candidates"):
        expand_candidates(ModelConfig(candidates=(Candidate("random_forest", grid=grid),)))
    exactly = {"max_depth": tuple(range(1, 5)), "n_estimators": tuple(range(10, 15))}  # 20
    assert len(expand_candidates(ModelConfig(candidates=(Candidate("random_forest", grid=exactly),)))) == 20


def test_the_config_refuses_a_bad_candidate_list_when_it_loads(make_config):
    with pytest.raises(ConfigError, match="duplicate names"):
        make_config(model={"candidates": [{"estimator": "random_forest"}, {"estimator": "random_forest"}]})


def test_a_spec_survives_xcom_and_a_malformed_one_is_refused():
    spec = CandidateSpec("a", "ridge", {"alpha": 1.0})
    assert CandidateSpec.from_dict({**spec.as_dict(), "parent_run_id": "p", "split": None}) == spec
    for bad in (None, "a", {"name": "a", "estimator": "ridge"}, {"name": 1, "estimator": "ridge", "params": {}}):
        with pytest.raises(ValueError, match="name, estimator and params"):
            CandidateSpec.from_dict(bad)


# -- validation_split ----------------------------------------------------------------------------------------------


def _days(start: str, n: int) -> list[str]:
    first = dt.date.fromisoformat(start)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(n)]


@pytest.mark.parametrize(
    ("n_days", "validation_days", "expected"),
    [(10, 3, 3), (5, 3, 2), (4, 3, 2), (3, 3, 1), (2, 3, 1), (30, 7, 7), (10, 1, 1)],
)
def test_the_newest_training_days_validate_at_most_half_and_at_least_one(n_days, validation_days, expected):
    days = _days("2026-03-01", n_days)
    split = validation_split(list(reversed(days)), "2026-06-01", validation_days)
    assert split.validation_days == days[-expected:]
    assert split.fit_days == days[:-expected]


def test_the_split_never_touches_the_holdout():
    window = _days("2026-03-01", 14)  # a check's partitions: training days and holdout days
    holdout_start = "2026-03-11"
    split = validation_split(window, holdout_start, 3)
    assert split.validation_days == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert all(d < holdout_start for d in split.fit_days + split.validation_days)
    assert set(split.fit_days).isdisjoint(split.validation_days)
    assert sorted(split.fit_days + split.validation_days) == [d for d in window if d < holdout_start]


def test_missing_days_are_skipped_the_validation_days_are_curated_ones():
    days = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-05", "2026-03-08"]  # 04, 06, 07 quarantined
    split = validation_split(days, "2026-03-09", 2)
    assert split.validation_days == ["2026-03-05", "2026-03-08"] and split.fit_days == days[:3]


@pytest.mark.parametrize("days", [[], ["2026-03-01"], ["2026-03-01", "2026-03-09", "2026-03-10"]])
def test_fewer_than_two_training_days_are_refused_saying_what_to_do(days):
    with pytest.raises(InsufficientData, match="at least 2 curated training days before the holdout") as raised:
        validation_split(days, "2026-03-09", 3)
    assert "widen window_days" in str(raised.value) and "single candidate" in str(raised.value)


# -- select_best ---------------------------------------------------------------------------------------------------


def _o(name: str, value: float | None = None, error: str | None = None, metric: str = "average_precision"):
    validation = None if value is None and error is None else ({} if value is None else {metric: value})
    return CandidateOutcome(name, "hist_gradient_boosting", {}, validation, error)


@pytest.mark.parametrize(
    ("metric", "values", "winner"),
    [
        ("average_precision", [0.3, 0.5, 0.4], "c1"),  # maximize
        ("log_loss", [0.3, 0.5, 0.2], "c2"),  # minimize
        ("rmse", [10.0, 9.5, 9.9], "c1"),
        ("r2", [0.1, 0.1, 0.05], "c0"),  # a tie: the first listed
        ("average_precision", [0.4, 0.4, 0.4], "c0"),
        ("average_precision", [NAN, 0.01, NAN], "c1"),  # NaN never wins, even against a poor score
        ("log_loss", [NAN, 5.0, 0.1], "c2"),
    ],
)
def test_the_best_validation_score_wins_in_the_metrics_direction(metric, values, winner):
    outcomes = [_o(f"c{i}", v, metric=metric) for i, v in enumerate(values)]
    assert select_best(outcomes, metric).name == winner


def test_a_failed_candidate_never_wins_whatever_it_says():
    outcomes = [_o("bad", error="ValueError: C must be > 0"), _o("ok", 0.2)]
    assert select_best(outcomes, "average_precision").name == "ok"


def test_one_unscored_candidate_wins_as_it_is():
    only = CandidateOutcome("hist_gradient_boosting", "hist_gradient_boosting", {"max_iter": 5})
    assert select_best([only], "average_precision") is only


def test_when_none_can_win_every_candidate_and_its_error_are_named():
    outcomes = [
        _o("logreg", error="InvalidParameterError: The 'C' parameter of LogisticRegression must be > 0"),
        _o("hgb", NAN),
        _o("rf", error="TypeError: unexpected keyword argument 'depth'"),
    ]
    with pytest.raises(NoCandidateSucceeded) as raised:
        select_best(outcomes, "average_precision")
    message = str(raised.value)
    assert "3 candidates" in message
    assert "- logreg (hist_gradient_boosting): failed: InvalidParameterError: The 'C' parameter" in message
    assert "- hgb (hist_gradient_boosting): validation average_precision=nan" in message
    assert "unexpected keyword argument 'depth'" in message and "candidates/<name>/error.txt" in message


def test_the_leaderboard_lists_every_candidate_in_config_order():
    outcomes = [_o("a", 0.1), _o("b", error="boom"), _o("c", 0.3)]
    board = leaderboard(outcomes, "c", "average_precision")
    assert (board["winner"], board["count"], board["failed"]) == ("c", 3, 1)
    assert [c["name"] for c in board["candidates"]] == ["a", "b", "c"]
    assert board["candidates"][1]["error"] == "boom" and board["candidates"][2]["validation"] == {
        "average_precision": 0.3
    }


# -- training candidates against a real MLflow store ---------------------------------------------------------------

CANDIDATES = [
    {"name": "hgb", "estimator": "hist_gradient_boosting", "params": {"max_iter": 30}},
    {"name": "bad", "estimator": "logistic_regression", "params": {"C": -1}},
    {"name": "logreg", "estimator": "logistic_regression", "params": {"C": 1.0}},
]


@pytest.fixture
def world(make_config, mlflow_client):
    """Six curated days (four to train on, two held out), checked, and the parent run of a DAG run."""
    from include.mlops.data.lake import Lake
    from include.mlops.data.simulator import generate_day
    from include.mlops.model.training import open_parent_run
    from include.mlops.model.window import Window, check_window

    cfg = make_config(
        dataset={"name": "t"},
        training={"min_rows": 200, "validation_days": 3},
        model={"candidates": CANDIDATES},
    )
    lake = Lake.at(cfg.lake_root)
    for d in range(1, 7):
        day = dt.date(2026, 3, d)
        lake.write_partition("curated", "t", day, generate_day(day, rows_per_day=500))
    window = Window.ending(dt.date(2026, 3, 7), 6, 2)
    check = check_window(lake, cfg, window).as_dict()
    specs = expand_candidates(cfg.model)
    split = validation_split(list(check["partitions"]), window.holdout_start.isoformat(), 3)
    parent = open_parent_run(mlflow_client, cfg, window, "dag/run-1", {"dag_id": "dag"}, specs, split)
    return cfg, lake, check, specs, split, parent


def test_each_candidate_is_a_child_run_scored_on_the_validation_days_and_a_retry_reuses_it(world, mlflow_client):
    from include.mlops.model.training import open_parent_run, train_candidate
    from include.mlops.model.window import window_from_check

    cfg, lake, check, specs, split, parent = world
    assert split.fit_days == ["2026-03-01", "2026-03-02"] and split.validation_days == ["2026-03-03", "2026-03-04"]
    result = train_candidate(mlflow_client, cfg, lake, check, specs[0], split, parent, "dag/run-1", {})
    rows = {d: lake.partition_info("curated", "t", d).rows for d in check["partitions"]}
    assert result.rows_fit == sum(rows[d] for d in split.fit_days)
    assert result.rows_validation == sum(rows[d] for d in split.validation_days)  # the holdout days are not read
    assert 0.0 < result.validation["average_precision"] <= 1.0 and "roc_auc" in result.validation
    child = mlflow_client.get_run(result.run_id)
    assert child.info.status == "FINISHED" and child.data.tags["mlflow.parentRunId"] == parent
    assert child.data.params["estimator"] == "hist_gradient_boosting" and child.data.params["model.max_iter"] == "30"
    assert child.data.params["validation_days"] == "2026-03-03,2026-03-04"
    assert child.data.metrics["validation_average_precision"] == result.validation["average_precision"]

    again = train_candidate(mlflow_client, cfg, lake, check, specs[0], split, parent, "dag/run-1", {})
    assert again.reused and again.run_id == result.run_id
    assert math.isclose(again.validation["average_precision"], result.validation["average_precision"])
    changed = CandidateSpec("hgb", "hist_gradient_boosting", {"max_iter": 10})  # its config entry edited since
    retrained = train_candidate(mlflow_client, cfg, lake, check, changed, split, parent, "dag/run-1", {})
    assert not retrained.reused and retrained.run_id != result.run_id
    assert mlflow_client.get_run(retrained.run_id).data.params["model.max_iter"] == "10"
    # a retried plan finds the same parent run
    window = window_from_check(check)
    assert open_parent_run(mlflow_client, cfg, window, "dag/run-1", {}, specs, split) == parent


def test_a_failing_candidate_records_its_error_in_the_parent_and_fails_its_child(world, mlflow_client):
    import mlflow.artifacts

    from include.mlops.core.exceptions import CandidateFailed
    from include.mlops.model.training import train_candidate

    cfg, lake, check, specs, split, parent = world
    with pytest.raises(CandidateFailed) as raised:
        train_candidate(mlflow_client, cfg, lake, check, specs[1], split, parent, "dag/run-1", {})
    assert "candidate 'bad' failed: InvalidParameterError" in str(raised.value) and "'C' parameter" in str(raised.value)
    tags = mlflow_client.get_run(parent).data.tags
    assert tags["candidates.bad.error"].startswith("InvalidParameterError: The 'C' parameter")
    text = mlflow.artifacts.load_text(f"runs:/{parent}/candidates/bad/error.txt")
    assert "Traceback" in text and "InvalidParameterError" in text
    experiment = mlflow_client.get_run(parent).info.experiment_id
    children = mlflow_client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert [(c.data.tags["airflow_candidate"], c.info.status) for c in children] == [("bad", "FAILED")]


def test_the_best_is_refit_on_the_whole_training_part_into_the_parent_and_registered(world, mlflow_client, mlflow_uri):
    import mlflow.artifacts

    from include.mlops.core.exceptions import CandidateFailed
    from include.mlops.model.registry import CHALLENGER
    from include.mlops.model.training import train_best, train_candidate

    cfg, lake, check, specs, split, parent = world
    results = []
    for spec in specs:
        try:
            results.append(train_candidate(mlflow_client, cfg, lake, check, spec, split, parent, "dag/run-1", {}))
        except CandidateFailed:
            results.append(None)
    scored = {r.name: r.validation["average_precision"] for r in results if r is not None}
    best = max(scored, key=lambda n: scored[n])
    trained = train_best(
        mlflow_client, cfg, lake, check, specs,
        [r.as_dict() if r else None for r in results], parent, "dag/run-1", {"dag_id": "dag"},
    )  # fmt: skip
    assert trained.run_id == parent and trained.candidate == best and trained.rows_train == check["rows_train"]
    assert "holdout_average_precision" in trained.metrics and "train_average_precision" in trained.metrics
    run = mlflow_client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert (run.data.tags["candidates.winner"], run.data.tags["candidates.count"]) == (best, "3")
    assert (
        run.data.tags["candidates.failed"] == "1"
        and run.data.params["estimator"] == dict((s.name, s.estimator) for s in specs)[best]
    )
    board = mlflow.artifacts.load_dict(f"runs:/{parent}/candidates/leaderboard.json")
    assert [c["name"] for c in board["candidates"]] == ["hgb", "bad", "logreg"]
    assert board["candidates"][1]["error"].startswith("InvalidParameterError")
    version = mlflow_client.get_model_version_by_alias(cfg.model.name, CHALLENGER)
    assert version.run_id == parent and str(version.version) == trained.version
    # a retry of the task registers nothing new
    again = train_best(
        mlflow_client, cfg, lake, check, specs,
        [r.as_dict() if r else None for r in results], parent, "dag/run-1", {"dag_id": "dag"},
    )  # fmt: skip
    assert again.reused and again.version == trained.version


def test_when_every_candidate_failed_the_parent_fails_with_the_leaderboard(world, mlflow_client, mlflow_uri):
    import mlflow.artifacts

    from include.mlops.core.exceptions import CandidateFailed
    from include.mlops.model.training import train_best, train_candidate

    cfg, lake, check, specs, split, parent = world
    with pytest.raises(CandidateFailed):
        train_candidate(mlflow_client, cfg, lake, check, specs[1], split, parent, "dag/run-1", {})
    with pytest.raises(NoCandidateSucceeded) as raised:
        train_best(mlflow_client, cfg, lake, check, specs, [], parent, "dag/run-1", {})
    message = str(raised.value)
    assert "bad (logistic_regression): failed: InvalidParameterError" in message
    assert "hgb (hist_gradient_boosting): failed: its train_candidate task failed" in message
    run = mlflow_client.get_run(parent)
    assert run.info.status == "FAILED" and run.data.tags["candidates.failed"] == "3"
    assert mlflow.artifacts.load_dict(f"runs:/{parent}/candidates/leaderboard.json")["winner"] is None


# -- the operators, with MLflow and the library patched ------------------------------------------------------------

WINDOW_CHECK = {
    "window": {"start": "2026-03-01", "holdout_start": "2026-03-05", "end": "2026-03-07"},
    "partitions": {f"2026-03-0{d}": f"h{d}" for d in range(1, 7)},
    "content_hash": "0123456789abcdef",
}


def _context():
    from mlops_dev.task_context import task_context

    return task_context()


def test_the_plan_of_one_candidate_opens_no_run_and_cuts_no_validation_days(make_config):
    from unittest import mock

    from mlops_airflow.hooks.mlflow_hook import MlflowHook
    from mlops_airflow.operators.candidates import PlanCandidatesOperator

    make_config(model={"estimator": "random_forest", "params": {"n_estimators": 5}})
    with mock.patch.object(MlflowHook, "client") as client:
        plan = PlanCandidatesOperator(task_id="plan", window_check=WINDOW_CHECK).execute(_context())
    assert plan == [
        {
            "name": "random_forest",
            "estimator": "random_forest",
            "params": {"n_estimators": 5},
            "parent_run_id": None,
            "split": None,
        }
    ]
    client.assert_not_called()


def test_the_plan_of_several_candidates_names_the_parent_and_the_split_in_every_item(make_config):
    from unittest import mock

    from mlops_airflow.hooks.mlflow_hook import MlflowHook
    from mlops_airflow.operators.candidates import PlanCandidatesOperator

    make_config(model={"candidates": CANDIDATES}, training={"validation_days": 3})
    with (
        mock.patch.object(MlflowHook, "client"),
        mock.patch.object(MlflowHook, "ui_url", None),
        mock.patch("include.mlops.model.training.open_parent_run", return_value="parent1") as opened,
    ):
        plan = PlanCandidatesOperator(task_id="plan", window_check=WINDOW_CHECK).execute(_context())
    assert [p["name"] for p in plan] == ["hgb", "bad", "logreg"]
    assert {p["parent_run_id"] for p in plan} == {"parent1"}
    # four training days before the holdout (03-05): the newest two validate, never 03-05 or 03-06
    assert plan[0]["split"] == {
        "fit_days": ["2026-03-01", "2026-03-02"],
        "validation_days": ["2026-03-03", "2026-03-04"],
    }
    assert opened.call_args.args[3] == "test_dag/manual__1"  # the run key


def test_several_candidates_on_one_training_day_fail_the_plan_at_once(make_config):
    from airflow.sdk.exceptions import AirflowFailException

    from mlops_airflow.operators.base import TrainingDataRejected
    from mlops_airflow.operators.candidates import PlanCandidatesOperator

    make_config(model={"candidates": CANDIDATES})
    check = {**WINDOW_CHECK, "partitions": {"2026-03-04": "h4", "2026-03-05": "h5", "2026-03-06": "h6"}}
    with pytest.raises(TrainingDataRejected, match="at least 2 curated training days") as raised:
        PlanCandidatesOperator(task_id="plan", window_check=check).execute(_context())
    assert isinstance(raised.value, AirflowFailException)


def test_a_candidate_its_estimator_refuses_fails_its_task_without_retry(make_config):
    from unittest import mock

    from airflow.sdk.exceptions import AirflowFailException

    from include.mlops.core.exceptions import CandidateFailed
    from mlops_airflow.hooks.mlflow_hook import MlflowHook
    from mlops_airflow.operators.candidates import CandidateRejected, TrainCandidateOperator

    make_config(model={"candidates": CANDIDATES})
    item = {**CANDIDATES[1], "parent_run_id": "p", "split": {"fit_days": ["a"], "validation_days": ["b"]}}
    op = TrainCandidateOperator(task_id="train_candidate", candidate=item, window_check=WINDOW_CHECK)
    failed = CandidateFailed("bad", "InvalidParameterError: C must be > 0")
    with (
        mock.patch.object(MlflowHook, "client"),
        mock.patch("include.mlops.model.training.train_candidate", side_effect=failed),
        pytest.raises(CandidateRejected, match="candidate 'bad' failed: InvalidParameterError") as raised,
    ):
        op.execute(_context())
    assert isinstance(raised.value, AirflowFailException)
    with (
        mock.patch.object(MlflowHook, "client"),
        mock.patch("include.mlops.model.training.train_candidate", side_effect=ConnectionError("mlflow down")),
        pytest.raises(ConnectionError),  # not an AirflowFailException: Airflow retries it
    ):
        op.execute(_context())


def test_the_challenger_task_skips_missing_results_and_fails_at_once_without_a_plan(make_config):
    from unittest import mock

    from mlops_airflow.hooks.mlflow_hook import MlflowHook
    from mlops_airflow.operators.candidates import NoCandidateLeft, TrainChallengerOperator

    make_config(model={"candidates": CANDIDATES})
    plan = [{**c, "parent_run_id": "p", "split": None} for c in CANDIDATES]
    results = [{"name": "hgb", "validation": {"average_precision": 0.5}}, None]
    trained = mock.MagicMock(run_id="p", model_name="m", version="4", reused=False, candidate="hgb", metrics={})
    trained.as_dict.return_value = {"version": "4", "candidate": "hgb"}
    op = TrainChallengerOperator(
        task_id="train_challenger", window_check=WINDOW_CHECK, candidates=plan, results=results, reason="1.10"
    )
    with (
        mock.patch.object(MlflowHook, "client"),
        mock.patch.object(MlflowHook, "ui_url", None),
        mock.patch("include.mlops.model.training.train_best", return_value=trained) as best,
    ):
        assert op.execute(_context()) == {"version": "4", "candidate": "hgb"}
    args = best.call_args.args  # client, cfg, lake, check, specs, results, parent run, run key, tags
    assert [s.name for s in args[4]] == ["hgb", "bad", "logreg"] and args[5] == results[:1] and args[6] == "p"
    assert args[8]["trigger_reason"] == "1.10"
    no_plan = TrainChallengerOperator(task_id="t", window_check=WINDOW_CHECK, candidates=None, results=[])
    with pytest.raises(NoCandidateLeft, match="plan_candidates left no candidates"):
        no_plan.execute(_context())


@pytest.mark.parametrize(("candidates", "cpus", "threads"), [(1, 2, None), (3, 2, 1), (2, 2, 1), (2, 8, 4), (3, 8, 2)])
def test_candidates_side_by_side_share_the_cores(candidates, cpus, threads):
    from include.mlops.model.training import candidate_threads

    assert candidate_threads(candidates, cpus) == threads


def test_a_candidate_fits_within_its_thread_share(world, mlflow_client, monkeypatch):
    """The operator gives each mapped fit its share of the cores; the fit and its scoring run under that limit
    (what OpenMP and BLAS report inside the fit), and the library's default is no limit."""
    from unittest import mock

    from threadpoolctl import threadpool_info

    from include.mlops.model import training
    from mlops_airflow.hooks.mlflow_hook import MlflowHook
    from mlops_airflow.operators.candidates import TrainCandidateOperator

    cfg, lake, check, specs, split, parent = world
    seen: list[set[int]] = []
    real_score = training.score

    def score(*args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return real_score(*args, **kwargs)

    monkeypatch.setattr(training, "score", score)
    training.train_candidate(mlflow_client, cfg, lake, check, specs[0], split, parent, "dag/run-2", {}, threads=1)
    assert seen[-1] == {1}
    item = {**CANDIDATES[0], "parent_run_id": parent, "split": {"fit_days": ["a"], "validation_days": ["b"]}}
    op = TrainCandidateOperator(task_id="train_candidate", candidate=item, window_check=WINDOW_CHECK)
    with (
        mock.patch.object(MlflowHook, "client"),
        mock.patch("include.mlops.model.training.train_candidate") as called,
        mock.patch("os.sched_getaffinity", return_value={0, 1, 2, 3, 4, 5}),
    ):
        called.return_value = training.CandidateResult("hgb", "hist_gradient_boosting", {}, {}, "run")
        op.execute(_context())
    assert called.call_args.kwargs["threads"] == 6 // len(CANDIDATES)
