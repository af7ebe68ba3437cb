"""The model registry, read and written through the ``MlflowClient`` passed in (never MLflow's process-wide URIs).

- ``register_version``: a trained model as a version tagged with its run key, alias ``challenger``.
- ``champion_version`` / ``alias_version``: which version an alias points at, or None.
- ``get_version`` / ``load_version`` / ``version_signature``: a version's metadata, its model, its signature
  (``ModelVersionNotFound`` when it does not exist, decided by MLflow's error code, never its text).

Evaluation is ``include.mlops.promotion.evaluation``; promote and rollback ``include.mlops.promotion.aliases``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import ModelVersionNotFound

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
SHADOW = "shadow"  # a blessed challenger scoring beside the champion until evaluation.shadow_days confirm it
SHADOW_STATUS_TAG = "shadow.status"  # waiting | promoted | retired | replaced (include.mlops.promotion.shadow)
NOT_SERVED_SHADOW = ("waiting", "retired", "replaced")  # a shadow that never became champion: no rollback to it
NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"  # MLflow's error code (HTTP 404) for a missing model or version
RUN_KEY_TAG = "airflow_run_key"  # version and run tag: <dag_id>/<run_id> of the DAG run that trained it


def find_registered(client: MlflowClient, model_name: str, run_key: str):
    """The model version registered for ``run_key`` before (a retry or re-run), or None."""
    found = client.search_model_versions(f"name = '{model_name}' and tags.{RUN_KEY_TAG} = '{run_key}'")
    return sorted(found, key=lambda v: int(v.version))[0] if found else None


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != NOT_FOUND:
            raise
        try:
            client.create_registered_model(
                model_name, description="Managed by the Airflow MLOps DAGs: aliases champion/challenger."
            )
        except MlflowException as again:  # created concurrently
            if again.error_code != "RESOURCE_ALREADY_EXISTS":
                raise


def register_version(
    client: MlflowClient, cfg: PipelineConfig, run_id: str, model_uri: str, run_key: str, tags: dict[str, str]
) -> Any:
    """Register ``model_uri`` of ``run_id`` as a version tagged with ``run_key`` and point ``challenger`` at it;
    two tries registering at once converge on the lowest version of the run key."""
    ensure_registered_model(client, cfg.model.name)
    # MLflow 3 logged models live at models:/<model_id>: registered by their artifact location with the id (a
    # tracking server requires the id with the source). Not by the models:/ URI: a SQL registry resolves that one
    # through MLflow's process-wide tracking URI (sqlalchemy_store.create_model_version), not the client's.
    model_id, source = None, model_uri
    if model_uri.startswith("models:/"):
        model_id = model_uri.removeprefix("models:/")
        source = client.get_logged_model(model_id).artifact_location
    version = client.create_model_version(
        cfg.model.name, source=source, run_id=run_id, tags={RUN_KEY_TAG: run_key, **tags}, model_id=model_id
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


def get_version(client: MlflowClient, model_name: str, version: str) -> Any:
    """The registry's ``ModelVersion``; ``ModelVersionNotFound`` when the model or the version does not exist.
    Other MLflow errors (the server failed, a malformed version) propagate."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        if exc.error_code != NOT_FOUND:
            raise
        raise ModelVersionNotFound(
            f"{model_name} has no version {version}; pick an existing version (MLflow UI, Models > {model_name})"
        ) from None


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist.

    MLflow's stores answer a missing model with ``RESOURCE_DOES_NOT_EXIST`` but a missing alias of an existing
    model with ``INVALID_PARAMETER_VALUE`` (the code of a malformed name too): that one is confirmed by the
    model's alias map before it counts as "no alias"."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if exc.error_code == NOT_FOUND:
            return None
        if exc.error_code != "INVALID_PARAMETER_VALUE" or _has_alias(client, model_name, alias):
            raise
        return None


