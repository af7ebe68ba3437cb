"""Shadow challengers with dag.test(): with evaluation.shadow_days 3, a blessed challenger enters the shadow (the
champion stays), score_batch scores each day with both, and review_shadow promotes it once three labelled days
confirm it; one whose shadow scores lose is retired with the reason and the champion stays. The champion asset
gets an event only when the champion moved."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.data import outcomes
from include.mlops.data.lake import Lake
from include.mlops.model.registry import SHADOW, alias_version, champion_version
from tests.e2e.conftest import asset_event_extras, day, ingest, run_dag, task_states, train, xcom

DAYS = [day("2026-05-01") + dt.timedelta(days=i) for i in range(13)]
SHADOW_DAYS = ["2026-05-10", "2026-05-11", "2026-05-12"]  # from the challenger's window end (05-10)
WEAK = {"features": ["amount", "hour", "customer_age", "channel"]}


def champion_events(model_name: str) -> list[dict]:
    """Extras of this model's champion-asset events."""
    return [e for e in asset_event_extras("mlops_champion_model") if e and e.get("model_name") == model_name]


@pytest.fixture
def shadowing(make_config, dags, mlflow_client):
    """A weak champion (four features) and a blessed full-feature challenger waiting in the shadow."""
    make_config(
        dataset=WEAK,
        model={"params": {"max_iter": 20}},
        simulator={"rows_per_day": 800},
        training={"window_days": 8, "holdout_days": 3, "min_rows": 200},
        evaluation={"floor": 0.0, "shadow_days": 3},
    )
    assert set(ingest(dags, *DAYS).values()) == {"success"}
    first = train(dags, day("2026-05-09"))
    assert task_states(first)["promote_challenger"] == "success"  # no champion yet: promoted at once
    assert xcom(first, "promote_challenger")["status"] == "champion"
    cfg = make_config(dataset={"features": None}, model={"params": {}})
    name = cfg.model.name
    champion = champion_version(mlflow_client, name)
    events_before = len(champion_events(name))
    second = train(dags, day("2026-05-10"))
    assert task_states(second)["promote_challenger"] == "success", task_states(second)
    entered = xcom(second, "promote_challenger")
    assert entered["status"] == "shadow" and entered["champion_version"] == champion
    assert entered["start_day"] == "2026-05-10"
    assert champion_version(mlflow_client, name) == champion  # not promoted at once
    assert alias_version(mlflow_client, name, SHADOW) == entered["shadow_version"]
    assert len(champion_events(name)) == events_before  # the champion did not move: no event
    scored = run_dag(dags, "score_batch", {"start": SHADOW_DAYS[0], "end": SHADOW_DAYS[-1]})
    assert xcom(scored, "score")["shadow_version"] == entered["shadow_version"]
    return cfg, Lake.at(cfg.lake_root), champion, entered["shadow_version"]


def review(dags):
    run = run_dag(dags, "review_shadow")
    return run, xcom(run, "review")


def test_a_confirmed_shadow_is_promoted_after_its_days(shadowing, dags, mlflow_client):
    cfg, lake, champion, shadow = shadowing
    name = cfg.model.name
    logged = outcomes.read_predictions(lake, cfg, SHADOW_DAYS[1])
    assert set(logged[outcomes.SHADOW_VERSION]) == {shadow} and set(logged[outcomes.MODEL_VERSION]) == {champion}
    events_before = len(champion_events(name))
    run, result = review(dags)
    assert task_states(run) == {"review": "success"}
    assert result["status"] == "promoted", result["reason"]
    assert result["labelled_days"] == SHADOW_DAYS and result["shadow_value"] > result["champion_value"]
    assert champion_version(mlflow_client, name) == shadow and alias_version(mlflow_client, name, SHADOW) is None
    tags = mlflow_client.get_model_version(name, shadow).tags
    assert tags["shadow.status"] == "promoted" and tags["promotion.previous_champion"] == champion
    assert tags["promotion.promoted_by"] == f"review_shadow/{run.run_id}"
    assert [e["version"] for e in champion_events(name)[events_before:]] == [shadow]  # one event: it moved
    assert task_states(run_dag(dags, "review_shadow")) == {"review": "skipped"}  # nothing waits any more


def test_a_shadow_that_loses_on_the_log_is_retired_and_the_champion_stays(shadowing, dags, mlflow_client):
    cfg, lake, champion, shadow = shadowing
    name = cfg.model.name
    for ds in SHADOW_DAYS:  # what the shadow "predicted": the opposite of its scores
        frame = outcomes.read_predictions(lake, cfg, ds)
        frame[outcomes.SHADOW_SCORE] = 1.0 - frame[outcomes.SHADOW_SCORE]
        lake.write_partition(outcomes.PREDICTIONS, cfg.dataset.name, ds, frame)
    run, result = review(dags)
    assert task_states(run) == {"review": "success"}
    assert result["status"] == "retired" and "is worse than champion" in result["reason"]
    assert champion_version(mlflow_client, name) == champion and alias_version(mlflow_client, name, SHADOW) is None
    tags = mlflow_client.get_model_version(name, shadow).tags
    assert tags["shadow.status"] == "retired" and tags["shadow.labelled_days"] == "3"
    assert lake.read_json(result["report_key"])["status"] == "retired"
    rescored = xcom(run_dag(dags, "score_batch", {"start": "2026-05-12"}), "score")
    assert rescored["shadow_version"] is None  # retired: no longer scored beside the champion
