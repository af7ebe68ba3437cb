"""The health metrics (include/mlops/monitor/health.py) from a lake written by the library's own functions and a real
(SQLite) MLflow registry moved by the library's own promote/rollback."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.mlops.data.ingest import publish, quarantine
from include.mlops.data.lake import Lake
from include.mlops.monitor import health
from include.mlops.monitor.drift import REPORT_KIND, MonitorResult

DAY = dt.date(2026, 3, 10)
NOW = health.day_timestamp("2026-03-11") + 3600.0  # 01:00 on the day after DAY


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"amount": [float(i) for i in range(rows)], "is_fraud": [i % 2 for i in range(rows)]})


def _publish(cfg, lake: Lake, day: dt.date, rows: int) -> None:
    lake.write_partition("landing", cfg.dataset.name, day, _frame(rows))
    publish(cfg, lake, day)


def _quarantine(cfg, lake: Lake, day: dt.date) -> None:
    quarantine(cfg, lake, day, _frame(3), {"success": False, "ds": day.isoformat(), "failed": []})


def _drift(
    cfg, lake: Lake, day: dt.date, *, drifted: bool, share: float = 0.0, columns=(), current=None, labelled=()
) -> None:
    result = MonitorResult(
        ds=day.isoformat(),
        model_name=cfg.model.name,
        champion_version="1",
        window={"start": (day - dt.timedelta(days=2)).isoformat(), "end": (day + dt.timedelta(days=1)).isoformat()},
        drift_share=share,
        dataset_drift=drifted,
        drifted=drifted,
        drifted_columns=[c for c, _, d in columns if d],
        top_columns=[
            {"column": c, "method": "Wasserstein distance (normed)", "threshold": 0.1, "score": s, "drifted": d}
            for c, s, d in columns
        ],
        prediction_drift=drifted,
        prediction_score=0.25 if drifted else 0.01,
        performance=None
        if current is None
        else {
            "metric": "average_precision",
            "current": current,
            "realized": current,
            "per_day": {d: current for d in labelled},
        },
        labelled_days=list(labelled),
    )
    lake.write_json(lake.report_key(REPORT_KIND, cfg.dataset.name, day, "summary.json"), result.as_dict())


def _values(samples: list[health.Sample]) -> dict[tuple, float]:
    return {(s.name, *sorted(s.labels)): s.value for s in samples}


def _one(samples: list[health.Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.label_dict.items()]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


@pytest.fixture
def lake_env(make_config):
    cfg = make_config()
    lake = Lake.at(cfg.lake_root)
    for offset, rows in ((3, 10), (2, 11), (1, 12), (0, 13)):
        _publish(cfg, lake, DAY - dt.timedelta(days=offset), rows)
    _quarantine(cfg, lake, DAY - dt.timedelta(days=5))
    _quarantine(cfg, lake, DAY - dt.timedelta(days=4))
    _drift(cfg, lake, DAY - dt.timedelta(days=3), drifted=True, share=0.5)
    _drift(cfg, lake, DAY - dt.timedelta(days=2), drifted=False)
    _drift(cfg, lake, DAY - dt.timedelta(days=1), drifted=True, share=0.4)
    _drift(
        cfg,
        lake,
        DAY,
        drifted=True,
        share=0.5,
        columns=[("amount", 0.31, True), ("merchant", 0.12, True), ("hour", 0.02, False)],
        current=0.42,
        labelled=["2026-03-01", "2026-03-02", "2026-03-03"],
    )
    return cfg, lake


def test_each_lake_metric_describes_its_data_day(lake_env):
    cfg, lake = lake_env
    samples = health.lake_samples(cfg, lake, NOW)
    d = {"dataset": cfg.dataset.name}
    dm = d | {"model": cfg.model.name}
    assert _one(samples, "mlops_latest_published_day_timestamp_seconds", **d) == health.day_timestamp("2026-03-10")
    assert _one(samples, "mlops_latest_published_day_age_seconds", **d) == 3600.0  # the day ended at 00:00 on 03-11
    assert _one(samples, "mlops_latest_published_day_rows", **d) == 13
    assert _one(samples, "mlops_published_days", **d) == 4
    assert _one(samples, "mlops_quarantined_days", **d) == 2
    assert _one(samples, "mlops_latest_quarantined_day_timestamp_seconds", **d) == health.day_timestamp("2026-03-06")
    assert _one(samples, "mlops_drift_latest_checked_day_timestamp_seconds", **dm) == health.day_timestamp("2026-03-10")
    assert _one(samples, "mlops_drift_share_ratio", **dm) == 0.5
    assert _one(samples, "mlops_drift_share_threshold_ratio", **dm) == cfg.drift.drift_share
    assert _one(samples, "mlops_drifted_columns", **dm) == 2
    assert _one(samples, "mlops_drift_detected", **dm) == 1
    assert _one(samples, "mlops_drift_consecutive_days", **dm) == 2  # 03-09 and 03-10; 03-08 did not drift
    assert _one(samples, "mlops_drift_column_score", column="amount") == 0.31
    assert _one(samples, "mlops_drift_column_threshold", column="hour") == 0.1
    assert _one(samples, "mlops_drift_column_detected", column="hour") == 0
    assert _one(samples, "mlops_prediction_drift_score", **dm) == 0.25
    assert _one(samples, "mlops_prediction_drift_detected", **dm) == 1
    assert _one(samples, "mlops_champion_current_metric", metric="average_precision") == 0.42
    assert _one(samples, "mlops_champion_labelled_days", **dm) == 3
    for s in samples:
        assert s.name.startswith("mlops_") and s.name in health.METRICS
        assert set(s.label_dict) <= {"dataset", "model", "column", "metric"}


def test_a_backfilled_older_day_written_last_does_not_move_latest_backwards(lake_env):
    cfg, lake = lake_env
    before = _values(health.lake_samples(cfg, lake, NOW))
    old = DAY - dt.timedelta(days=20)
    _publish(cfg, lake, old, 99)  # a backfill: written last, 20 days older
    _drift(cfg, lake, old, drifted=False)
    after = _values(health.lake_samples(cfg, lake, NOW))
    for key, value in before.items():
        if key[0] in ("mlops_published_days",):
            assert after[key] == value + 1
        else:
            assert after[key] == value, key


def test_a_gap_ends_the_drift_streak_and_a_missing_lake_is_reported_down(make_config):
    cfg = make_config()
    lake = Lake.at(cfg.lake_root)
    _drift(cfg, lake, DAY - dt.timedelta(days=2), drifted=True)
    _drift(cfg, lake, DAY, drifted=True)  # 03-09 never checked
    assert _one(health.lake_samples(cfg, lake, NOW), "mlops_drift_consecutive_days") == 1
    samples = health.collect(cfg, None, None, now=NOW)
    assert _one(samples, "mlops_health_source_up", source="lake") == 0
    assert _one(samples, "mlops_health_source_up", source="registry") == 0


def test_labelled_days_of_the_newest_summary_waiting_for_labels_and_before_the_realized_metric(make_config):
    cfg = make_config()
    lake = Lake.at(cfg.lake_root)
    _drift(cfg, lake, DAY - dt.timedelta(days=1), drifted=False, current=0.5, labelled=["2026-03-01"])
    _drift(cfg, lake, DAY, drifted=False)  # newest: scored, no labels matured yet; no realized metric
    samples = health.lake_samples(cfg, lake, NOW)
    assert _one(samples, "mlops_champion_labelled_days") == 0  # the newest summary's, not the day before's
    assert not [s for s in samples if s.name == "mlops_champion_current_metric"]

    # a summary only in labelled_days (performance without per_day) still counts its days
    result = lake.read_json(lake.report_key(REPORT_KIND, cfg.dataset.name, DAY, "summary.json"))
    result.update(
        labelled_days=["2026-03-02", "2026-03-03"], performance={"metric": "average_precision", "current": 0.3}
    )
    lake.write_json(lake.report_key(REPORT_KIND, cfg.dataset.name, DAY, "summary.json"), result)
    assert _one(health.lake_samples(cfg, lake, NOW), "mlops_champion_labelled_days") == 2

    # a summary written before the prediction log (no labelled_days at all): no sample rather than a false 0
    del result["labelled_days"]
    result["performance"] = {"metric": "average_precision", "current": 0.3}
    lake.write_json(lake.report_key(REPORT_KIND, cfg.dataset.name, DAY, "summary.json"), result)
    samples = health.lake_samples(cfg, lake, NOW)
    assert not [s for s in samples if s.name == "mlops_champion_labelled_days"]
    assert _one(samples, "mlops_champion_current_metric") == 0.3


def _version(client, name: str, **tags: str) -> str:
    from include.mlops.model.registry import ensure_registered_model

    ensure_registered_model(client, name)
    return str(client.create_model_version(name, source="/nonexistent/model", tags=tags).version)


def test_registry_metrics_from_a_real_registry(make_config, mlflow_client):
    from include.mlops.promotion.aliases import promote, rollback

    cfg = make_config()
    name = cfg.model.name
    assert _one(health.registry_samples(cfg, mlflow_client), "mlops_champion_present") == 0  # no model yet

    blessed = {"evaluation.decision": "promote", "evaluation.primary_metric": "average_precision"}
    v1 = _version(mlflow_client, name, **blessed, **{"evaluation.challenger_value": "0.500000"})
    v2 = _version(mlflow_client, name, **blessed, **{"evaluation.challenger_value": "0.610000"})
    _version(mlflow_client, name, **{"evaluation.decision": "reject", "evaluation.challenger_value": "0.3"})
    promote(mlflow_client, name, v1, None, promote_decision=True, reason="first", actor="t")
    promote(mlflow_client, name, v2, v1, promote_decision=True, reason="better", actor="t")
    rollback(mlflow_client, name, None, actor="t", reason="regression in production")

    experiment = mlflow_client.create_experiment(cfg.mlflow.experiment)
    for run_name, status in (("train ok", "FINISHED"), ("train broken", "FAILED")):
        mlflow_client.set_terminated(mlflow_client.create_run(experiment, run_name=run_name).info.run_id, status)

    samples = health.registry_samples(cfg, mlflow_client)
    labels = {"dataset": cfg.dataset.name, "model": name}
    assert _one(samples, "mlops_champion_present", **labels) == 1
    assert _one(samples, "mlops_champion_version", **labels) == int(v1)  # rolled back from v2
    assert _one(samples, "mlops_champion_evaluation_metric", metric="average_precision") == 0.5
    assert _one(samples, "mlops_champion_metric_floor", direction="maximize") == cfg.evaluation.floor
    assert _one(samples, "mlops_model_versions", **labels) == 3
    assert _one(samples, "mlops_promotions_total", **labels) == 2
    assert _one(samples, "mlops_rejections_total", **labels) == 1
    assert _one(samples, "mlops_rollbacks_total", **labels) == 1
    assert _one(samples, "mlops_champion_since_timestamp_seconds") > 0
    success = _one(samples, "mlops_training_last_success_timestamp_seconds")
    assert _one(samples, "mlops_training_last_failure_timestamp_seconds") >= success
    assert _one(samples, "mlops_training_last_duration_seconds") >= 0


def test_render_is_prometheus_text_that_the_official_parser_reads(lake_env):
    from prometheus_client.parser import text_string_to_metric_families

    cfg, lake = lake_env
    samples = health.lake_samples(cfg, lake, NOW) + [
        health.Sample("mlops_promotions_total", 3, (("dataset", "d"), ("model", "m")))
    ]
    text = health.render(samples).decode()
    assert (
        "# TYPE mlops_promotions_total counter" in text and 'mlops_promotions_total{dataset="d",model="m"} 3.0' in text
    )
    assert "# TYPE mlops_drift_share_ratio gauge" in text
    parsed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert {s.name for s in samples} <= parsed
