"""Every use of a third-party private API, in one place.

Each entry names the package, the private name it reaches for and why no public API does the job; each has a
test in ``tests/unit/core/test_compat.py`` that fails loudly, naming the package and its installed version, when
an upgrade moves or renames what it uses. Nothing outside this module imports a private name of another package.
Heavy libraries are imported inside the functions: this module is imported at DAG-parse time by nothing, but
cheaply by every stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# --- MLflow ---------------------------------------------------------------------------------------------------
# None. Every MLflow call goes through an ``MlflowClient`` passed in, by public API only: the model is logged by
# client calls (``include.mlops.model.training.log_sklearn_model``: ``create_logged_model``, ``save_model``,
# ``log_model_artifacts``, ``finalize_logged_model``) because ``mlflow.sklearn.log_model`` reads the process-wide
# tracking URI; versions are downloaded from their artifact location (``include.mlops.model.registry``) because a
# ``models:/`` URI is resolved against the process-wide registry URI (``ModelsArtifactRepository``). The private
# ``mlflow.tracking._tracking_service.utils._use_tracking_uri`` was not needed (it would also unset
# ``MLFLOW_TRACKING_URI`` on exit). What the registry relies on MLflow to answer (error codes) is checked in
# ``tests/unit/core/test_compat.py``.

# --- Great Expectations -------------------------------------------------------------------------------------

# great_expectations.execution_engine.pandas_execution_engine.HASH_THRESHOLD (a module constant, no public
# setting): GX 1.x md5-hashes every pandas batch smaller than it (``pd.util.hash_pandas_object`` over all columns,
# text included) only to put a ``pandas_data_fingerprint`` in the batch markers, once per ``get_batch`` and again
# per ``validate``: 1.8 s per pass at 1M rows, more than the checks themselves. Nothing here reads that marker
# (the lake records its own content hash).
GX_HASH_THRESHOLD = ("great_expectations.execution_engine.pandas_execution_engine", "HASH_THRESHOLD")


class gx_batch_fingerprint_off:  # lower case: used like a function, ``with gx_batch_fingerprint_off():``
    """While inside, GX puts no ``pandas_data_fingerprint`` in a pandas batch's markers (``HASH_THRESHOLD`` 0:
    hashed only when the frame's memory is below it, never); the threshold is restored on exit. A GX without
    the constant is left alone (tests/unit/core/test_compat.py fails on it)."""

    def __enter__(self) -> None:
        import importlib

        module, name = GX_HASH_THRESHOLD
        self.engine = importlib.import_module(module)
        self.before = getattr(self.engine, name, None)
        if self.before is not None:
            setattr(self.engine, name, 0)

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            setattr(self.engine, GX_HASH_THRESHOLD[1], self.before)


# ``ExecutionEngine._metric_cache`` and ``BatchManager._batch_data_cache`` (private dicts, no public way to empty
# them): the pandas engine is cached on its data source and keeps every metric it resolved for the context's life
# (each check's boolean row mask among them: 3 MB a check at 3M rows, never freed) and the last batch's frame.
GX_ENGINE_CACHES = ("_metric_cache", "_batch_data_cache")


def gx_clear_engine_caches(engine: object) -> None:
    """Empty what GX's execution ``engine`` keeps of the batches validated so far: its resolved metrics and its
    batch manager's frames. GX recomputes every metric of a validation's graph, so nothing later needs them."""
    metrics, batches = GX_ENGINE_CACHES
    for cache in (getattr(engine, metrics, None), getattr(getattr(engine, "batch_manager", None), batches, None)):
        if isinstance(cache, dict):
            cache.clear()


# --- scikit-learn -------------------------------------------------------------------------------------------

# Exact classes by their qualified names (``type(obj).__module__`` + ``__qualname__``), so a subclass (which may
# transform differently) never passes for one; the modules are private (``sklearn.impute._base``...), the
# classes public (``sklearn.impute.SimpleImputer``...). Scoring's per-combination fast path trusts only these.
SKLEARN_PIPELINE = "sklearn.pipeline.Pipeline"
SKLEARN_COLUMN_TRANSFORMER = "sklearn.compose._column_transformer.ColumnTransformer"
SKLEARN_ROWWISE_STEPS = frozenset(
    {
        "sklearn.impute._base.SimpleImputer",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.preprocessing._data.StandardScaler",
    }
)


def qualname(obj: object) -> str:
    """The qualified name of ``obj``'s exact class, as the ``SKLEARN_*`` names spell it."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


# ``_sklearn_output_config`` (private; ``set_output`` writes it, nothing public reads it back): an estimator's own
# ``set_output(transform=...)``, which overrides the global ``sklearn.get_config()["transform_output"]``.
SKLEARN_OUTPUT_CONFIG = "_sklearn_output_config"


def sklearn_transform_output(estimator: object) -> str:
    """What ``estimator.set_output(transform=...)`` asked for ("default" when it was never called)."""
    return str(getattr(estimator, SKLEARN_OUTPUT_CONFIG, {}).get("transform", "default"))


# --- Airflow ------------------------------------------------------------------------------------------------
if TYPE_CHECKING:
    from uuid import UUID

HITL_MODULE = "airflow.sdk.execution_time.hitl"  # the Task SDK's own human-in-the-loop client (private)


def request_human_input(
    *,
    ti_id: UUID,
    options: list[str],
    subject: str,
    body: str,
    defaults: list[str],
    multiple: bool,
    params: dict[str, object],
    assigned_users: list[str],
) -> None:
    """Write the human-in-the-loop request of a task instance (what Required Actions and ``PATCH .../hitlDetails``
    answer): ``airflow.sdk.execution_time.hitl.upsert_hitl_detail``, a private module of the Task SDK, which the
    standard provider's ``ApprovalOperator`` calls too; Airflow 3.3 has no public API for it (the provider's module
    imports Airflow core at parse time, see ``mlops_airflow.operators.approval``). ``assigned_users`` are user
    names (each is the ``HITLUser`` id and name). Airflow is imported here, when a task runs: the library stays
    importable without it."""
    from airflow.sdk.execution_time.hitl import HITLUser, upsert_hitl_detail

    upsert_hitl_detail(
        ti_id=ti_id,
        options=options,
        subject=subject,
        body=body,
        defaults=defaults,
        multiple=multiple,
        params=params,
        assigned_users=[HITLUser(id=user, name=user) for user in assigned_users],
    )
