"""Run params: bounded in the Params themselves (so a trigger with a bad conf is refused, REST 400), patterns
anchored against a trailing newline, and free text handed to the operators exactly as sent."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
MY_DAGS = ("train_and_promote", "rollback_champion", "drift_monitor")
FREE_TEXT_VALUES = ["1.10", "[1]", "None", "{{ 7*7 }}", "{% raw %}x", "True", "  padded  ", "ünïcødé — 🚀\nline 2\n"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


@pytest.fixture(scope="module")
def serialized(dagbag):
    """The DAGs as the API server sees them (it validates a trigger's conf against these Params)."""
    from airflow.serialization.serialized_objects import DagSerialization

    return {
        d: DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dagbag.dags[d])))) for d in MY_DAGS
    }


def _validate(params, conf: dict) -> dict:
    if hasattr(params, "deep_merge"):  # the API server's path (SerializedDAG.create_dagrun)
        return params.deep_merge(conf).validate()
    params = copy.deepcopy(params)
    params.update(conf)
    return params.validate()


REQUIRED = {"rollback_champion": {"reason": "why"}}  # a valid conf needs these


def accepted(dag, conf: dict) -> dict:
    return _validate(dag.params, {**REQUIRED.get(dag.dag_id, {}), **conf})


def refused(dag, conf: dict) -> bool:
    from airflow.exceptions import ParamValidationError as CoreError
    from airflow.sdk.exceptions import ParamValidationError

    try:
        _validate(dag.params, {**REQUIRED.get(dag.dag_id, {}), **conf})
    except (ParamValidationError, CoreError):
        return True
    return False


def _patterns(schema):
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern":
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _patterns(value)


def test_every_pattern_of_every_dag_refuses_a_trailing_newline(dagbag):
    """``re.search`` (what jsonschema uses) lets ``$`` match before a final newline; ours end in (?![\\s\\S])."""
    seen = 0
    for dag in dagbag.dags.values():
        for name in dag.params:
            for pattern in _patterns(dag.params.get_param(name).schema):
                seen += 1
                assert not pattern.endswith("$"), (dag.dag_id, name, pattern)
                assert pattern.endswith(r"(?![\s\S])"), (dag.dag_id, name, pattern)
                assert re.search(pattern, "1\n") is None or pattern.startswith("^[^"), (dag.dag_id, name)
    assert seen >= 6


CASES = [  # dag, param, a good value, bad values
    (
        "train_and_promote",
        "window_end",
        "2026-03-01",
        [
            "2026-03-01\n",
            "0001-01-01",
            "9999-12-31",
            "1999-12-31",
            "2101-01-01",
            "2026-02-30",
            "2026-3-1",
            " 2026-03-01",
        ],
    ),
    ("drift_monitor", "window_end", "2100-12-31", ["2026-03-01\n", "0001-01-01", "9999-12-31", "2101-01-01"]),
    (
        "rollback_champion",
        "target_version",
        "123456789",
        ["3\n", "9" * 40, "1234567890", "0", "007", "", "-1", "1.0", "٣", "3 "],
    ),
    ("train_and_promote", "monitoring_run_id", "abc_123-XYZ", ["abc\n", "a/b", "a" * 65]),
    ("train_and_promote", "reason", "ok", ["", "x" * 501, "a\ud800b", "\udfff"]),
    ("rollback_champion", "reason", "why", ["", "ab", "x" * 501, "lone \udc00 surrogate"]),
]


@pytest.mark.parametrize(("dag_id", "name", "good", "bad"), CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_params_are_bounded_in_the_param_itself(dagbag, serialized, dag_id, name, good, bad):
    for dag in (dagbag.dags[dag_id], serialized[dag_id]):  # the DAG file's Params and the API server's
        assert accepted(dag, {name: good})[name] == good
        for value in bad:
            assert refused(dag, {name: value}), (dag_id, name, value)
    param = dagbag.dags[dag_id].params.get_param(name)
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):  # Param.resolve alone, too
        copy.copy(param).resolve(bad[0])


def test_date_bounds_are_inclusive(dagbag):
    dag = dagbag.dags["train_and_promote"]
    for value in ("2000-01-01", "2100-12-31", "2024-02-29"):
        assert accepted(dag, {"window_end": value})["window_end"] == value
    assert refused(dag, {"window_end": "2100-02-29"})  # no such day


@pytest.mark.parametrize("value", FREE_TEXT_VALUES)
def test_free_text_is_accepted_as_sent(dagbag, serialized, value):
    for dags in (dagbag.dags, serialized):
        assert accepted(dags["train_and_promote"], {"reason": value})["reason"] == value
        assert accepted(dags["rollback_champion"], {"reason": value + "..."})["reason"] == value + "..."


