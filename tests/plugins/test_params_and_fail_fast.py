"""Free text reaches the log, the MLflow tags and the decision JSON exactly as sent; hopeless inputs fail at once
(an ``AirflowFailException``: the task runner does not retry it); the rollback target is checked in seconds."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops_airflow.hooks.mlflow_hook import MlflowHook
from mlops_airflow.operators.base import RollbackTargetRefused
from mlops_airflow.params import InvalidRunParams, as_date, as_version
from mlops_dev.task_context import task_context

DAY = dt.date(2026, 3, 4)


context = task_context


FREE_TEXT = ["1.10", "[1]", "None", "{{ 7*7 }}", "True", "ünïcødé — 🚀\nline 2"]
WINDOW_CHECK = {
    "window": {"start": "2026-02-20", "holdout_start": "2026-03-02", "end": "2026-03-05"},
    "partitions": {"2026-02-20": "h1"},
    "content_hash": "0123456789abcdef",
}


def _log_lines(capsys, prefix: str) -> list[str]:
    out = capsys.readouterr().out  # the Task SDK logs through structlog to stdout
    return [line.split("] ", 1)[1] for line in out.split("\n") if f"] {prefix}" in line]


@pytest.fixture
def no_mlflow_ui():
    with (
        mock.patch.object(MlflowHook, "tracking_uri", "sqlite:///unused.db"),
        mock.patch.object(MlflowHook, "ui_url", None),
    ):
        yield


@pytest.mark.parametrize("reason", FREE_TEXT)
def test_training_tags_and_logs_the_reason_and_records_the_drift_summary_verbatim(
    make_config, capsys, no_mlflow_ui, reason
):
    """What train_and_promote runs: plan_candidates -> train_candidate -> train_challenger (one candidate: the
    config has no ``model.candidates``), only the fitting (``train_and_register``) patched."""
    from mlops_airflow.operators.candidates import (
        PlanCandidatesOperator,
        TrainCandidateOperator,
        TrainChallengerOperator,
    )

    make_config()
    summary = {"ds": "2026-03-04", "note": reason, "drifted_columns": ["amount"], "performance": None}
    result = SimpleNamespace(
        model_name="m",
        version="3",
        run_id="r1",
        reused=False,
        candidate="hgb",
        metrics={},
        as_dict=lambda: {"version": "3"},
    )
    client = mock.MagicMock()
    with (
        mock.patch("include.mlops.model.training.assemble_window"),
        mock.patch("include.mlops.model.training.train_and_register", return_value=result) as train,
        mock.patch.object(MlflowHook, "client", return_value=client),
    ):
        plan = PlanCandidatesOperator(task_id="plan_candidates", window_check=WINDOW_CHECK).execute(context())
        results = [
            TrainCandidateOperator(task_id="train_candidate", candidate=item, window_check=WINDOW_CHECK).execute(
                context()
            )
            for item in plan
        ]
        op = TrainChallengerOperator(
            task_id="train_challenger",
            window_check=WINDOW_CHECK,
            candidates=plan,
            results=results,
            reason=reason,
            monitoring_run_id="mon_1",
            drift_summary=summary,
        )
        assert op.execute(context()) == {"version": "3"}
    train.assert_called_once()
    tags = next(a for a in train.call_args.args if isinstance(a, dict) and "trigger_reason" in a)
    assert tags["trigger_reason"] == reason and type(tags["trigger_reason"]) is str
    assert tags["triggered_by_monitoring_run"] == "mon_1"
    client.log_dict.assert_called_once_with("r1", summary, "trigger/drift_summary.json")
    out = capsys.readouterr().out
    assert f"; reason: {reason}" in out


def test_evaluation_records_the_trigger_verbatim_in_the_decision_json(make_config, no_mlflow_ui):
    from include.mlops.promotion.decision import Decision
    from include.mlops.promotion.evaluation import Evaluation
    from mlops_airflow.operators.training import EvaluateChallengerOperator

    cfg = make_config()
    reason, summary = "1.10", {"ds": "2026-03-04", "x": "{{ 7*7 }}", "v": [1.10]}
    decision = Decision(True, "better", "average_precision", "maximize", 0.6, 0.5, None, 0.0, None)
    evaluation = Evaluation("m", "3", "2", {}, {}, 100, decision, "2026-03-05T00:00:00+00:00")
    op = EvaluateChallengerOperator(
        task_id="evaluate", challenger_version="3", window_check=WINDOW_CHECK, reason=reason, drift_summary=summary
    )
    with (
        mock.patch("include.mlops.promotion.evaluation.assemble_window"),
        mock.patch("include.mlops.promotion.evaluation.evaluate", return_value=evaluation) as evaluate,
        mock.patch.object(MlflowHook, "client"),
    ):
        out = op.execute(context())
    trigger = {"run_key": "test_dag/manual__1", "reason": "1.10", "drift_summary": summary}
    assert evaluate.call_args.kwargs["trigger"] == trigger  # into decision_v<N>.json in MLflow
    from include.mlops.data.lake import Lake

    report = Lake.at(cfg.lake_root).read_json(out["report_uri"].split("/lake/", 1)[1])
    assert report["trigger"] == trigger and report["trigger"]["reason"] == "1.10"


def test_the_registry_writes_the_trigger_into_the_decision_artifact(make_config):
    import pandas as pd

    from include.mlops.promotion import evaluation as registry

    cfg = make_config()
    trigger = {"run_key": "d/r", "reason": "[1]", "drift_summary": {"a": "None"}}
    client = mock.MagicMock()
    client.get_model_version_by_alias.side_effect = _not_found()
    client.get_model_version.return_value = SimpleNamespace(run_id="run9", tags={})
    holdout = pd.DataFrame({cfg.dataset.target: [0, 1]})
    with (
        mock.patch.object(registry, "load_version"),
        mock.patch.object(registry, "score"),
        mock.patch.object(registry, "compute_metrics", return_value={cfg.evaluation.primary_metric: 0.9}),
    ):
        registry.evaluate(client, cfg, "1", holdout, trigger=trigger)
    record, path = client.log_dict.call_args.args[1:]
    assert path == "evaluation/decision_v1.json" and record["trigger"] == trigger


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01", "2026-03-01\n", "soon", 3])
def test_an_out_of_range_or_malformed_window_end_fails_at_once(make_config, value):
    from mlops_airflow.operators.training import CheckTrainingWindowOperator

    make_config()
    with pytest.raises(InvalidRunParams) as raised:
        CheckTrainingWindowOperator(task_id="check", window_end=value).execute(context())
    assert isinstance(raised.value, AirflowFailException)  # the task runner fails it without retry
    assert "2000-01-01..2100-12-31" in str(raised.value) or "YYYY-MM-DD" in str(raised.value)


def test_dates_and_versions_are_checked_in_the_operators_too():
    assert as_date("2000-01-01") == dt.date(2000, 1, 1) and as_date("2100-12-31") == dt.date(2100, 12, 31)
    assert as_date(dt.datetime(2026, 3, 4, 23, tzinfo=dt.UTC)) == dt.date(2026, 3, 4)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):  # still a ValueError for callers that catch one
        as_date("yesterday")
    assert as_version("123456789") == "123456789"
    for bad in ("9" * 40, "1234567890", "0", "007", "", "3\n", " 3", "٣", 3, None):
        with pytest.raises(InvalidRunParams):
            as_version(bad)


def test_a_string_where_a_boolean_or_count_belongs_fails_at_once(make_config):
    from mlops_airflow.operators.training import CheckTrainingWindowOperator, PromoteChallengerOperator

    make_config()
    ev = {"model_name": "m", "challenger_version": "3", "champion_version": "2", "promote": True, "reason": "r"}
    with mock.patch("include.mlops.promotion.aliases.promote") as promote:
        with pytest.raises(InvalidRunParams, match="dry_run must be a boolean"):  # "False" would be truthy
            PromoteChallengerOperator(task_id="p", evaluation=ev, dry_run="False").execute(context())
    promote.assert_not_called()
    with pytest.raises(InvalidRunParams, match="window_days must be an integer"):
        CheckTrainingWindowOperator(task_id="c", window_days="14").execute(context())


def _not_found(what: str = "Registered Model with name=m not found"):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    return MlflowException(what, error_code=RESOURCE_DOES_NOT_EXIST)


def test_an_unknown_challenger_version_fails_at_once(make_config, no_mlflow_ui):
    from include.mlops.core.exceptions import ModelVersionNotFound
    from mlops_airflow.operators.training import EvaluateChallengerOperator, ModelVersionMissing

    make_config()
    op = EvaluateChallengerOperator(task_id="evaluate", challenger_version="99", window_check=WINDOW_CHECK)
    with (
        mock.patch("include.mlops.promotion.evaluation.assemble_window"),
        mock.patch(
            "include.mlops.promotion.evaluation.evaluate",
            side_effect=ModelVersionNotFound("m has no version 99; pick an existing version"),
        ),
        mock.patch.object(MlflowHook, "client"),
    ):
        with pytest.raises(ModelVersionMissing, match="m has no version 99; pick an existing version"):
            op.execute(context())
    assert issubclass(ModelVersionMissing, AirflowFailException)


def test_a_drift_window_without_curated_days_fails_at_once(make_config, no_mlflow_ui):
    from include.mlops.core.exceptions import InsufficientData
    from mlops_airflow.operators.drift import DriftCheckOperator, DriftDataMissing

    make_config()
    op = DriftCheckOperator(task_id="check_drift", window_end="2026-03-05")
    ctx = context()
    ctx["ti"].get_dr_count.return_value = 0
    with (
        mock.patch(
            "include.mlops.monitor.drift.monitor", side_effect=InsufficientData("none of the days a..b is curated")
        ),
        mock.patch.object(MlflowHook, "client"),
    ):
        with pytest.raises(DriftDataMissing, match="none of the days"):
            op.execute(ctx)
    assert issubclass(DriftDataMissing, AirflowFailException)


class FakeRegistry:
    """Champion 5 (previous champion 4); versions 4 and 5 blessed, 6 never; anything else does not exist.
    Records each call; a local store (no server to probe)."""

    tracking_uri = "sqlite:///fake.db"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.tags = {
            "4": {"evaluation.decision": "promote"},
            "5": {"evaluation.decision": "promote", "promotion.previous_champion": "4"},
            "6": {"evaluation.decision": "reject"},
        }

    def _seen(self, what: str) -> None:
        self.calls.append(what)

    def get_model_version_by_alias(self, name, alias):
        self._seen("alias")
        return SimpleNamespace(version=5)

    def get_model_version(self, name, version):
        self._seen(f"version {version}")
        if str(version) not in self.tags:
            raise _not_found(f"Model Version (name={name}, version={version}) not found")
        return SimpleNamespace(version=version, tags=self.tags[str(version)])

    def get_registered_model(self, name):
        self._seen("model")
        return SimpleNamespace(tags={"champion_history": "4,5"})


@pytest.fixture
def fake_registry(make_config, no_mlflow_ui):
    make_config()
    fake = FakeRegistry()
    with mock.patch.object(MlflowHook, "client", return_value=fake):
        yield fake


def _check(target):
    from mlops_airflow.operators.training import CheckRollbackTargetOperator

    return CheckRollbackTargetOperator(task_id="check_rollback_target", target_version=target).execute(context())


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("99", RollbackTargetRefused, "has no version 99"),
        ("6", RollbackTargetRefused, "never blessed"),
        ("9" * 40, InvalidRunParams, "not a model version"),
        ("3\n", InvalidRunParams, "not a model version"),
        (40, InvalidRunParams, "not a model version"),
    ],
)
def test_a_bad_rollback_target_fails_at_once_before_the_pool(fake_registry, target, error, message):
    from include.mlops.model.registry import SHORT_RETRIES, check_server

    began = time.monotonic()
    with (
        mock.patch("include.mlops.promotion.aliases.check_server", wraps=check_server) as probe,
        pytest.raises(error, match=message) as raised,
    ):
        _check(target)
    assert time.monotonic() - began < 30
    assert isinstance(raised.value, AirflowFailException)  # not retried
    if error is InvalidRunParams:
        assert fake_registry.calls == [] and not probe.called  # refused before any MLflow call
    else:
        assert fake_registry.calls and probe.call_args.args[1:] == (SHORT_RETRIES,)  # the short budget, passed


def test_a_good_rollback_target_is_resolved(fake_registry):
    assert _check(None) == {"model_name": fake_registry_name(), "champion_version": "5", "target_version": "4"}
    assert _check("4")["target_version"] == "4"


def fake_registry_name() -> str:
    from include.mlops.core.config import load_config

    return load_config().model.name


def test_the_rollback_itself_refuses_a_malformed_target_and_keeps_the_reason_verbatim(fake_registry):
    from mlops_airflow.operators.training import RollbackChampionOperator

    ctx = context(dag_run=SimpleNamespace(triggering_user_name="alice"))
    with pytest.raises(InvalidRunParams):
        RollbackChampionOperator(task_id="rollback", target_version="9" * 40, reason="r").execute(ctx)
    result = SimpleNamespace(champion_version="4", previous_champion="5", as_dict=lambda: {})
    with mock.patch("include.mlops.promotion.aliases.rollback", return_value=result) as rollback:
        RollbackChampionOperator(task_id="rollback", target_version=None, reason="1.10").execute(ctx)
    assert rollback.call_args.args[2] is None
    assert rollback.call_args.kwargs == {"actor": "alice via test_dag/manual__1", "reason": "1.10"}


class _Always500(http.server.BaseHTTPRequestHandler):
    hits = 0

    def _answer(self) -> None:
        type(self).hits += 1
        body = json.dumps({"error_code": "INTERNAL_ERROR", "message": "boom"}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_the_short_budget_bounds_the_check_against_a_failing_server():
    """A server answering 500: MLflow's default client budget retries for minutes; the check's probe gives up in
    seconds, before any registry read (and re-raises: a server error is transient, so Airflow's own retries apply),
    with no MLflow environment variable written."""
    import requests
    from mlflow import MlflowClient

    from include.mlops.core.exceptions import MlopsError
    from include.mlops.promotion.aliases import check_rollback_target

    before = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_HTTP_REQUEST")}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Always500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        began = time.monotonic()
        with pytest.raises(requests.RequestException) as raised:
            check_rollback_target(client, "m", "4")
        elapsed = time.monotonic() - began
    finally:
        server.shutdown()
    assert elapsed < 10, elapsed
    assert _Always500.hits == 2  # one try and one retry
    assert not isinstance(raised.value, MlopsError)  # transient: retried by Airflow, not failed at once
    assert {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_HTTP_REQUEST")} == before
