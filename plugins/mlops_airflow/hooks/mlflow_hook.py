"""Where MLflow lives, from an Airflow Connection (never from code)."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook


class MlflowHook(BaseHook):
    """MLflow tracking/registry client from connection ``mlflow_conn_id``.

    The connection's ``host`` (with ``schema``/``port``) is the tracking server URL, e.g.
    ``AIRFLOW_CONN_MLFLOW_DEFAULT='{"conn_type": "http", "host": "http://127.0.0.1:5000"}'``.
    ``extra.tracking_uri`` overrides it for a local store (``sqlite:///...``); ``extra.ui_url`` sets the
    MLflow UI address for the task pages' links when it differs. Without the connection the hook falls
    back to ``MLFLOW_TRACKING_URI``.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def tracking_uri(self) -> str:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            uri = os.environ.get("MLFLOW_TRACKING_URI")
            if uri:
                return uri
            raise RuntimeError(
                f"no Airflow connection {self.mlflow_conn_id!r} and no MLFLOW_TRACKING_URI: create the connection "
                "(Admin > Connections, type http, host = the MLflow server URL) or set AIRFLOW_CONN_"
                f"{self.mlflow_conn_id.upper()}"
            ) from None
        extra = conn.extra_dejson or {}
        if extra.get("tracking_uri"):
            return str(extra["tracking_uri"])
        host = conn.host or ""
        if not host:
            raise RuntimeError(f"connection {self.mlflow_conn_id!r} has no host; set it to the MLflow server URL")
        if "://" not in host:
            host = f"{conn.schema or 'http'}://{host}"
        if conn.port:
            host = f"{host.rstrip('/')}:{conn.port}"
        return host

    @cached_property
    def ui_url(self) -> str | None:
        """The MLflow UI for links: connection extra ``ui_url``, else the tracking server; None for a local store."""
        try:
            extra = self.get_connection(self.mlflow_conn_id).extra_dejson or {}
        except Exception:  # no connection: the MLFLOW_TRACKING_URI fallback
            extra = {}
        url = str(extra.get("ui_url") or self.tracking_uri)
        return url if url.startswith(("http://", "https://")) else None

    def get_conn(self) -> Any:
        return self.client()

    def client(self) -> Any:
        """An ``MlflowClient`` with both its tracking and its registry URI set to the server. It leaves MLflow's
        process-wide URIs alone: every library call takes this client (``include.mlops.model.registry``)."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
