"""Fault injection, data side: every simulator fault, an empty day, a corrupt source file and a curated
partition corrupted in the lake after publishing. Each batch is quarantined or refused, nothing downstream
trains on it, the champion is untouched and nothing in the lake or the registry is lost.

What tests/unit already covers (each fault fails the suite, quarantined days are skipped by assemble_window)
and tests/e2e/test_pipeline.py (one missing_column day through the DAG) is not repeated here; these run
every fault through the DAGs and follow it downstream.
"""

from __future__ import annotations

import datetime as dt
import json
import types

import pytest
import yaml

from include.mlops.core.config import FAULTS, load_config
from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from tests.e2e.conftest import (
    ROOT,
    assert_registry_consistent,
    day,
    ingest,
    lake_snapshot,
    registry_state,
    run_dag,
    task_instances,
    task_states,
    train,
    xcom,
)

ROWS = 1000
SEED = 42
START = day("2026-06-01")
CLEAN_BEFORE = [START + dt.timedelta(days=i) for i in range(8)]  # 06-01..06-08: the champion's data
FAULT_DAYS = {f: START + dt.timedelta(days=8 + i) for i, f in enumerate(FAULTS)}  # one day per fault
CLEAN_AFTER = [START + dt.timedelta(days=8 + len(FAULTS) + i) for i in range(3)]  # holdout after the faults
WINDOW_END = CLEAN_AFTER[-1] + dt.timedelta(days=1)
# what each fault must be reported as: a column or an expectation named in validation.json
SIGNATURE = {
    "nulls": "amount",
    "out_of_range": "amount",
    "unknown_category": "merchant_category",
    "missing_column": "device_risk_score",
    "wrong_dtype": "amount",
    "duplicate_rows": "transaction_id",
    "empty_day": "expect_table_row_count_to_be_between",
}


def _simulated(d: dt.date, fault: str | None = None):
    from include.mlops.data.simulator import generate_day, inject_fault

    frame = generate_day(d, seed=SEED, rows_per_day=ROWS)
    return inject_fault(frame, fault, seed=SEED) if fault else frame


def _publish_clean(lake: Lake, dataset: str, days) -> None:
    """Clean history as ingest_and_validate would have published it (the DAG path is what the faults exercise)."""
    for d in days:
        lake.write_partition("curated", dataset, d, _simulated(d))


def _seed_champion(cfg, lake: Lake, client) -> str:
    from include.mlops.model.training import train_and_register
    from include.mlops.model.window import Window, assemble_window
    from include.mlops.promotion.aliases import promote
    from include.mlops.promotion.evaluation import evaluate

    window = Window.ending(CLEAN_BEFORE[-1] + dt.timedelta(days=1), len(CLEAN_BEFORE), 3)
    data = assemble_window(lake, cfg, window)
    version = train_and_register(client, cfg, data, window, "seed/champion", {}).version
    evaluation = evaluate(client, cfg, version, data.holdout)
    promote(
        client,
        cfg.model.name,
        version,
        None,
        promote_decision=evaluation.decision.promote,
        reason=evaluation.decision.reason,
        actor="seed",
    )
    return version


