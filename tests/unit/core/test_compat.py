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
