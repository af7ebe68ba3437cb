"""The pluggable failure notifier: always a log line; Slack, email or a function when configured."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from include.mlops.core.exceptions import ConfigError
from mlops_airflow.notify import MlopsFailureNotifier, failure_message

CALLS: list[tuple[dict, str]] = []


def record(context, message):  # target of a `callable` notifier in these tests
    CALLS.append((context, message))


def _context():
    ti = SimpleNamespace(task_id="train_model", dag_id="train_and_promote", try_number=3, log_url="http://af/log")
    return {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="train_and_promote"),
        "run_id": "manual__x",
        "exception": RuntimeError("MLflow at http://mlflow:5000 refused the connection\ntraceback..."),
    }


def test_the_message_names_task_run_try_cause_and_log():
    msg = failure_message(_context())
    assert msg == (
        "train_and_promote.train_model failed (run manual__x try 3): MLflow at http://mlflow:5000 "
        "refused the connection | log: http://af/log"
    )


def test_configured_notifiers_are_called_and_a_broken_one_does_not_hide_the_failure(make_config, caplog):
    CALLS.clear()
    make_config(
        notifications={
            "on_failure": [
                {"kind": "log"},
                {"kind": "slack", "channel": "#alerts"},
                {"kind": "callable", "target": f"{__name__}:record"},
            ]
        }
    )
    with caplog.at_level(logging.INFO, logger="mlops_airflow.notify"):
        MlopsFailureNotifier().notify(_context())
    assert [m for _, m in CALLS] == [failure_message(_context())]
    text = caplog.text
    assert "FAILURE train_and_promote.train_model failed" in text
    assert "the slack notifier could not send (the slack notifier needs apache-airflow-providers-slack" in text


def test_a_broken_config_still_logs_the_failure(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("MLOPS_CONFIG", str(tmp_path / "missing.yaml"))
    with caplog.at_level(logging.INFO, logger="mlops_airflow.notify"):
        MlopsFailureNotifier().notify(_context())
    assert "FAILURE train_and_promote.train_model" in caplog.text and "could not be loaded" in caplog.text


@pytest.mark.parametrize(
    ("notifier", "error"),
    [
        ({"kind": "pagerduty"}, "use one of log, slack, smtp, callable"),
        ({"kind": "slack"}, "needs `channel`"),
        ({"kind": "smtp", "to": "ops@example.com"}, "must be a list"),
        ({"kind": "callable", "target": "no_colon"}, "package.module:function"),
        ({"kind": "log", "colour": "red"}, "unknown key"),
    ],
)
def test_bad_notifier_config_is_refused_with_the_fix(make_config, notifier, error):
    with pytest.raises(ConfigError, match=error.replace("(", r"\(").replace(")", r"\)")):
        make_config(notifications={"on_failure": [notifier]})