def _has_alias(client: MlflowClient, model_name: str, alias: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return alias in (client.get_registered_model(model_name).aliases or {})
    except MlflowException as exc:
        if exc.error_code == NOT_FOUND:
            return False
        raise


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    return alias_version(client, model_name, CHAMPION)


def version_artifacts_uri(client: MlflowClient, model_name: str, version: str) -> str:
    """Where the files of ``version`` are (``ModelVersionNotFound`` when it does not exist), read through
    ``client``: never a ``models:/`` URI, which MLflow resolves against the process-wide registry URI."""
    get_version(client, model_name, version)
    uri = client.get_model_version_download_uri(model_name, str(version))
    if uri.startswith("models:/"):  # MLflow 3: the version's source is a logged model, models:/<model_id>
        uri = client.get_logged_model(uri.removeprefix("models:/")).artifact_location
    return uri


def download_version(client: MlflowClient, model_name: str, version: str, dst: str, path: str = "") -> str:
    """Download the files of ``version`` (or the one at ``path`` inside them) into the directory ``dst`` through
    ``client``'s tracking server; the local path."""
    import mlflow.artifacts

    uri = version_artifacts_uri(client, model_name, version)
    return mlflow.artifacts.download_artifacts(
        artifact_uri=f"{uri.rstrip('/')}/{path}" if path else uri, dst_path=dst, tracking_uri=client.tracking_uri
    )


def load_version(client: MlflowClient, model_name: str, version: str) -> Any:
    """Load a registered version through ``client`` (models are only ever loaded from the registry);
    ``ModelVersionNotFound`` when it does not exist."""
    import tempfile
    import warnings

    import mlflow.sklearn

    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        local = download_version(client, model_name, version, tmp)
        with warnings.catch_warnings():  # unpickling walks sys.modules: Airflow's deprecated shims warn ~1,000 times
            warnings.filterwarnings("ignore", message=r"The `airflow\.")
            return mlflow.sklearn.load_model(local)


def version_signature(client: MlflowClient, model_name: str, version: str) -> Any:
    """The ``ModelSignature`` ``version`` was logged with (None without one), read through ``client``."""
    import tempfile

    from mlflow.models import Model

    with tempfile.TemporaryDirectory(prefix="mlops-mlmodel-") as tmp:
        return Model.load(download_version(client, model_name, version, tmp, "MLmodel")).signature


@dataclass(frozen=True)
class HttpRetries:
    """An HTTP retry budget: tries after the first, the exponential backoff factor (seconds), the timeout of a try."""

    max_retries: int = 1
    backoff_factor: float = 1.0
    timeout: float = 10.0


# A call that must fail in seconds (a rollback's target check): one retry, no jitter, 10 s a try. MLflow's own
# default (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7, backoff factor 2) takes minutes against a server that is down.
SHORT_RETRIES = HttpRetries(max_retries=1, backoff_factor=1.0, timeout=10.0)


def check_server(client: MlflowClient, retries: HttpRetries = SHORT_RETRIES) -> None:
    """Whether ``client``'s tracking server answers ``GET /health`` within ``retries``; raises the ``requests``
    error when it does not (transient: the caller's retries apply). Nothing to check for a local store.

    Why a probe: MLflow 3's REST client takes its retry budget only from process environment variables
    (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``/``_BACKOFF_FACTOR``/``_TIMEOUT``, read by ``mlflow.utils.rest_utils.
    http_request`` on every request); ``MlflowClient`` has no parameter for it, and this library writes no
    environment. So a caller that must fail fast probes the server once with an explicit budget; after the probe
    the registry reads use MLflow's default budget, and a missing model or version is answered at once (HTTP
    404 is not one of the codes MLflow retries)."""
    uri = str(client.tracking_uri)
    if not uri.startswith(("http://", "https://")):
        return
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=retries.max_retries,
        backoff_factor=retries.backoff_factor,
        status_forcelist=(408, 429, 500, 502, 503, 504),  # MLflow's transient codes
        allowed_methods=None,
    )
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        session.get(f"{uri.rstrip('/')}/health", timeout=retries.timeout).raise_for_status()
