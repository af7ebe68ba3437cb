"""The folder of pipeline configs: names, DAG ids, pools, Assets, lakes and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.mlops.core.config import PIPELINE_LAKE, PROJECT_ROOT, load_config
from include.mlops.core.exceptions import ConfigError
from include.mlops.core.pipelines import (
    PIPELINES_ENV,
    Pipeline,
    config_errors,
    pipeline_of,
    pipelines,
    scan,
    split_dag_id,
)

pytestmark = pytest.mark.unit

SUITE = str(PROJECT_ROOT / "include/config/expectations/transactions.json")


def _write(folder: Path, file: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(text)
    return path


def test_without_a_folder_there_is_only_the_main_pipeline_with_plain_names(monkeypatch):
    monkeypatch.delenv(PIPELINES_ENV, raising=False)
    assert pipelines() == [Pipeline()]
    main = Pipeline()
    assert main.dag_id("train_and_promote") == "train_and_promote"
    assert main.pool == "mlops_promotion"
    assert main.asset_name("mlops_curated_batch") == "mlops_curated_batch"
    assert main.tags == [] and main.doc("doc") == "doc"


def test_names_come_from_the_name_line_else_the_file_name(tmp_path, monkeypatch):
    folder = tmp_path / "pipelines"
    _write(folder, "first.yaml", "# a comment\nname: churn   # the churn model\ndataset:\n  name: x\n")
    _write(folder, "energy_load.yaml", "dataset:\n  name: energy\n")
    _write(folder, "quoted.yml", 'name: "sales_v2"\n')
    _write(folder, "nested.yaml", "dataset:\n  name: nested_name_is_not_the_pipeline\n")
    _write(folder, "README.md", "name: not_a_pipeline\n")
    monkeypatch.setenv(PIPELINES_ENV, str(folder))
    found, broken = scan()
    assert broken == []
    assert [p.name for p in found] == [None, "energy_load", "churn", "nested", "sales_v2"]  # in file-name order
    churn = found[2]
    assert churn.dag_id("score_batch") == "churn__score_batch"
    assert churn.pool == "mlops_promotion__churn"
    assert churn.asset_name("mlops_predictions") == "mlops_predictions__churn"
    assert churn.tags == ["pipeline:churn"]
    assert "first.yaml" in churn.doc("### score_batch")


def test_a_bad_or_taken_name_makes_no_pipeline_and_says_which_file(tmp_path, monkeypatch):
    folder = tmp_path / "p"
    _write(folder, "a.yaml", "name: Fraud-Model\n")
    _write(folder, "b.yaml", "name: two__parts\n")
    _write(folder, "c.yaml", "name: sales\n")
    _write(folder, "sales.yaml", "dataset: {}\n")  # the file name is the name: taken by c.yaml
    _write(folder, "9lives.yaml", "dataset: {}\n")
    monkeypatch.setenv(PIPELINES_ENV, str(folder))
    found, broken = scan()
    assert [p.name for p in found] == [None, "sales"]
    errors = {Path(b.path).name: b.error for b in broken}
    assert set(errors) == {"a.yaml", "b.yaml", "sales.yaml", "9lives.yaml"}
    assert "'Fraud-Model'" in errors["a.yaml"] and "lowercase letters" in errors["a.yaml"]
    assert "'two__parts'" in errors["b.yaml"]
    assert "taken by" in errors["sales.yaml"] and "c.yaml" in errors["sales.yaml"]
    assert "file name" in errors["9lives.yaml"]


def test_a_folder_that_is_not_there_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv(PIPELINES_ENV, str(tmp_path / "missing"))
    found, broken = scan()
    assert found == [Pipeline()] and "is not a folder" in broken[0].error


def test_a_relative_folder_is_relative_to_the_project(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PIPELINES_ENV, "include/config/pipelines")
    names = [p.name for p in pipelines()]
    assert "energy" in names  # the shipped example, found from another working directory


def test_a_dag_id_names_its_pipeline(tmp_path, monkeypatch):
    _write(tmp_path, "churn.yaml", "dataset: {}\n")
    monkeypatch.setenv(PIPELINES_ENV, str(tmp_path))
    assert split_dag_id("churn__train_and_promote") == ("churn", "train_and_promote")
    assert split_dag_id("train_and_promote") == (None, "train_and_promote")
    assert pipeline_of("churn__score_batch") == Pipeline("churn", str(tmp_path / "churn.yaml"))
    assert pipeline_of("score_batch") == Pipeline()
    with pytest.raises(LookupError, match="pipeline 'gone'.*put its config back"):
        pipeline_of("gone__score_batch")


def test_a_folder_pipeline_gets_a_lake_of_its_own_unless_it_sets_one(tmp_path):
    plain = _write(tmp_path, "churn.yaml", f"dataset: {{suite: {SUITE}}}\n")
    cfg = load_config(plain, pipeline="churn")
    assert cfg.name == "churn"
    assert cfg.lake_root == str(PROJECT_ROOT / PIPELINE_LAKE / "churn")
    own = _write(tmp_path, "own.yaml", f"lake: {{root: {tmp_path / 'lake'}}}\ndataset: {{suite: {SUITE}}}\n")
    assert load_config(own, pipeline="own").lake_root == str(tmp_path / "lake")
    other = _write(tmp_path, "x.yaml", "name: y\n")
    with pytest.raises(ConfigError, match="`name` is 'y' but the pipeline is 'x'"):
        load_config(other, pipeline="x")


def test_a_relative_source_is_relative_to_the_project(tmp_path):
    path = _write(
        tmp_path,
        "e.yaml",
        "dataset: {uri: data/examples/energy, task: regression, target: load_mw, timestamp_column: measured_at}\n",
    )
    assert load_config(path).dataset.uri == str(PROJECT_ROOT / "data/examples/energy")


def test_config_errors_name_each_broken_file_and_shared_lakes_or_models(tmp_path, monkeypatch):
    main = _write(tmp_path, "main.yaml", f"lake: {{root: {tmp_path / 'main_lake'}}}\ndataset: {{suite: {SUITE}}}\n")
    monkeypatch.setenv("MLOPS_CONFIG", str(main))
    folder = tmp_path / "p"
    _write(folder, "good.yaml", f"dataset: {{suite: {SUITE}}}\nmodel: {{name: good_model}}\n")
    _write(folder, "typo.yaml", "modle: {name: x}\n")
    _write(folder, "same_lake.yaml", f"lake: {{root: {tmp_path / 'main_lake'}}}\nmodel: {{name: other}}\n")
    _write(folder, "same_model.yaml", "model: {name: good_model}\n")
    monkeypatch.setenv(PIPELINES_ENV, str(folder))
    errors = config_errors()
    assert len(errors) == 3, errors
    typo = next(e for e in errors if "typo.yaml" in e)
    assert "unknown section(s) modle" in typo
    lake = next(e for e in errors if "same_lake.yaml" in e)
    assert "lake root" in lake and "main config" in lake and "`lake.root`" in lake
    model = next(e for e in errors if "same_model.yaml" in e)
    assert "'good_model'" in model and "good.yaml" in model and "`model.name`" in model


def test_the_shipped_example_pipeline_loads_with_its_own_lake_and_model():
    cfg = load_config(PROJECT_ROOT / "include/config/pipelines/energy.yaml", pipeline="energy")
    main = load_config(PROJECT_ROOT / "include/config/mlops.yaml")
    assert cfg.dataset.task == "regression" and cfg.evaluation.primary_metric == "rmse"
    assert cfg.lake_root != main.lake_root and cfg.model.name != main.model.name
    assert len(cfg.model.candidates) == 2 and cfg.evaluation.segments == ("site", "feeder_type")
