"""Champion/challenger through MLflow registry aliases (never stages).

- ``register_version``: a trained model as a version tagged with its run key, alias ``challenger``.
- ``champion_version``: which version the ``champion`` alias points at, or None.
- ``evaluate``: challenger and champion scored on the same holdout; the decision is written as a JSON
  artifact in the challenger's run and as version tags; ``evaluate_and_record`` reads the checked holdout
  first and writes the decision report to the lake too.
- ``promote``: compare-and-set of the ``champion`` alias against the champion read at evaluation
  time. The alias is moved in one call (never deleted first), so it never points at nothing; the
  previous champion is recorded on the new version for rollback; ``promote_evaluated`` takes the evaluation.
- ``check_rollback_target`` / ``rollback``: move ``champion`` back to a version an evaluation blessed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
SHADOW = "shadow"  # a blessed challenger scoring beside the champion until evaluation.shadow_days confirm it
SHADOW_STATUS_TAG = "shadow.status"  # waiting | promoted | retired | replaced (include.mlops.promotion.shadow)
NOT_SERVED_SHADOW = ("waiting", "retired", "replaced")  # a shadow that never became champion: no rollback to it
RUN_KEY_TAG = "airflow_run_key"  # version and run tag: <dag_id>/<run_id> of the DAG run that trained it


def find_registered(client: MlflowClient, model_name: str, run_key: str):
    """The model version registered for ``run_key`` before (a retry or re-run), or None."""
    found = client.search_model_versions(f"name = '{model_name}' and tags.{RUN_KEY_TAG} = '{run_key}'")
    return sorted(found, key=lambda v: int(v.version))[0] if found else None


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        try:
            client.create_registered_model(
                model_name, description="Managed by the Airflow MLOps DAGs: aliases champion/challenger."
            )
        except MlflowException as exc:  # created concurrently
            if "RESOURCE_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                raise


def register_version(
    client: MlflowClient, cfg: PipelineConfig, run_id: str, model_uri: str, run_key: str, tags: dict[str, str]
) -> Any:
    """Register ``model_uri`` of ``run_id`` as a version tagged with ``run_key`` and point ``challenger`` at it;
    two tries registering at once converge on the lowest version of the run key."""
    ensure_registered_model(client, cfg.model.name)
    # MLflow 3 logged models live at models:/<model_id>; a tracking server requires the id with the source
    model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/") else None
    version = client.create_model_version(
        cfg.model.name, source=model_uri, run_id=run_id, tags={RUN_KEY_TAG: run_key, **tags}, model_id=model_id
    )
    # Two tries of one run can register at once (a retry beside an orphaned try whose worker died): each
    # keeps the lowest version of the run key and deletes its own if it is not that one, so both converge.
    first = find_registered(client, cfg.model.name, run_key)
    if first is not None and str(first.version) != str(version.version):
        log.warning(
            "%s version %s duplicates version %s of run key %s (a concurrent try); deleting it",
            cfg.model.name,
            version.version,
            first.version,
            run_key,
        )
        client.delete_model_version(cfg.model.name, version.version)
        version = first
    client.set_registered_model_alias(cfg.model.name, CHALLENGER, version.version)
    return version


def is_not_found(exc: BaseException) -> bool:
    """Whether an MLflow error says the model, version or alias does not exist (not: the server failed)."""
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return False
    text = str(exc)
    return (
        getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"
        or "RESOURCE_DOES_NOT_EXIST" in text
        or "not found" in text.lower()
        or "does not exist" in text
    )


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if is_not_found(exc):
            return None
        raise


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    return alias_version(client, model_name, CHAMPION)


def load_version(model_name: str, version: str):
    """Load a model from its registry URI (models are only ever loaded from the registry)."""
    import warnings

    import mlflow.sklearn

    with warnings.catch_warnings():  # unpickling walks sys.modules: Airflow's deprecated shims warn ~1,000 times
        warnings.filterwarnings("ignore", message=r"The `airflow\.")
        return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")
