"""include.mlops.model.registry: reads through the client passed in, never MLflow's process-wide URIs; a missing
model or version is ``ModelVersionNotFound``, decided by MLflow's error code."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from include.mlops.core.exceptions import ModelVersionNotFound
from include.mlops.data.ingest import ingest_day
from include.mlops.data.lake import Lake
from include.mlops.model.registry import alias_version, champion_version, get_version, load_version
from include.mlops.model.window import Window, assemble_window

pytestmark = pytest.mark.unit


def _mlflow_error(code: str, message: str = "whatever the message says"):
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    return MlflowException(message, error_code=getattr(databricks_pb2, code))


class _Registry:
    """get_model_version_by_alias raises ``error``; the model's aliases are ``aliases``."""

    def __init__(self, error, aliases: dict[str, str] | None = None, model_error=None) -> None:
        self.error, self.aliases, self.model_error = error, aliases or {}, model_error

    def get_model_version_by_alias(self, name, alias):
        raise self.error

    def get_model_version(self, name, version):
        raise self.error

    def get_registered_model(self, name):
        if self.model_error is not None:
            raise self.model_error
        return SimpleNamespace(aliases=self.aliases)


def test_a_missing_model_or_alias_reads_as_none_by_the_error_code_not_the_text():
    assert alias_version(_Registry(_mlflow_error("RESOURCE_DOES_NOT_EXIST")), "m", "champion") is None
    # a missing alias of an existing model: INVALID_PARAMETER_VALUE, confirmed by the model's alias map
    assert alias_version(_Registry(_mlflow_error("INVALID_PARAMETER_VALUE")), "m", "champion") is None
    missing_model = _Registry(
        _mlflow_error("INVALID_PARAMETER_VALUE"), model_error=_mlflow_error("RESOURCE_DOES_NOT_EXIST")
    )
    assert champion_version(missing_model, "m") is None
    # the alias exists, so the error was something else: it stands
    with pytest.raises(Exception, match="whatever"):
        alias_version(_Registry(_mlflow_error("INVALID_PARAMETER_VALUE"), {"champion": "3"}), "m", "champion")
    # a server error, even one whose text says "not found", is not a missing alias
    with pytest.raises(Exception, match="upstream not found"):
        alias_version(_Registry(_mlflow_error("INTERNAL_ERROR", "upstream not found")), "m", "champion")


def test_get_version_raises_model_version_not_found_only_for_the_not_found_code():
    with pytest.raises(ModelVersionNotFound, match="m has no version 7; pick an existing version"):
        get_version(_Registry(_mlflow_error("RESOURCE_DOES_NOT_EXIST")), "m", "7")
    with pytest.raises(Exception, match="whatever") as raised:
        get_version(_Registry(_mlflow_error("TEMPORARILY_UNAVAILABLE")), "m", "7")
    assert not isinstance(raised.value, ModelVersionNotFound)


def test_a_real_store_missing_model_version_and_alias(mlflow_client, make_config):
    name = make_config().model.name
    assert champion_version(mlflow_client, name) is None  # no model
    with pytest.raises(ModelVersionNotFound):
        get_version(mlflow_client, name, "1")
    mlflow_client.create_registered_model(name)
    assert champion_version(mlflow_client, name) is None  # no alias
    with pytest.raises(ModelVersionNotFound):
        load_version(mlflow_client, name, "1")


def test_training_and_loading_use_only_the_client_passed_in(make_config, tmp_path, mlflow_uri):
    """A store of its own, passed as a client with only ``tracking_uri``: the model lands there, loads from there,
    and MLflow's process-wide URIs are what they were (the session's store), so no later test inherits them."""
    import mlflow
    from mlflow import MlflowClient

    from include.mlops.model.training import train_and_register

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    own = f"sqlite:///{tmp_path / 'own.db'}"
    client = MlflowClient(tracking_uri=own)
    cfg = make_config(simulator={"rows_per_day": 600}, training={"window_days": 5, "holdout_days": 2, "min_rows": 50})
    lake = Lake.at(cfg.lake_root)
    for d in range(1, 6):
        ingest_day(cfg, lake, dt.date(2026, 3, d))
    window = Window.ending(dt.date(2026, 3, 6), 5, 2)
    data = assemble_window(lake, cfg, window)
    version = train_and_register(client, cfg, data, window, "own/1", {}).version

    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == before == (mlflow_uri, mlflow_uri)
    assert alias_version(client, cfg.model.name, "challenger") == version
    session = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    assert session.search_model_versions(f"name = '{cfg.model.name}'") == []  # nothing in the session's store
    model = load_version(client, cfg.model.name, version)
    assert len(model.predict(data.holdout)) == len(data.holdout)