def test_drift_summary_is_any_object_without_lone_surrogates(dagbag, serialized):
    summary = {"ds": "2026-03-04", "drift_share": 0.5, "cols": ["1.10", None, {"x": "{{ 7*7 }}"}], "p": {"ü": [1.5]}}
    for dags in (dagbag.dags, serialized):
        dag = dags["train_and_promote"]
        assert accepted(dag, {"drift_summary": summary})["drift_summary"] == summary
        assert refused(dag, {"drift_summary": {"cols": ["ok", "bad \ud800"]}})
        assert refused(dag, {"drift_summary": {"deep": {"deeper": [{"k": "\udfff"}]}}})
        assert refused(dag, {"drift_summary": {"key \ud800": 1}})
        assert refused(dag, {"drift_summary": "a string"})


def _rendered(task, params: dict, xcom: object = None):
    """The task's template fields rendered the way the task runner does, with ``params`` validated."""
    task = copy.deepcopy(task)
    ti = mock.MagicMock()
    ti.xcom_pull.return_value = xcom
    task.render_template_fields({"params": params, "ti": ti, "task": task})
    return task


@pytest.mark.parametrize("value", FREE_TEXT_VALUES)
def test_free_text_reaches_the_operators_exactly_as_sent(dagbag, value):
    """Native rendering would literal-evaluate "{{ params.reason }}": "1.10" became the float 1.1."""
    dag = dagbag.dags["train_and_promote"]
    summary = {"note": value, "n": [value]}
    params = accepted(dag, {"reason": value, "drift_summary": summary})
    for task_id in ("train_challenger", "evaluate_challenger"):
        task = _rendered(dag.get_task(task_id), params, xcom={"version": "3"})
        assert task.reason == value and type(task.reason) is str
        assert task.drift_summary == summary
    rollback = dagbag.dags["rollback_champion"]
    task = _rendered(rollback.get_task("rollback"), accepted(rollback, {"reason": value + "..."}))
    assert task.reason == value + "..." and task.target_version is None


def test_typed_params_and_upstream_results_render_as_native_values(dagbag):
    dag = dagbag.dags["train_and_promote"]
    params = accepted(dag, {"window_days": 14, "holdout_days": 3, "window_end": "2026-03-01", "dry_run": True})
    check = _rendered(dag.get_task("check_training_window"), params)
    assert (check.window_days, check.holdout_days, check.window_end) == (14, 3, "2026-03-01")
    result = {"window": {"start": "2026-02-15"}, "partitions": {}, "content_hash": "abc"}
    train = _rendered(dag.get_task("train_challenger"), params, xcom=result)
    assert train.window_check == result and train.monitoring_run_id is None
    promote = _rendered(dag.get_task("promote_challenger"), params, xcom={"promote": True})
    assert promote.is_dry_run is True and promote.evaluation == {"promote": True}
    default = _rendered(dag.get_task("check_training_window"), accepted(dag, {}))
    assert (default.window_days, default.window_end) == (None, None)


def test_upstream_results_are_xcomargs_not_jinja(dagbag):
    from airflow.sdk.definitions.xcom_arg import XComArg

    train = dagbag.dags["train_and_promote"]
    evaluate = train.get_task("evaluate_challenger")
    assert isinstance(evaluate.challenger_version, XComArg) and evaluate.challenger_version.key == "version"
    assert train.get_task("train_challenger").multiple_outputs is True  # pushes the "version" key
    assert isinstance(train.get_task("promote_challenger").evaluation, XComArg)
    assert isinstance(dagbag.dags["drift_monitor"].get_task("trigger_retraining").check, XComArg)
    for dag_id in MY_DAGS:
        dag = dagbag.dags[dag_id]
        assert dag.render_template_as_native_obj is True
        for task in dag.tasks:
            for field in task.template_fields:
                # a mapped task (train_candidate) keeps its fixed arguments in partial_kwargs
                value = task.partial_kwargs.get(field) if task.is_mapped else getattr(task, field)
                assert not (isinstance(value, str) and "{{" in value), (dag_id, task.task_id, field, value)


def test_rollback_checks_its_target_outside_the_promotion_pool(dagbag):
    dag = dagbag.dags["rollback_champion"]
    check, rollback = dag.get_task("check_rollback_target"), dag.get_task("rollback")
    assert check.downstream_task_ids == {"rollback"}
    assert rollback.pool == "mlops_promotion" and check.pool != "mlops_promotion"
    assert check.execution_timeout.total_seconds() <= 120
