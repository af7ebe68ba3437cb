"""Every use of a third-party private API, in one place.

Each entry names the package, the private name it reaches for and why no public API does the job; each has a
test in ``tests/unit/core/test_compat.py`` that fails loudly, naming the package and its installed version, when
an upgrade moves or renames what it uses. Nothing outside this module imports a private name of another package.
Heavy libraries are imported inside the functions: this module is imported at DAG-parse time by nothing, but
cheaply by every stage.
"""

from __future__ import annotations

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

# --- scikit-learn -------------------------------------------------------------------------------------------

# --- Airflow ------------------------------------------------------------------------------------------------
HITL_MODULE = "airflow.sdk.execution_time.hitl"  # the Task SDK's own human-in-the-loop client (private)


def request_human_input(
    *,
    ti_id: object,
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
