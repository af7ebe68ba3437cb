"""A segment guardrail end to end: the simulator's abrupt shift (a new fraud pattern at gaming merchants on new
devices) starts on the first holdout day. The champion knows it: trained, through the library, on gaming traffic
after the shift (another seed: none of the holdout's rows). The challenger train_and_promote trains on the days
before the shift is better on the holdout as a whole, guardrails hold, and it is worse at gaming merchants: the
segment blocks it, and the reason, the decision JSON and the version tags name the segment."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from tests.e2e.conftest import day, ingest, task_states, train, xcom

pytestmark = pytest.mark.e2e

FIRST = day("2026-03-01")
SHIFT = day("2026-03-08")  # the first holdout day: the challenger trains on 03-01..03-07, never sees the shift
WINDOW_END = day("2026-03-11")  # exclusive: holdout 03-08..03-10
DAYS = [FIRST + dt.timedelta(days=i) for i in range((WINDOW_END - FIRST).days)]
ROWS_PER_DAY = 1500
MAX_SEGMENT_REGRESSION = 0.05
MIN_IMPROVEMENT = 0.005


def register_champion_that_knows_gaming(client, cfg) -> str:
    """Fit the project's pipeline on gaming-merchant rows of 7 days after the shift (seed + 1000: other rows than
    the lake's), register it, bless it (no champion yet) and make it the champion. Returns its version."""
    import mlflow
    import pandas as pd

    from include.mlops.data.simulator import generate_day
    from include.mlops.model.registry import register_version
    from include.mlops.model.training import build_pipeline, feature_columns, model_requirements, trusted_types
    from include.mlops.promotion.aliases import promote
    from include.mlops.promotion.evaluation import evaluate

    after = pd.concat(
        [
            generate_day(
                SHIFT + dt.timedelta(days=i),
                seed=cfg.simulator.seed + 1000,
                rows_per_day=ROWS_PER_DAY,
                scenario="abrupt_drift",
                scenario_start=SHIFT,
            )
            for i in range(7)
        ],
        ignore_index=True,
    )
    gaming = after[after["merchant_category"] == "gaming"]
    numeric, categorical = feature_columns(gaming, cfg)
    pipeline = build_pipeline(cfg, numeric, categorical)
    pipeline.fit(gaming[numeric + categorical], gaming[cfg.dataset.target])
    mlflow.set_experiment(cfg.mlflow.experiment)
    with mlflow.start_run(run_name="champion that knows the gaming shift") as run:
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted_types(pipeline),
            pip_requirements=model_requirements(),
        )
    version = str(register_version(client, cfg, run.info.run_id, info.model_uri, "test/gaming-champion", {}).version)
    blessed = evaluate(client, cfg, version, after)
    assert blessed.decision.promote, blessed.decision.reason
    promote(client, cfg.model.name, version, None, promote_decision=True, reason="test champion", actor="test")
    return version


def test_a_segment_regression_blocks_a_challenger_whose_global_metric_improved(make_config, dags, mlflow_client):
    cfg = make_config(
        simulator={"rows_per_day": ROWS_PER_DAY, "scenario": "abrupt_drift", "scenario_start": SHIFT.isoformat()},
        training={"window_days": len(DAYS), "holdout_days": 3, "min_rows": 500},
        evaluation={
            "floor": 0.05,
            "min_improvement": MIN_IMPROVEMENT,
            "guardrails": [{"metric": "roc_auc", "max_regression": 0.05}],
            "segments": ["merchant_category", "channel"],
            "segment_min_rows": 200,
            "segment_min_positives": 10,
            "max_segment_regression": MAX_SEGMENT_REGRESSION,
        },
    )
    name = cfg.model.name
    assert set(ingest(dags, *DAYS).values()) == {"success"}
    champion = register_champion_that_knows_gaming(mlflow_client, cfg)

    run = train(dags, WINDOW_END)
    states = task_states(run)
    assert states["evaluate_challenger"] == "success", states
    assert states["promote_challenger"] == "skipped"
    assert champion_version(mlflow_client, name) == champion
    summary = xcom(run, "evaluate_challenger")
    challenger = summary["challenger_version"]
    assert challenger != champion and summary["champion_version"] == champion and summary["promote"] is False

    report = Lake.at(cfg.lake_root).read_json(summary["report_key"])
    decision = report["decision"]
    # globally better by more than the margin, and every guardrail holds: only the segment blocks it
    assert decision["improvement"] > MIN_IMPROVEMENT, decision
    assert decision["guardrails"] and all(g["passed"] for g in decision["guardrails"]), decision["guardrails"]
    segments = {(s["column"], s["value"]): s for s in decision["segments"]}
    gaming = segments[("merchant_category", "gaming")]
    assert gaming["judged"] is True and gaming["passed"] is False
    assert gaming["rows"] >= 200 and gaming["positives"] >= 10
    assert gaming["regression"] == pytest.approx(gaming["champion"] - gaming["challenger"])
    assert gaming["regression"] > MAX_SEGMENT_REGRESSION, gaming
    assert (
        f"segment merchant_category=gaming regressed: average_precision {gaming['champion']:.4f} -> "
        f"{gaming['challenger']:.4f} (regression {gaming['regression']:.4f} > {MAX_SEGMENT_REGRESSION})"
    ) in decision["reason"]
    assert {c for c, _ in segments} == {"merchant_category", "channel"}
    failed = {f"{s['column']}={s['value']}" for s in decision["segments"] if s["judged"] and not s["passed"]}
    for s in decision["segments"]:
        if not s["judged"]:
            assert s["passed"] is True and s["regression"] is None

    tags = mlflow_client.get_model_version(name, challenger).tags
    assert tags["evaluation.decision"] == "reject"
    assert "segment merchant_category=gaming regressed" in tags["evaluation.reason"]
    assert set(tags["evaluation.segments_failed"].split(",")) == failed
    tagged = json.loads(tags["evaluation.segments"])
    assert {(e["column"], e["value"]) for e in tagged} == {k for k, s in segments.items() if s["judged"]}
    assert {"column": "merchant_category", "value": "gaming", "passed": False}.items() <= next(
        e for e in tagged if e["value"] == "gaming"
    ).items()
    assert tags["promotion.status"] == "rejected"
