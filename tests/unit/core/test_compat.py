"""include.mlops.core.compat: each private third-party API the project uses still exists where compat reaches for
it. A failure here names the package and its installed version: an upgrade moved it, so update compat (one place)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

pytestmark = pytest.mark.unit


def moved(package: str, what: str) -> str:
    return f"{package} {version(package)}: {what} moved or changed; update include/mlops/core/compat.py"


# --- MLflow ---------------------------------------------------------------------------------------------------
def test_mlflow_answers_a_missing_model_version_or_alias_with_the_codes_the_registry_reads(tmp_path):
    """``include.mlops.model.registry`` decides "not found" by ``error_code``, never by the message: a missing model
    or version is RESOURCE_DOES_NOT_EXIST, a missing alias of an existing model INVALID_PARAMETER_VALUE."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def code(call) -> str | None:
        try:
            call()
        except MlflowException as exc:
            return exc.error_code
        return None

    assert code(lambda: client.get_model_version("nope", "1")) == "RESOURCE_DOES_NOT_EXIST", moved(
        "mlflow", "the error code of a missing registered model"
    )
    client.create_registered_model("m")
    assert code(lambda: client.get_model_version("m", "1")) == "RESOURCE_DOES_NOT_EXIST", moved(
        "mlflow", "the error code of a missing model version"
    )
    assert code(lambda: client.get_model_version_by_alias("m", "champion")) in (
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
    ), moved("mlflow", "the error code of a missing alias")
    assert client.get_registered_model("m").aliases == {}, moved("mlflow", "RegisteredModel.aliases (a dict)")


# --- Great Expectations -------------------------------------------------------------------------------------


def _gx_batch_definition():
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    return (
        context.data_sources.add_pandas("lake").add_dataframe_asset("batch").add_batch_definition_whole_dataframe("w")
    )


def test_gx_hash_threshold_still_decides_the_batch_fingerprint():
    """compat.gx_batch_fingerprint_off sets GX's private HASH_THRESHOLD to 0 so no batch is md5-hashed; if GX
    renames it or hashes regardless, validation silently pays 1.8 s per pass at 1M rows again."""
    import importlib

    import pandas as pd

    from include.mlops.core.compat import GX_HASH_THRESHOLD, gx_batch_fingerprint_off

    module, name = GX_HASH_THRESHOLD
    engine = importlib.import_module(module)
    threshold = getattr(engine, name, None)
    assert isinstance(threshold, int | float), moved("great_expectations", f"{module}.{name}")
    batch_definition, frame = _gx_batch_definition(), pd.DataFrame({"a": range(10)})
    hashed = batch_definition.get_batch(batch_parameters={"dataframe": frame}).batch_markers
    assert "pandas_data_fingerprint" in hashed, moved("great_expectations", "the pandas_data_fingerprint batch marker")
    with gx_batch_fingerprint_off():
        assert getattr(engine, name) == 0
        markers = batch_definition.get_batch(batch_parameters={"dataframe": frame}).batch_markers
    assert "pandas_data_fingerprint" not in markers, moved("great_expectations", f"{name} (batches hashed anyway)")
    assert getattr(engine, name) == threshold  # restored


def test_gx_keeps_nothing_of_a_slice_after_its_caches_are_cleared():
    """GX's pandas engine caches every resolved metric (row masks too) for the context's life; compat's
    gx_clear_engine_caches empties it between slices. If GX renames what it keeps, this fails, and the slices'
    memory would add up again."""
    import pandas as pd

    from include.mlops.core.compat import GX_ENGINE_CACHES
    from include.mlops.data.validation import _Gx

    metrics, batches = GX_ENGINE_CACHES
    gx = _Gx()
    frame = pd.DataFrame({"a": range(5000)})
    exp = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "min_value": 0, "max_value": 9}}
    assert not gx.validate(frame, "s", {0: exp}, "BOOLEAN_ONLY")[0].success
    engine = gx.batch_definition.data_asset.datasource.get_execution_engine()
    metric_cache = getattr(engine, metrics, None)
    batch_cache = getattr(engine.batch_manager, batches, None)
    assert isinstance(metric_cache, dict) and metric_cache, moved("great_expectations", f"ExecutionEngine.{metrics}")
    assert isinstance(batch_cache, dict) and batch_cache, moved("great_expectations", f"BatchManager.{batches}")
    gx.forget()
    assert not metric_cache and not batch_cache
    assert gx.validate(frame.clip(upper=9), "s", {0: exp}, "BOOLEAN_ONLY")[0].success  # still validates after


