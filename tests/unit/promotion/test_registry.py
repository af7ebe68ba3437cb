from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.core.exceptions import ModelVersionNotFound, PromotionConflict, PromotionRejected
from include.mlops.data.ingest import ingest_day
from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from include.mlops.model.training import train_and_register
from include.mlops.model.window import Window, assemble_window
from include.mlops.promotion.aliases import promote
from include.mlops.promotion.evaluation import evaluate

END = dt.date(2026, 3, 9)


@pytest.fixture
def two_versions(make_config, mlflow_client):
    """Two registered versions of one model trained on the same curated days."""
    cfg = make_config(simulator={"rows_per_day": 1500})
    lake = Lake.at(cfg.lake_root)
    for d in range(1, 9):
        ingest_day(cfg, lake, dt.date(2026, 3, d))
    window = Window.ending(END, 8, 3)
    data = assemble_window(lake, cfg, window)
    v1 = train_and_register(mlflow_client, cfg, data, window, "k/1", {}).version
    v2 = train_and_register(mlflow_client, cfg, data, window, "k/2", {}).version
    return cfg, data, v1, v2


def test_no_champion_reads_as_none(two_versions, mlflow_client):
    cfg, *_ = two_versions
    assert champion_version(mlflow_client, cfg.model.name) is None


def test_first_promotion_then_identical_challenger_ties_and_is_rejected(two_versions, mlflow_client):
    cfg, data, v1, v2 = two_versions
    ev1 = evaluate(mlflow_client, cfg, v1, data.holdout)
    assert ev1.decision.promote and ev1.champion_version is None
    result = promote(
        mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason=ev1.decision.reason, actor="test"
    )
    assert result.previous_champion is None
    assert champion_version(mlflow_client, cfg.model.name) == v1
    # same data and seed: v2 scores exactly like v1 -> a tie never promotes
    ev2 = evaluate(mlflow_client, cfg, v2, data.holdout)
    assert not ev2.decision.promote and "ties" in ev2.decision.reason
    with pytest.raises(PromotionRejected, match="ties"):
        promote(mlflow_client, cfg.model.name, v2, v1, promote_decision=False, reason=ev2.decision.reason, actor="t")
    tags = mlflow_client.get_model_version(cfg.model.name, v2).tags
    assert tags["evaluation.decision"] == "reject" and tags["promotion.status"] == "rejected"
    assert champion_version(mlflow_client, cfg.model.name) == v1


