"""What the drift check hands the retraining trigger: ``MonitorResult.summary`` and ``retrain_conf``."""

from __future__ import annotations

import dataclasses
import json
import math

from include.mlops.monitor.result import MonitorResult


def _result(**kw) -> MonitorResult:
    base = dict(
        ds="2026-10-03",
        model_name="m",
        champion_version="4",
        window={"start": "2026-10-01", "end": "2026-10-04"},
        drift_share=0.123456,
        drifted_columns=[f"c{i}" for i in range(25)],
        prediction_drift=True,
        performance={"drop": math.nan},
        drifted=True,
        triggered=True,
        reason="x" * 600,
        report_uri="file:///lake/r.html",
        monitoring_run_id="run1",
    )
    return MonitorResult(**(base | kw))


def test_the_conf_retrains_on_the_monitored_window_with_the_configured_days(make_config):
    drift = make_config(drift={"retrain_window_days": 21, "retrain_holdout_days": 5}).drift
    conf = _result().retrain_conf(drift)
    assert conf["window_end"] == "2026-10-04" and conf["monitoring_run_id"] == "run1"
    assert conf["window_days"] == 21 and conf["holdout_days"] == 5
    assert conf["reason"].startswith("drift_monitor 2026-10-03: xxx") and len(conf["reason"]) == 500
    assert conf["drift_summary"]["drift_share"] == 0.1235 and len(conf["drift_summary"]["drifted_columns"]) == 20


def test_without_retrain_days_the_training_dag_uses_its_own(make_config):
    drift = make_config().drift
    assert drift.retrain_window_days is None
    assert not {"window_days", "holdout_days"} & set(_result().retrain_conf(drift))


def test_the_summary_is_strict_json_and_carries_the_conf(make_config):
    drift = make_config().drift
    result = _result()
    summary = result.summary(drift)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["trigger"] is True and summary["conf"]["drift_summary"]["performance"] == {"drop": None}
    assert summary["conf"] == json.loads(json.dumps(result.retrain_conf(drift), default=str).replace("NaN", "null"))
    quiet = dataclasses.replace(result, triggered=False)
    assert quiet.summary(drift)["trigger"] is False
