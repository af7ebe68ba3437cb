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

# --- scikit-learn -------------------------------------------------------------------------------------------


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