def _corrupt(lake: Lake, dataset: str, d: dt.date, how: str) -> None:
    key = f"curated/{dataset}/ds={d.isoformat()}/part-0.parquet"
    data = lake.storage.read_bytes(key)
    if how == "truncated":
        lake.storage.write_bytes(key, data[: len(data) // 2])
    else:  # damaged data pages: the footer still parses, the column data does not
        lake.storage.write_bytes(key, data[:20] + bytes(200) + data[220:])


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, dags, mlflow_uri):
    """A lake with clean history, a champion trained on it, then one day per simulator fault ingested by the DAG."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("faults-data")
    doc = {
        "dataset": {"suite": str(ROOT / "include/config/expectations/transactions.json")},
        "lake": {"root": str(root / "lake")},
        "model": {"name": "m_faults_data"},
        "simulator": {"rows_per_day": ROWS, "seed": SEED, "faults": {d.isoformat(): f for f, d in FAULT_DAYS.items()}},
        "training": {"window_days": len(CLEAN_BEFORE), "holdout_days": 3, "min_rows": 200},
        "evaluation": {"floor": 0.02},
    }
    path = root / "mlops.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_CONFIG", str(path))
        cfg = load_config(path)
        lake = Lake.at(cfg.lake_root)
        client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
        _publish_clean(lake, cfg.dataset.name, CLEAN_BEFORE + CLEAN_AFTER)
        champion = _seed_champion(cfg, lake, client)
        before = {"lake": lake_snapshot(lake, cfg.dataset.name), "registry": registry_state(client, cfg.model.name)}
        runs = {}
        for fault, d in FAULT_DAYS.items():
            runs[fault] = _ingest_run(dags, d)
        # read right after the faulty runs: the module's other tests train and re-ingest on this lake and model,
        # in any order (pytest-randomly), so a test comparing with `before` must not read the state they leave
        after = {"lake": lake_snapshot(lake, cfg.dataset.name), "registry": registry_state(client, cfg.model.name)}
        yield types.SimpleNamespace(
            cfg=cfg,
            lake=lake,
            client=client,
            champion=champion,
            before=before,
            after=after,
            runs=runs,
            tracking_uri=mlflow_uri,
        )


@pytest.mark.parametrize("fault", FAULTS)
def test_each_simulator_fault_is_quarantined_with_its_evidence_and_not_retried(faulty, fault):
    cfg, lake, d = faulty.cfg, faulty.lake, FAULT_DAYS[fault].isoformat()
    dataset = cfg.dataset.name
    run = faulty.runs[fault]
    tis = task_instances(run)
    assert run.state == "failed"
    assert tis["land_batch"].state == "success"
    assert (tis["validate_batch"].state, tis["validate_batch"].try_number) == ("failed", 1)  # failed for good
    assert tis["publish_batch"].state == "upstream_failed"

    # the whole batch is kept in quarantine, as landed, and only there
    assert d in lake.list_partitions("quarantine", dataset) and d not in lake.list_partitions("curated", dataset)
    quarantined = lake.read_partition("quarantine", dataset, d)
    assert quarantined.equals(lake.read_partition("landing", dataset, d))
    assert len(quarantined) == len(_simulated(FAULT_DAYS[fault], fault))

    # the evidence: validation.json beside the batch and in reports/, naming what broke; the same in XCom
    report = lake.read_json(f"quarantine/{dataset}/ds={d}/validation.json")
    assert report == lake.read_json(lake.report_key("validation", dataset, d, "validation.json"))
    assert report["ds"] == d and report["success"] is False and report["rows"] == len(quarantined)
    named = {f["column"] for f in report["failed"]} | {f["expectation"] for f in report["failed"]}
    assert SIGNATURE[fault] in named, report["failed"]
    assert len(xcom(run, "validate_batch", key="validation")["failed"]) == len(report["failed"])


def test_faults_emit_no_asset_event_and_leave_the_lake_and_the_champion_as_they_were(faulty):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    cfg = faulty.cfg
    with create_session() as session:
        # only this fixture's runs: the session's metadata DB holds other tests' events for the same days
        run_ids = [run.run_id for run in faulty.runs.values()]
        extras = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "mlops_curated_batch", AssetEvent.source_run_id.in_(run_ids))
        ).all()
    published = {(e.get("dataset"), e.get("ds")) for e in extras if e}
    assert not {(cfg.dataset.name, d.isoformat()) for d in FAULT_DAYS.values()} & published
    assert extras == []  # a quarantined run publishes nothing

    now = faulty.after["lake"]
    assert now["curated"] == faulty.before["lake"]["curated"]  # every published day intact, nothing added
    assert set(now["quarantine"]) == {d.isoformat() for d in FAULT_DAYS.values()}
    assert faulty.after["registry"] == faulty.before["registry"]
    assert faulty.after["registry"]["aliases"]["champion"] == faulty.champion


def test_nothing_downstream_trains_on_a_faulty_day(faulty, dags, tmp_path):
    cfg, client = faulty.cfg, faulty.client
    faulty_days = {d.isoformat() for d in FAULT_DAYS.values()}
    versions_before = set(registry_state(client, cfg.model.name)["versions"])

    # a window holding nothing but faulty days is refused: no version, the champion untouched
    only_faults = train(dags, max(FAULT_DAYS.values()) + dt.timedelta(days=1), window_days=len(FAULTS), holdout_days=2)
    tis = task_instances(only_faults)
    assert (tis["check_training_window"].state, tis["check_training_window"].try_number) == ("failed", 1)
    assert tis["train_challenger"].state == "upstream_failed"
    assert set(registry_state(client, cfg.model.name)["versions"]) == versions_before
    assert champion_version(client, cfg.model.name) == faulty.champion

    # a window around them trains on the clean days only, and says which days it left out
    days = (WINDOW_END - CLEAN_BEFORE[0]).days
    run = train(dags, WINDOW_END, window_days=days, holdout_days=3)
    assert run.state == "success", task_states(run)
    checked = xcom(run, "check_training_window")
    assert faulty_days <= set(checked["missing_days"]) and not faulty_days & set(checked["partitions"])
    trained = xcom(run, "train_challenger")
    assert set(registry_state(client, cfg.model.name)["versions"]) == versions_before | {trained["version"]}
    with open(client.download_artifacts(trained["run_id"], "lineage/training_data.json", str(tmp_path))) as f:
        lineage = json.load(f)
    assert not faulty_days & {p["ds"] for p in lineage["partitions"]}
    assert len(lineage["partitions"]) == days - len(FAULTS)
    # whoever is champion now was trained on clean days only
    state = assert_registry_consistent(client, cfg.model.name)
    champion = state["aliases"]["champion"]
    assert champion in (faulty.champion, trained["version"])
    champion_run = client.get_run(client.get_model_version(cfg.model.name, champion).run_id)
    assert not faulty_days & set(champion_run.data.tags["data.partitions"].split(","))


@pytest.mark.parametrize("how", ["truncated", "damaged_pages"])
def test_a_curated_partition_corrupted_after_publishing_is_refused_until_re_ingested(faulty, dags, how):
    cfg, lake, client = faulty.cfg, faulty.lake, faulty.client
    victim = CLEAN_AFTER[0]
    before = lake_snapshot(lake, cfg.dataset.name)
    registry_before = registry_state(client, cfg.model.name)
    _corrupt(lake, cfg.dataset.name, victim, how)

    run = train(dags, WINDOW_END, window_days=(WINDOW_END - CLEAN_BEFORE[0]).days, holdout_days=3)
    tis = task_instances(run)
    assert (tis["check_training_window"].state, tis["check_training_window"].try_number) == ("failed", 1)
    assert tis["train_challenger"].state == "upstream_failed"
    assert registry_state(client, cfg.model.name) == registry_before
    assert victim.isoformat() in lake.list_partitions("curated", cfg.dataset.name)  # the evidence is kept

    # what the message says to do: re-ingest the day; the partition is rebuilt byte for byte from the source
    assert ingest(dags, victim) == {victim.isoformat(): "success"}
    assert lake_snapshot(lake, cfg.dataset.name)["curated"] == before["curated"]


def test_a_partition_changed_between_check_and_training_is_refused_by_its_pinned_hash(faulty, dags, monkeypatch):
    from mlops_airflow.operators.training import CheckTrainingWindowOperator

    cfg, lake, client = faulty.cfg, faulty.lake, faulty.client
    victim = CLEAN_BEFORE[2]
    before = lake_snapshot(lake, cfg.dataset.name)
    registry_before = registry_state(client, cfg.model.name)
    check = CheckTrainingWindowOperator.execute

    def check_then_corrupt(self, context):
        result = check(self, context)
        _corrupt(lake, cfg.dataset.name, victim, "damaged_pages")  # after the check, before training reads it
        return result

    monkeypatch.setattr(CheckTrainingWindowOperator, "execute", check_then_corrupt)
    run = train(dags, WINDOW_END, window_days=(WINDOW_END - CLEAN_BEFORE[0]).days, holdout_days=3)
    monkeypatch.undo()
    tis = task_instances(run)
    assert tis["check_training_window"].state == "success"
    assert (tis["train_challenger"].state, tis["train_challenger"].try_number) == ("failed", 1)
    assert {tis["evaluate_challenger"].state, tis["promote_challenger"].state} == {"upstream_failed"}
    assert registry_state(client, cfg.model.name) == registry_before
    assert ingest(dags, victim) == {victim.isoformat(): "success"}
    assert lake_snapshot(lake, cfg.dataset.name)["curated"] == before["curated"]


def test_a_corrupt_source_file_lands_nothing_and_an_empty_source_day_is_quarantined(make_config, dags, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    days = [day("2026-07-01"), day("2026-07-02")]
    import pandas as pd

    pd.concat([_simulated(d) for d in days]).to_parquet(source / "good.parquet", index=False)
    cfg = make_config(dataset={"uri": str(source), "format": "parquet"})
    lake = Lake.at(cfg.lake_root)
    assert ingest(dags, days[0]) == {"2026-07-01": "success"}  # before the bad file arrived: published
    before = lake_snapshot(lake, cfg.dataset.name)

    (source / "late.parquet").write_bytes(b"PAR1 half-uploaded")  # a corrupt file arrives in the source
    run = _ingest_run(dags, days[1])
    tis = task_instances(run)
    assert (tis["land_batch"].state, tis["land_batch"].try_number) == ("failed", 1)  # not retried: it would not help
    assert {tis["validate_batch"].state, tis["publish_batch"].state} == {"upstream_failed"}
    assert run.state == "failed"
    assert lake_snapshot(lake, cfg.dataset.name) == before  # nothing landed, nothing lost

    # what the message says: remove (or replace) the file and clear the task
    (source / "late.parquet").unlink()
    assert ingest(dags, days[1]) == {"2026-07-02": "success"}
    # a day the source has no rows for is an empty batch: quarantined like the simulator's empty_day
    assert ingest(dags, day("2026-07-03")) == {"2026-07-03": "failed"}
    assert lake.list_partitions("quarantine", cfg.dataset.name) == ["2026-07-03"]
    assert lake.read_json(f"quarantine/{cfg.dataset.name}/ds=2026-07-03/validation.json")["rows"] == 0
    assert lake.list_partitions("curated", cfg.dataset.name) == ["2026-07-01", "2026-07-02"]


def _ingest_run(dags, d: dt.date):
    return run_dag(
        dags,
        "ingest_and_validate",
        logical_date=dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC),
    )
