"""Library behaviour under faults: corrupt Parquet in the lake or the source, and promotions interrupted midway."""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace

import pandas as pd
import pytest

from include.mlops.core.exceptions import CorruptPartition, InsufficientData, PromotionConflict, SourceError
from include.mlops.data.lake import Lake
from include.mlops.data.simulator import generate_day
from include.mlops.model.registry import champion_version
from include.mlops.model.window import Window, assemble_window
from include.mlops.promotion.aliases import promote
from include.mlops.promotion.evaluation import evaluate

DAY = dt.date(2026, 3, 2)


def _corrupt(lake: Lake, zone: str, ds: str, how: str) -> bytes:
    key = f"{zone}/t/ds={ds}/part-0.parquet"
    data = lake.storage.read_bytes(key)
    broken = data[: len(data) // 2] if how == "truncated" else data[:20] + bytes(200) + data[220:]
    lake.storage.write_bytes(key, broken)
    return broken


@pytest.mark.parametrize("how", ["truncated", "damaged_pages"])
def test_an_unreadable_partition_raises_corrupt_partition_naming_the_file_and_the_fix(tmp_path, how):
    lake = Lake.at(str(tmp_path))
    lake.write_partition("curated", "t", "2026-01-01", generate_day(DAY, rows_per_day=300))
    broken = _corrupt(lake, "curated", "2026-01-01", how)
    with pytest.raises(CorruptPartition) as exc:
        lake.read_partition("curated", "t", "2026-01-01")
    assert exc.value.content_hash == hashlib.sha256(broken).hexdigest()
    assert "curated/t/ds=2026-01-01/part-0.parquet" in str(exc.value) and "re-running ingest_and_validate" in str(
        exc.value
    )
    with pytest.raises(CorruptPartition):
        lake.read_partition_with_info("curated", "t", "2026-01-01")
    if how == "truncated":  # the footer is gone: even the row count cannot be read
        with pytest.raises(CorruptPartition):
            lake.partition_info("curated", "t", "2026-01-01")


def test_read_with_info_reads_once_and_matches_partition_info(tmp_path):
    lake = Lake.at(str(tmp_path))
    written = lake.write_partition("curated", "t", "2026-01-01", generate_day(DAY, rows_per_day=300))
    frame, info = lake.read_partition_with_info("curated", "t", "2026-01-01", columns=["amount"])
    assert list(frame.columns) == ["amount"] and len(frame) == written.rows
    assert info == lake.partition_info("curated", "t", "2026-01-01")
    assert info.content_hash == written.content_hash


@pytest.fixture
def curated(make_config):
    cfg = make_config(dataset={"name": "t"})
    lake = Lake.at(cfg.lake_root)
    for d in range(1, 6):
        lake.write_partition("curated", "t", dt.date(2026, 3, d), generate_day(dt.date(2026, 3, d), rows_per_day=300))
    return cfg, lake, Window.ending(dt.date(2026, 3, 6), 5, 2)


def test_training_refuses_a_corrupt_curated_partition_and_says_how_to_rebuild_it(curated):
    cfg, lake, window = curated
    _corrupt(lake, "curated", "2026-03-02", "damaged_pages")
    with pytest.raises(InsufficientData, match=r"ds=2026-03-02 cannot be trained on: .* not readable Parquet") as exc:
        assemble_window(lake, cfg, window)
    assert "re-running ingest_and_validate" in str(exc.value)


def test_a_pinned_partition_corrupted_after_the_check_reports_the_change_not_a_parse_error(curated):
    cfg, lake, window = curated
    pinned = {p["ds"]: p["content_hash"] for p in assemble_window(lake, cfg, window).partitions}
    _corrupt(lake, "curated", "2026-03-04", "truncated")
    with pytest.raises(InsufficientData, match="ds=2026-03-04 changed after it was checked"):
        assemble_window(lake, cfg, window, expected=pinned)


def test_a_corrupt_source_file_is_a_source_error_naming_it(make_config, tmp_path):
    from include.mlops.data.sources import load_day

    source = tmp_path / "src"
    source.mkdir()
    generate_day(DAY, rows_per_day=300).to_parquet(source / "a.parquet", index=False)
    (source / "b.parquet").write_bytes(b"PAR1 half-uploaded")
    cfg = make_config(dataset={"uri": str(source)})
    with pytest.raises(SourceError, match=r"b\.parquet cannot be read as parquet .*clear the land_batch task"):
        load_day(cfg, DAY)
    (source / "b.parquet").unlink()
    assert len(load_day(cfg, DAY)) == len(generate_day(DAY, rows_per_day=300))


# -- promotions interrupted midway (an in-memory registry with MLflow's semantics for the calls promote uses) --


class FakeRegistry:
    def __init__(self) -> None:
        self.versions: dict[str, dict[str, str]] = {}
        self.aliases: dict[str, str] = {}
        self.model_tags: dict[str, str] = {}
        self.writes: list[tuple] = []

    def add(self, version: str, **tags: str) -> None:
        self.versions[version] = {k.replace("__", "."): v for k, v in tags.items()}

    def get_model_version_by_alias(self, name, alias):
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

        if alias not in self.aliases:  # what a missing model answers (the registry reads the code, not the text)
            raise MlflowException(f"Registered model alias {alias} not found.", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(version=self.aliases[alias])

    def get_model_version(self, name, version):
        return SimpleNamespace(version=version, tags=dict(self.versions[str(version)]), run_id=None)

    def set_model_version_tag(self, name, version, key, value):
        self.writes.append(("tag", str(version), key, value))
        self.versions[str(version)][key] = value

    def set_registered_model_alias(self, name, alias, version):
        self.writes.append(("alias", alias, str(version)))
        self.aliases[alias] = str(version)

    def get_registered_model(self, name):
        return SimpleNamespace(tags=dict(self.model_tags))

    def set_registered_model_tag(self, name, key, value):
        self.writes.append(("model_tag", key, value))
        self.model_tags[key] = value


class Crash(Exception):
    pass


def _champion_1_and_blessed_2() -> FakeRegistry:
    reg = FakeRegistry()
    reg.add("1", evaluation__decision="promote", promotion__status="champion")
    reg.add("2", evaluation__decision="promote")
    reg.aliases["champion"] = "1"
    reg.model_tags["champion_history"] = "1"
    return reg


def test_a_crash_before_the_alias_moves_leaves_the_challenger_not_marked_champion():
    reg = _champion_1_and_blessed_2()

    def crash(*args):
        raise Crash

    reg.set_registered_model_alias = crash
    with pytest.raises(Crash):
        promote(reg, "m", "2", "1", promote_decision=True, reason="r", actor="a")
    assert champion_version(reg, "m") == "1"
    assert "promotion.status" not in reg.versions["2"]  # status follows the alias, never precedes it


def test_a_retry_after_a_crash_after_the_alias_moved_finishes_the_bookkeeping():
    reg = _champion_1_and_blessed_2()
    move = reg.set_registered_model_alias

    def move_then_crash(name, alias, version):
        move(name, alias, version)
        raise Crash

    reg.set_registered_model_alias = move_then_crash
    with pytest.raises(Crash):
        promote(reg, "m", "2", "1", promote_decision=True, reason="r", actor="a")
    assert champion_version(reg, "m") == "2" and reg.model_tags["champion_history"] == "1"  # half done

    reg.set_registered_model_alias = move
    before = len([w for w in reg.writes if w[0] == "alias"])
    result = promote(reg, "m", "2", "1", promote_decision=True, reason="r", actor="a")
    assert (result.champion_version, result.previous_champion) == ("2", "1")
    assert len([w for w in reg.writes if w[0] == "alias"]) == before  # nothing moved again
    assert reg.versions["2"]["promotion.status"] == "champion"
    assert reg.versions["1"]["promotion.status"] == "superseded by 2"
    assert reg.model_tags["champion_history"] == "1,2"
    writes = len(reg.writes)
    promote(reg, "m", "2", "1", promote_decision=True, reason="r", actor="a")  # a third time: nothing at all
    assert len(reg.writes) == writes


def test_promoting_the_current_champion_never_tags_it_rejected():
    reg = _champion_1_and_blessed_2()
    result = promote(reg, "m", "1", "1", promote_decision=False, reason="ties itself", actor="a")
    assert result.champion_version == "1" and reg.writes == []


def test_the_loser_of_a_race_is_told_who_won_and_what_to_do():
    reg = _champion_1_and_blessed_2()
    reg.add("3", evaluation__decision="promote")
    promote(reg, "m", "2", "1", promote_decision=True, reason="r", actor="a")
    with pytest.raises(PromotionConflict, match="moved from 1 to 2 .* version 3 was not promoted; clear the evaluate"):
        promote(reg, "m", "3", "1", promote_decision=True, reason="r", actor="b")
    assert champion_version(reg, "m") == "2" and "promotion.status" not in reg.versions["3"]


def test_re_evaluating_the_current_champion_replays_its_blessing_and_records_nothing(make_config, monkeypatch):
    import numpy as np

    import include.mlops.promotion.evaluation as registry

    cfg = make_config()
    reg = _champion_1_and_blessed_2()
    reg.aliases["champion"] = "2"
    reg.versions["2"].update(
        {
            "evaluation.champion_version": "1",
            "evaluation.challenger_value": "0.250000",
            "evaluation.champion_value": "0.100000",
            "evaluation.reason": "beats 1",
            "evaluation.primary_metric": "average_precision",
        }
    )
    holdout = pd.DataFrame({"is_fraud": [0, 1, 0, 1], "amount": [1.0, 2.0, 3.0, 4.0]})
    model = SimpleNamespace(predict_proba=lambda x: np.column_stack([1 - x["amount"] / 5, x["amount"] / 5]))
    monkeypatch.setattr(registry, "load_version", lambda client, name, version: model)
    evaluation = evaluate(reg, cfg, "2", holdout)
    assert evaluation.already_champion and evaluation.decision.promote
    assert evaluation.champion_version == "1" and evaluation.decision.challenger_value == 0.25
    assert "already the champion" in evaluation.decision.reason
    assert reg.writes == []  # the evidence it was promoted on is kept as it was
    assert promote(reg, cfg.model.name, "2", "1", promote_decision=True, reason="", actor="a").champion_version == "2"


def test_a_retry_closes_the_mlflow_run_an_earlier_attempt_left_running(make_config, mlflow_client, mlflow_uri):
    from include.mlops.model.registry import RUN_KEY_TAG
    from include.mlops.model.training import train_and_register

    cfg = make_config(dataset={"name": "t"}, training={"min_rows": 200})
    lake = Lake.at(cfg.lake_root)
    for d in range(1, 5):
        lake.write_partition("curated", "t", dt.date(2026, 3, d), generate_day(dt.date(2026, 3, d), rows_per_day=400))
    window = Window.ending(dt.date(2026, 3, 5), 4, 1)
    experiment = mlflow_client.get_experiment_by_name(cfg.mlflow.experiment) or mlflow_client.get_experiment(
        mlflow_client.create_experiment(cfg.mlflow.experiment)
    )
    orphan = mlflow_client.create_run(experiment.experiment_id, tags={RUN_KEY_TAG: "dag/run-1"}).info.run_id
    result = train_and_register(mlflow_client, cfg, assemble_window(lake, cfg, window), window, "dag/run-1", {})
    assert mlflow_client.get_run(orphan).info.status == "FAILED"
    assert mlflow_client.get_run(result.run_id).info.status == "FINISHED"
