"""The reports behind the ``Report`` extra link, served from the lake by the Airflow API server.

Mounted at ``/mlops`` by ``plugins/mlops_plugin.py``: ``GET /mlops/reports/<lake key>`` returns a
validation, drift or promotion report (HTML or JSON) to a logged-in Airflow user (the UI's session
cookie or a bearer token, as for the REST API). Only keys of the ``reports/`` zone and a quarantined
batch's ``validation.json`` are served: a link cannot be turned into a way to read the lake.
"""

# No `from __future__ import annotations`: FastAPI must see the route's annotation types, not strings.
import re
from typing import Any

REPORT_KEY = re.compile(
    r"^(reports/[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*"
    r"|quarantine/[A-Za-z0-9_.-]+/ds=\d{4}-\d{2}-\d{2}/validation\.json)$"
)
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json"}


def allowed_key(key: str) -> bool:
    return bool(REPORT_KEY.match(key)) and ".." not in key.split("/")


def create_app() -> Any:
    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import Response

    app = FastAPI(title="MLOps reports", description=__doc__)

    @app.get("/reports/{key:path}")
    def report(key: str, user: GetUserDep) -> Response:
        if not allowed_key(key):
            raise HTTPException(
                404, f"{key!r} is not a report key: only reports/... and quarantine/.../validation.json"
            )
        from include.mlops.config import load_config
        from mlops_airflow.hooks.lake_hook import LakeHook

        cfg = load_config()
        lake = LakeHook(cfg.lake_root, aws_conn_id=cfg.lake.aws_conn_id).get_conn()
        if not lake.storage.exists(key):
            raise HTTPException(404, f"no report at {lake.storage.uri(key)}: the task may not have written it yet")
        suffix = key[key.rfind(".") :]
        return Response(lake.storage.read_bytes(key), media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"))

    return app


class LazyReportsApp:
    """An ASGI app that builds the FastAPI app on its first request, so the scheduler, DAG processor and
    task processes, which load plugins too, import nothing for it."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)
