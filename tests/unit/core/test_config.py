from __future__ import annotations

import pytest

from include.mlops.core.config import DEFAULT_CONFIG_PATH, load_config, parse_config
from include.mlops.core.exceptions import ConfigError


def test_project_default_config_loads_and_points_at_the_shipped_suite():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert cfg.dataset.task == "classification"
    assert cfg.suite_path() is not None and cfg.suite_path().is_file()
    assert cfg.evaluation.direction == "maximize"


def test_mlops_config_env_var_selects_the_file(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text("dataset: {uri: /data/houses.csv, target: price, task: regression, timestamp_column: sold_at}\n")
    monkeypatch.setenv("MLOPS_CONFIG", str(path))
    cfg = load_config()
    assert cfg.source_path == str(path)
    assert cfg.dataset.target == "price"


def test_regression_task_gets_regression_defaults():
    cfg = parse_config({"dataset": {"uri": "x.csv", "task": "regression", "target": "y", "name": "houses"}})
    assert cfg.evaluation.primary_metric == "rmse"
    assert cfg.evaluation.direction == "minimize"
    assert cfg.model.name == "houses_regression"
    assert cfg.mlflow.experiment == "houses_regression"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"dataset": {"task": "clustering"}}, "dataset.task"),
        ({"datset": {}}, "unknown section"),
        ({"dataset": {"taget": "y"}}, "dataset.taget"),
        ({"training": {"window_days": 5, "holdout_days": 5}}, "holdout_days"),
        ({"evaluation": {"primary_metric": "rmse"}}, "is not computed for classification"),
        ({"model": {"estimator": "ridge"}}, "does not fit task"),
        ({"simulator": {"faults": {"2026-01-01": "gremlins"}}}, "simulator.faults"),
        ({"dataset": {"task": "regression"}}, "simulator makes a classification dataset"),
        ({"training": {"window_days": "many"}}, "training.window_days"),
    ],
)
def test_bad_config_names_the_key_and_what_is_accepted(raw, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        parse_config(raw, "bad.yaml")


def test_missing_config_file_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="MLOPS_CONFIG"):
        load_config()


def test_invalid_yaml_is_reported_as_config_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_compose_config_differs_from_the_default_only_in_the_lake():
    from dataclasses import replace

    default = load_config(DEFAULT_CONFIG_PATH)
    compose = load_config(DEFAULT_CONFIG_PATH.with_name("mlops.compose.yaml"))
    assert compose.lake.root.startswith("s3://")
    assert replace(compose, lake=default.lake, source_path="") == replace(default, source_path="")


def _config_keys() -> set[str]:
    from dataclasses import fields

    from include.mlops.core.config import PipelineConfig

    top = [f for f in fields(PipelineConfig) if f.name != "source_path"]
    sections = {f.name: f.default_factory() for f in top if callable(f.default_factory)}
    scalars = {f.name for f in top if f.name not in sections}  # top-level keys such as `name`
    return scalars | {f"{name}.{f.name}" for name, section in sections.items() for f in fields(section)}


def test_the_readme_config_reference_lists_exactly_the_keys_of_the_models():
    """The README's table is checked against the pydantic models: a key added, renamed or removed in code
    without its row (or the reverse) fails here."""
    import re

    readme = (DEFAULT_CONFIG_PATH.parents[2] / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Bring your own data")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {k for row in rows for k in re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", row.split("|")[1])}
    assert documented == _config_keys(), {
        "in the models, not in the README": sorted(_config_keys() - documented),
        "in the README, not in the models": sorted(documented - _config_keys()),
    }


def test_the_shipped_config_shows_every_key():
    import yaml

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    shipped = {
        f"{section}.{key}" if isinstance(values, dict) else section
        for section, values in raw.items()
        for key in (values if isinstance(values, dict) else [None])
    }
    assert shipped == _config_keys(), sorted(shipped ^ _config_keys())


def test_a_wrong_value_names_the_file_the_key_and_what_is_accepted():
    with pytest.raises(ConfigError) as info:
        parse_config({"drift": {"per_column": {"amount": {"methd": "psi"}}}}, "my.yaml")
    assert (
        str(info.value) == "my.yaml: unknown key(s) drift.per_column.amount.methd; accepted keys are method, threshold"
    )
    with pytest.raises(ConfigError, match=r"my\.yaml: `training\.window_days`: input should be a valid integer"):
        parse_config({"training": {"window_days": True}}, "my.yaml")
    with pytest.raises(ConfigError, match=r"`simulator\.faults\.someday` must be a YYYY-MM-DD date"):
        parse_config({"simulator": {"faults": {"someday": "nulls"}}}, "my.yaml")