# --- scikit-learn -------------------------------------------------------------------------------------------


def test_sklearn_qualified_names_are_still_the_public_classes():
    """Scoring's fast path trusts a step by its exact class's qualified name, written with sklearn's private
    module paths; if a class moves to another module, the fast path silently turns itself off."""
    import importlib

    import sklearn.compose
    import sklearn.impute
    import sklearn.pipeline
    import sklearn.preprocessing

    from include.mlops.core.compat import SKLEARN_COLUMN_TRANSFORMER, SKLEARN_PIPELINE, SKLEARN_ROWWISE_STEPS, qualname

    public = {
        SKLEARN_PIPELINE: sklearn.pipeline.Pipeline,
        SKLEARN_COLUMN_TRANSFORMER: sklearn.compose.ColumnTransformer,
        "sklearn.impute._base.SimpleImputer": sklearn.impute.SimpleImputer,
        "sklearn.preprocessing._encoders.OneHotEncoder": sklearn.preprocessing.OneHotEncoder,
        "sklearn.preprocessing._encoders.OrdinalEncoder": sklearn.preprocessing.OrdinalEncoder,
        "sklearn.preprocessing._data.StandardScaler": sklearn.preprocessing.StandardScaler,
    }
    assert set(public) == {SKLEARN_PIPELINE, SKLEARN_COLUMN_TRANSFORMER, *SKLEARN_ROWWISE_STEPS}
    for name, cls in public.items():
        module, _, attr = name.rpartition(".")
        found = getattr(importlib.import_module(module), attr, None) if _importable(module) else None
        assert found is cls, moved("scikit-learn", f"{cls.__name__} (compat names it {name})")
        assert qualname(cls.__new__(cls)) == name, moved("scikit-learn", f"{cls.__name__}'s qualified name")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_sklearn_output_config_still_records_set_output():
    """compat.sklearn_transform_output reads sklearn's private _sklearn_output_config; if set_output stops writing
    it, a step asked for pandas output would pass for a default one and the fast path would mis-assemble it."""
    from sklearn.preprocessing import StandardScaler

    from include.mlops.core.compat import sklearn_transform_output

    assert sklearn_transform_output(StandardScaler()) == "default"
    for output in ("pandas", "default"):
        scaler = StandardScaler().set_output(transform=output)
        assert sklearn_transform_output(scaler) == output, moved("scikit-learn", "_sklearn_output_config")


# --- Airflow ------------------------------------------------------------------------------------------------
def test_the_task_sdk_still_writes_a_human_in_the_loop_request_where_compat_reaches_for_it():
    """``compat.request_human_input`` calls ``upsert_hitl_detail`` of ``airflow.sdk.execution_time.hitl`` with these
    keywords and builds ``HITLUser`` dicts (id, name)."""
    import importlib
    import inspect

    from include.mlops.core import compat

    try:
        hitl = importlib.import_module(compat.HITL_MODULE)
    except ImportError:
        pytest.fail(moved("apache-airflow", compat.HITL_MODULE))
    assert hasattr(hitl, "upsert_hitl_detail") and hasattr(hitl, "HITLUser"), moved(
        "apache-airflow", f"{compat.HITL_MODULE}.upsert_hitl_detail / HITLUser"
    )
    passed = {"ti_id", "options", "subject", "body", "defaults", "multiple", "params", "assigned_users"}
    assert passed <= set(inspect.signature(hitl.upsert_hitl_detail).parameters), moved(
        "apache-airflow", f"the keywords of {compat.HITL_MODULE}.upsert_hitl_detail"
    )
    assert set(hitl.HITLUser.__annotations__) == {"id", "name"}, moved("apache-airflow", "HITLUser's fields")


def test_request_human_input_hands_the_request_to_the_task_sdk(monkeypatch):
    from include.mlops.core import compat

    calls = []
    hitl = pytest.importorskip(compat.HITL_MODULE)
    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **kwargs: calls.append(kwargs))
    compat.request_human_input(
        ti_id="ti",
        options=["Approve", "Reject"],
        subject="s",
        body="b",
        defaults=["Reject"],
        multiple=False,
        params={},
        assigned_users=["alice"],
    )
    assert calls == [
        {
            "ti_id": "ti",
            "options": ["Approve", "Reject"],
            "subject": "s",
            "body": "b",
            "defaults": ["Reject"],
            "multiple": False,
            "params": {},
            "assigned_users": [{"id": "alice", "name": "alice"}],
        }
    ]
