"""The reports behind the ``Report`` extra link, served from the lake by the Airflow API server.

Mounted at ``/mlops`` by ``plugins/mlops_plugin.py``: ``GET /mlops/reports/<lake key>`` returns a
validation, drift or promotion report (HTML or JSON) to a logged-in Airflow user (the UI's session
cookie or a bearer token, as for the REST API). Only report files are served
(``reports/<kind>/<dataset>/ds=YYYY-MM-DD/<name>.json|.html`` and a quarantined batch's
``validation.json``): a link cannot be turned into a way to read the lake.

Answers, after the login check (401 without one):

- 400 for a malformed key (empty, longer than ``MAX_KEY_LENGTH``, control characters such as NUL,
  backslashes, a leading ``/``, ``.``/``..`` or empty segments);
- 404 for a well-formed key that is not a report file: another zone, an unknown report kind, another
  suffix, a folder, a key that is only the start of a report's key, or a report not written (yet);
- 503 when the lake cannot be read (configuration, credentials, network): logged here, never a 500.
"""

# No `from __future__ import annotations`: FastAPI must see the route's annotation types, not strings.
import errno
import logging
import re
import unicodedata
from typing import Any

from mlops_airflow.hooks.lake_hook import open_lake, pipeline_config  # noqa: F401 (pipeline_config: its old path)

log = logging.getLogger("mlops_airflow.reports_app")

# The pipeline's report keys are ``reports/<kind>/<dataset>/ds=YYYY-MM-DD/<name>`` (about 50 characters
# plus the dataset name). 256 leaves room for long dataset names while keeping every key far below S3's
# 1024-byte key limit (with a lake prefix in front) and each local path component below NAME_MAX (255).
# Keys that pass the grammar below are ASCII, so characters are bytes here.
MAX_KEY_LENGTH = 256
PIPELINE_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")  # ?pipeline=: include.mlops.core.pipelines names
# The kinds written to the lake: ``validation`` (ingest), ``drift`` (drift monitor), ``promotion``
# (promotion decisions). A new kind must be added here to be served.
REPORT_KINDS = ("validation", "drift", "promotion", "scoring")
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json"}
_SEGMENT = r"[A-Za-z0-9_.=-]+"
REPORT_KEY = re.compile(
    rf"^(reports/(?:{'|'.join(REPORT_KINDS)})/{_SEGMENT}/ds=\d{{4}}-\d{{2}}-\d{{2}}/{_SEGMENT}\.(?:json|html)"
    r"|quarantine/[A-Za-z0-9_.-]+/ds=\d{4}-\d{2}-\d{2}/validation\.json)$"
)
# Storage errors that mean "there is no file at this key" rather than "the lake is unreadable".
_NOT_A_FILE_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}
_NOT_A_FILE_S3_CODES = {"NoSuchKey", "404", "NotFound", "KeyTooLongError"}
LAKE_KEY_CONVERTOR = "mlops_lake_key"  # a Starlette path convertor, registered by create_app


def malformed_key(key: str) -> str | None:
    """Why ``key`` is not even a well-formed lake key (the 400 answer), or None."""
    if not key:
        return "empty key"
    if len(key) > MAX_KEY_LENGTH:
        return f"key too long ({len(key)} characters, at most {MAX_KEY_LENGTH})"
    if any(unicodedata.category(c) == "Cc" for c in key):  # NUL, other C0/C1 controls, DEL
        return "control character in key"
    if "\\" in key:
        return "backslash in key"
    if key.startswith("/"):
        return "absolute key: lake keys are relative (reports/...)"
    segments = key.split("/")
    if any(s in (".", "..") for s in segments):
        return "'.' or '..' segment in key"
    if "" in segments:
        return "empty segment in key ('//' or a trailing '/')"
    return None


def allowed_key(key: str) -> bool:
    """Whether ``key`` is well formed and names a report file (not whether that file exists)."""
    return malformed_key(key) is None and bool(REPORT_KEY.match(key))


def is_not_a_file(exc: BaseException) -> bool:
    """Whether a storage read failed because nothing readable is at the key (missing, a folder, an S3
    prefix), as opposed to the lake being unreadable."""
    if isinstance(exc, OSError) and exc.errno in _NOT_A_FILE_ERRNOS:
        return True
    response = getattr(exc, "response", None)  # botocore ClientError, without importing botocore
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) in _NOT_A_FILE_S3_CODES


def create_app() -> Any:
    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import Response
    from starlette.convertors import Convertor, register_url_convertor

    class LakeKeyConvertor(Convertor[str]):
        """Starlette's ``path`` (``.*``) stops at a newline and its ``$`` matches before a trailing one, so
        ``reports/x.json%0a`` would reach the route as ``reports/x.json``: take everything, newlines too,
        and let ``malformed_key`` refuse it."""

        regex = r"[\s\S]*"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: str) -> str:
            return value

    register_url_convertor(LAKE_KEY_CONVERTOR, LakeKeyConvertor())

    # No slash redirects: /reports and /docs/ are 404s, not 307s to a near-miss.
    app = FastAPI(title="MLOps reports", description=__doc__, redirect_slashes=False)

    @app.get(f"/reports/{{key:{LAKE_KEY_CONVERTOR}}}")
    def report(key: str, user: GetUserDep, pipeline: str | None = None) -> Response:
        reason = malformed_key(key)
        if reason:
            raise HTTPException(400, f"malformed report key: {reason}")
        if pipeline is not None and not PIPELINE_NAME.match(pipeline):
            raise HTTPException(400, "malformed pipeline name: lowercase letters, digits and single underscores")
        if not REPORT_KEY.match(key):
            raise HTTPException(
                404,
                f"not a report: {key!r} (only reports/<kind>/<dataset>/ds=<date>/<name>.json|.html and "
                "quarantine/<dataset>/ds=<date>/validation.json)",
            )
        try:
            lake = open_lake(pipeline)
        except LookupError:
            raise HTTPException(404, f"no pipeline {pipeline!r} in this deployment") from None
        except Exception:
            log.exception("the lake for report %s could not be opened", key)
            raise HTTPException(
                503, f"the lake could not be opened for {key}; the API server log has the cause"
            ) from None
        where = key
        try:
            where = lake.storage.uri(key)
            data = lake.storage.read_bytes(key)
        except Exception as exc:
            if is_not_a_file(exc):  # missing, a folder, an S3 prefix, a file in place of a folder
                log.info("no report file at %s (%s)", where, type(exc).__name__)
                raise HTTPException(404, f"no report at {where}: the task may not have written it yet") from None
            log.exception("reading report %s from the lake failed", where)
            raise HTTPException(
                503, f"the lake could not be read for {key}; the API server log has the cause"
            ) from None
        return Response(data, media_type=MEDIA_TYPES[key[key.rfind(".") :]])

    from mlops_airflow.metrics import add_metrics_route

    add_metrics_route(app)  # GET /metrics: Prometheus text format, bearer token or Airflow login
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