def test_compare_and_set_refuses_when_champion_moved(two_versions, mlflow_client):
    cfg, data, v1, v2 = two_versions
    evaluate(mlflow_client, cfg, v2, data.holdout)  # blessed against "no champion"
    evaluate(mlflow_client, cfg, v1, data.holdout)
    promote(mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")
    with pytest.raises(PromotionConflict, match="moved from none to " + v1):
        promote(mlflow_client, cfg.model.name, v2, None, promote_decision=True, reason="r", actor="b")
    assert champion_version(mlflow_client, cfg.model.name) == v1


def test_promotion_records_previous_champion_and_history(two_versions, mlflow_client):
    cfg, data, v1, v2 = two_versions
    evaluate(mlflow_client, cfg, v1, data.holdout)
    promote(mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")
    mlflow_client.set_model_version_tag(cfg.model.name, v2, "evaluation.decision", "promote")
    promote(mlflow_client, cfg.model.name, v2, v1, promote_decision=True, reason="r", actor="b")
    tags = mlflow_client.get_model_version(cfg.model.name, v2).tags
    assert tags["promotion.previous_champion"] == v1 and tags["promotion.promoted_by"] == "b"
    assert mlflow_client.get_model_version(cfg.model.name, v1).tags["promotion.status"] == f"superseded by {v2}"
    assert mlflow_client.get_registered_model(cfg.model.name).tags["champion_history"] == f"{v1},{v2}"


def test_promote_without_a_blessing_tag_is_refused(two_versions, mlflow_client):
    cfg, _, v1, _ = two_versions
    with pytest.raises(PromotionRejected, match="no 'promote' evaluation tag"):
        promote(mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")


def test_promoting_twice_is_a_no_op(two_versions, mlflow_client):
    cfg, data, v1, _ = two_versions
    evaluate(mlflow_client, cfg, v1, data.holdout)
    first = promote(mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")
    again = promote(mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")
    assert again.champion_version == first.champion_version == v1
    assert again.previous_champion in (None, "none")


def _promote_both(cfg, data, v1, v2, client):
    evaluate(client, cfg, v1, data.holdout)
    promote(client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")
    client.set_model_version_tag(cfg.model.name, v2, "evaluation.decision", "promote")
    promote(client, cfg.model.name, v2, v1, promote_decision=True, reason="r", actor="b")


def test_rollback_defaults_to_the_previous_champion_and_records_who_and_why(two_versions, mlflow_client):
    from include.mlops.promotion.aliases import rollback

    cfg, data, v1, v2 = two_versions
    _promote_both(cfg, data, v1, v2, mlflow_client)
    result = rollback(mlflow_client, cfg.model.name, None, actor="alice", reason="v2 mis-scores mobile")
    assert (result.champion_version, result.previous_champion) == (v1, v2)
    assert champion_version(mlflow_client, cfg.model.name) == v1
    tags = mlflow_client.get_model_version(cfg.model.name, v1).tags
    assert tags["rollback.by"] == "alice" and tags["rollback.reason"] == "v2 mis-scores mobile"
    assert tags["rollback.from_version"] == v2 and tags["rollback.at"]
    assert mlflow_client.get_model_version(cfg.model.name, v2).tags["promotion.status"] == f"rolled back to {v1}"


def test_rollback_refuses_a_version_never_blessed(two_versions, mlflow_client):
    from include.mlops.promotion.aliases import rollback

    cfg, data, v1, v2 = two_versions
    evaluate(mlflow_client, cfg, v1, data.holdout)
    promote(mlflow_client, cfg.model.name, v1, None, promote_decision=True, reason="r", actor="a")
    with pytest.raises(PromotionRejected, match="never blessed"):
        rollback(mlflow_client, cfg.model.name, v2, actor="bob", reason="try")
    with pytest.raises(PromotionRejected, match="no recorded previous champion"):
        rollback(mlflow_client, cfg.model.name, None, actor="bob", reason="try")
    with pytest.raises(ModelVersionNotFound, match="no version 99"):  # typed: the operators fail it at once
        rollback(mlflow_client, cfg.model.name, "99", actor="bob", reason="try")
    assert champion_version(mlflow_client, cfg.model.name) == v1


def test_rollback_without_a_champion_is_refused(two_versions, mlflow_client):
    from include.mlops.promotion.aliases import rollback

    cfg, *_ = two_versions
    with pytest.raises(PromotionRejected, match="no champion"):
        rollback(mlflow_client, cfg.model.name, None, actor="bob", reason="try")


def test_a_former_champion_stays_eligible_for_rollback_after_a_later_re_evaluation_rejects_it(
    two_versions, mlflow_client
):
    from include.mlops.promotion.aliases import rollback

    cfg, data, v1, v2 = two_versions
    _promote_both(cfg, data, v1, v2, mlflow_client)
    # an old DAG run re-evaluated v1 against the new champion and re-tagged it
    mlflow_client.set_model_version_tag(cfg.model.name, v1, "evaluation.decision", "reject")
    result = rollback(mlflow_client, cfg.model.name, v1, actor="alice", reason="v2 regressed")
    assert result.champion_version == v1 == champion_version(mlflow_client, cfg.model.name)


def test_two_tries_registering_one_run_key_at_once_converge_on_one_version(two_versions, mlflow_client):
    """An orphaned try (its worker died) and the retry both register: the later one keeps the first."""
    from include.mlops.model.registry import RUN_KEY_TAG, register_version

    cfg, _, v1, _ = two_versions
    first = mlflow_client.get_model_version(cfg.model.name, v1)
    # the retry logs its own model and registers it while v1 (same run key, the orphan's) already exists
    kept = register_version(mlflow_client, cfg, first.run_id, first.source, "k/1", {})
    assert str(kept.version) == str(v1)
    versions = mlflow_client.search_model_versions(f"name = '{cfg.model.name}' and tags.{RUN_KEY_TAG} = 'k/1'")
    assert [str(v.version) for v in versions] == [str(v1)]
    assert str(mlflow_client.get_model_version_by_alias(cfg.model.name, "challenger").version) == str(v1)
