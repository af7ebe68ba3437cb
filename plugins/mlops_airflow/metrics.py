"""``GET /mlops/metrics``: the pipeline's health in the Prometheus text format, on the Airflow API server.

Added to the plugin's FastAPI app by ``mlops_airflow.reports_app.create_app``. The samples come from
``include.mlops.monitor.health.collect`` (the lake and the MLflow registry), computed on a scrape, never at
import or DAG parse time, and cached for ``MLOPS_METRICS_CACHE_SECONDS`` (default 30): concurrent and
frequent scrapes read the lake and the registry once per period.

Access (never anonymous):

- **Prometheus**: ``Authorization: Bearer <token>`` where the token is ``MLOPS_METRICS_TOKEN`` in the API
  server's environment, else the password of the Airflow connection ``mlops_metrics``; compared in constant
  time (``hmac.compare_digest``).
- **People and scripts with an Airflow login**: the UI's session cookie, or an Airflow API bearer token
  (JWT), as for ``/mlops/reports``.

Anything else is 401 (no credential) or 403 (a bearer that is neither the metrics token nor a valid Airflow
token). With no metrics token configured, only Airflow logins get in.
"""

# No `from __future__ import annotations`: FastAPI must see the route's annotation types, not strings.
import hmac
import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger("mlops_airflow.metrics")

TOKEN_ENV = "MLOPS_METRICS_TOKEN"
TOKEN_CONN_ID = "mlops_metrics"
CACHE_ENV = "MLOPS_METRICS_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 30.0


def configured_token() -> str | None:
    """The scrape token: ``MLOPS_METRICS_TOKEN``, else the ``mlops_metrics`` connection's password; None if neither."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    try:
        from airflow.sdk import BaseHook

        password = BaseHook.get_connection(TOKEN_CONN_ID).password
    except Exception:  # no such connection (the usual case), or no secrets backend reachable
        return None
    return password.strip() if password and password.strip() else None


def bearer(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <credentials>`` header, else None."""
    scheme, _, credentials = (authorization or "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def is_scrape_token(presented: str | None, token: str | None) -> bool:
    """Constant-time comparison of a presented bearer with the configured token (never equal without one)."""
    if not presented or not token:
        return False
    return hmac.compare_digest(presented.encode(), token.encode())


async def airflow_user(request: Any, credentials: str | None) -> Any:
    """The Airflow user of the request (session cookie or Airflow JWT); HTTPException 401/403 otherwise."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    header = HTTPAuthorizationCredentials(scheme="Bearer", credentials=credentials) if credentials else None
    return await get_user(request, None, header)


class MetricsCache:
    """The last rendered payload for ``ttl`` seconds; one collection at a time (a lock, not a stampede)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._payload: bytes | None = None
        self._expires = 0.0

    def get(self, produce: Any) -> bytes:
        with self._lock:
            now = time.monotonic()
            if self._payload is None or now >= self._expires:
                self._payload = produce()
                self._expires = time.monotonic() + self.ttl
            return self._payload


def cache_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(CACHE_ENV, DEFAULT_CACHE_SECONDS)))
    except ValueError:
        return DEFAULT_CACHE_SECONDS


def produce() -> bytes:
    """Collect and render the samples of every pipeline (``include.mlops.core.pipelines``: the main one and those of
    ``MLOPS_PIPELINES``; their samples differ by the dataset and model labels). A lake or registry that cannot
    be opened is reported as down (``mlops_health_source_up``: 0 when any pipeline's is down, the log names it),
    never as a failed scrape."""
    from include.mlops.core.pipelines import pipelines
    from include.mlops.monitor.health import Sample, render

    samples: list[Any] = []
    up: dict[tuple, float] = {}
    duration = 0.0
    for p in pipelines():
        for s in _collect_pipeline(p):
            if s.name == "mlops_health_source_up":
                up[s.labels] = min(up.get(s.labels, 1), s.value)
            elif s.name == "mlops_health_collect_duration_seconds":
                duration += s.value
            else:
                samples.append(s)
    samples += [Sample("mlops_health_source_up", value, labels) for labels, value in up.items()]
    samples.append(Sample("mlops_health_collect_duration_seconds", duration))
    return render(samples)


def _collect_pipeline(p: Any) -> list[Any]:
    from include.mlops.core.config import load_config
    from include.mlops.monitor.health import Sample, collect

    try:
        cfg = load_config(p.config_path, pipeline=p.name)
    except Exception:
        log.exception("the config of pipeline %s could not be loaded for the metrics", p.name or "main")
        return [Sample("mlops_health_source_up", 0, (("source", s),)) for s in ("lake", "registry")]
    lake = client = None
    try:
        from mlops_airflow.hooks.lake_hook import open_lake

        lake = open_lake(p.name)
    except Exception:
        log.exception("the lake of pipeline %s could not be opened for the metrics", p.name or "main")
    try:
        from mlops_airflow.hooks.mlflow_hook import MlflowHook

        client = MlflowHook(cfg.mlflow.conn_id).get_conn()
    except Exception:
        log.exception("the MLflow client could not be created for the metrics")
    return collect(cfg, lake, client)


def add_metrics_route(app: Any) -> None:
    from fastapi import HTTPException, Request
    from fastapi.responses import Response

    from include.mlops.monitor.health import CONTENT_TYPE

    cache = MetricsCache(cache_seconds())

    @app.get("/metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        presented = bearer(request.headers.get("authorization"))
        if not is_scrape_token(presented, configured_token()):
            await airflow_user(request, presented)  # 401/403 unless an Airflow login
        try:
            from starlette.concurrency import run_in_threadpool

            payload = await run_in_threadpool(cache.get, produce)
        except Exception:
            log.exception("collecting the metrics failed")
            raise HTTPException(503, "the metrics could not be collected; the API server log has the cause") from None
        return Response(payload, media_type=CONTENT_TYPE)
