"""The reports app under hostile paths: every route of the app, for a local lake and an S3 lake (moto).

Nothing may answer 5xx: a malformed key is a 400, anything that is not a report file a 404, and
without a login everything on the reports route is a 401. Requests go straight to the ASGI app with
the raw path a server would pass on (an HTTP client would normalise ``..`` away before sending).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import json
import re
from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote, unquote

import pytest

from mlops_airflow import reports_app
from mlops_airflow.reports_app import LAKE_KEY_CONVERTOR, MAX_KEY_LENGTH, create_app

DAY = "2026-03-04"
VALIDATION = f"reports/validation/transactions/ds={DAY}/validation.json"
DRIFT_HTML = f"reports/drift/transactions/ds={DAY}/report.html"
QUARANTINE = f"quarantine/transactions/ds={DAY}/validation.json"
REPORTS = {
    VALIDATION: (b'{"success": false, "ds": "2026-03-04"}', "application/json"),
    DRIFT_HTML: (b"<html><body>drift</body></html>", "text/html; charset=utf-8"),
    QUARANTINE: (b'{"success": false}', "application/json"),
}
# Lake files that are not reports, and a folder whose name looks like a report (an S3 prefix on S3).
OTHER_FILES = {
    f"curated/transactions/ds={DAY}/part-0.parquet": b"PAR1",
    f"quarantine/transactions/ds={DAY}/part-0.parquet": b"PAR1",
    f"reports/validation/transactions/ds={DAY}/notes.txt": b"not a report",
    f"reports/drift/transactions/ds={DAY}/folder.html/inside.json": b"{}",
}

BAD, NOT_A_REPORT = 400, 404
# (raw path after the route's prefix, as sent on the wire; the reports route's answer when logged in)
HOSTILE = [
    # folders, and keys that are the start of a real report's key or run past it
    ("reports", NOT_A_REPORT),
    ("reports/validation", NOT_A_REPORT),
    (f"reports/validation/transactions/ds={DAY}", NOT_A_REPORT),
    (f"quarantine/transactions/ds={DAY}", NOT_A_REPORT),
    (f"reports/drift/transactions/ds={DAY}/folder.html", NOT_A_REPORT),  # a folder named like a report
    (VALIDATION[:-1], NOT_A_REPORT),
    (VALIDATION[:-5], NOT_A_REPORT),
    (VALIDATION.removesuffix(".json"), NOT_A_REPORT),
    (f"{VALIDATION}/x.json", NOT_A_REPORT),
    ("reports/validation/transactions/ds=2020-01-01/validation.json", NOT_A_REPORT),  # not written
    # lake files that are not reports, kinds that are not report kinds
    (f"curated/transactions/ds={DAY}/part-0.parquet", NOT_A_REPORT),
    (f"quarantine/transactions/ds={DAY}/part-0.parquet", NOT_A_REPORT),
    (f"reports/validation/transactions/ds={DAY}/notes.txt", NOT_A_REPORT),
    (f"reports/secrets/transactions/ds={DAY}/validation.json", NOT_A_REPORT),
    (f"reports/validation/transactions/ds={DAY}/{VALIDATION.rsplit('/', 1)[1]}::$DATA", NOT_A_REPORT),
    ("~root/.aws/credentials", NOT_A_REPORT),
    ("C:%5cWindows%5cwin.ini", BAD),
    # traversal: raw, percent-encoded, double-encoded (decoded once, so not traversal but not a report)
    (f"reports/../curated/transactions/ds={DAY}/part-0.parquet", BAD),
    ("reports/validation/../../../../etc/passwd", BAD),
    ("../../etc/passwd", BAD),
    (f"reports/./validation/transactions/ds={DAY}/validation.json", BAD),
    (f"reports/%2e%2e/curated/transactions/ds={DAY}/part-0.parquet", BAD),
    ("reports%2f..%2f..%2fetc%2fpasswd", BAD),
    ("%2e%2e%2f%2e%2e%2fetc%2fpasswd", BAD),
    (f"reports/%252e%252e/curated/transactions/ds={DAY}/part-0.parquet", NOT_A_REPORT),
    ("%252e%252e%252f%252e%252e%252fetc%252fpasswd", NOT_A_REPORT),
    ("reports/%ef%bc%8e%ef%bc%8e/etc/passwd", NOT_A_REPORT),  # fullwidth dots
    # absolute keys, backslashes, empty segments
    ("/etc/passwd", BAD),
    ("%2fetc%2fpasswd", BAD),
    ("reports\\..\\curated\\x.json", BAD),
    ("reports%5c..%5ccurated%5cx.json", BAD),
    ("", BAD),
    ("/", BAD),
    (f"reports//validation/transactions/ds={DAY}/validation.json", BAD),
    (f"reports/validation/transactions/ds={DAY}/", BAD),
    # NUL and other control characters
    (f"{VALIDATION}%00", BAD),
    (f"{VALIDATION}%00.html", BAD),
    ("reports/%00", BAD),
    ("%00", BAD),
    ("reports/validation%0a", BAD),
    ("reports/%0d%0aSet-Cookie:%20x=y", BAD),
    ("reports/%1b[31m.json", BAD),
    ("reports/%7f", BAD),
    ("reports/validation%0a%0a", BAD),
    (f"{VALIDATION}%0a", BAD),  # Starlette's own `path` would have served VALIDATION
    (f"reports/%0a{VALIDATION[8:]}", BAD),
    ("reports/%c2%85.json", BAD),  # C1 control (NEL)
    # very long keys
    ("reports/" + "a" * 300, BAD),
    (f"reports/validation/transactions/ds={DAY}/" + "a" * 300 + ".json", BAD),
    ("reports/" + "a" * 5000, BAD),
    ("a/" * 2500, BAD),
    ("reports/" + "a/" * 2500 + "x.json", BAD),
    # unicode, invalid UTF-8, bidi override
    (quote(f"reports/validation/tränsactions/ds={DAY}/validation.json"), NOT_A_REPORT),
    (quote("reports/validation/数据/ds=2026-03-04/报告.json"), NOT_A_REPORT),
    (quote("reports/" + "é" * 200), NOT_A_REPORT),
    (quote("reports/" + "é" * 300), BAD),
    ("reports/%ED%A0%80.json", NOT_A_REPORT),  # a UTF-16 surrogate: invalid UTF-8
    ("reports/%ff%fe.json", NOT_A_REPORT),
    (f"reports/validation/transactions/ds={DAY}/%e2%80%aenosj.json", NOT_A_REPORT),
]


def _routes() -> list[str]:
    """Every route path of the app, read from the app itself (a new route is walked without editing this)."""
    return sorted({route.path for route in create_app().routes if hasattr(route, "path")})


ROUTES = _routes()
REPORT_ROUTE = f"/reports/{{key:{LAKE_KEY_CONVERTOR}}}"


def _fill(route: str, raw: str) -> str:
    """The route with ``raw`` as each of its path parameters, or appended when it has none."""
    if "{" in route:
        return re.sub(r"\{[^}]*\}", lambda _: raw, route)
    return f"{route.rstrip('/')}/{raw}"


_LOOP_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="asgi")


def _get(app, raw_path: str) -> tuple[int, bytes, dict[str, str]]:
    """GET ``raw_path`` on the ASGI app as uvicorn passes it on: percent-decoded once, nothing normalised."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # in a thread of its own: a session-scoped Playwright (tests/browser, collected first) keeps an event loop
    # running in the main thread for the rest of the session, and asyncio.run() refuses to nest in it
    _LOOP_THREAD.submit(asyncio.run, app(scope, receive, send)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], body, headers


def _logged_in(app):
    from airflow.api_fastapi.core_api.security import get_user

    app.dependency_overrides[get_user] = lambda: SimpleNamespace(get_name=lambda: "ops")
    return app


def _write_config(path, lake_root: str) -> str:
    path.write_text(json.dumps({"lake": {"root": lake_root}}))  # JSON is YAML
    return str(path)


@pytest.fixture(scope="module", params=["local", "s3"])
def lake(request, tmp_path_factory):
    """A lake holding REPORTS and OTHER_FILES, local or on S3 (moto), with ``MLOPS_CONFIG`` pointing at it."""
    from include.mlops.data.lake import Lake

    tmp = tmp_path_factory.mktemp(f"lake_{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "local":
            root, ctx, client = str(tmp / "lake"), None, None
        else:
            import boto3
            from moto import mock_aws

            for name, value in {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws"}),
            }.items():
                mp.setenv(name, value)
            for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
                mp.delenv(name, raising=False)
            ctx = mock_aws()
            ctx.start()
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket="mlops-lake")
            root = "s3://mlops-lake/prod/lake"
        mp.setenv("MLOPS_CONFIG", _write_config(tmp / "mlops.yaml", root))
        storage = Lake.at(root, client).storage
        for key, (data, _) in REPORTS.items():
            storage.write_bytes(key, data)
        for key, data in OTHER_FILES.items():
            storage.write_bytes(key, data)
        try:
            yield SimpleNamespace(kind=request.param, root=root)
        finally:
            if ctx is not None:
                ctx.stop()


def test_the_walk_covers_the_reports_route():
    assert REPORT_ROUTE in ROUTES, ROUTES


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("raw", "expected"), HOSTILE, ids=lambda v: v[:40] if isinstance(v, str) else str(v))
def test_hostile_paths_never_answer_5xx(lake, route, raw, expected):
    path = _fill(route, raw)
    app = create_app()
    anonymous, _, _ = _get(app, path)
    assert anonymous in {401, 403, 404}, (path[:120], anonymous)
    if route == REPORT_ROUTE:
        assert anonymous == 401  # the login check comes first, before anything about the key is said

    status, body, headers = _get(_logged_in(app), path)
    assert status in {400, 401, 403, 404}, (path[:120], status, body[:300])
    if route == REPORT_ROUTE:
        assert status == expected, (path[:120], status, body[:300])
        detail = json.loads(body)["detail"]
        assert len(detail) < 400, detail  # short, and never the whole hostile key echoed back
        prefixes = ("malformed report key:",) if status == 400 else ("not a report:", "no report at")
        assert detail.startswith(prefixes), detail
        assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("key", sorted(REPORTS))
def test_a_real_report_is_served_with_its_content(lake, key):
    data, media_type = REPORTS[key]
    app = create_app()
    assert _get(app, f"/reports/{key}")[0] == 401
    status, body, headers = _get(_logged_in(app), f"/reports/{quote(key, safe='/=')}")
    assert (status, body, headers["content-type"]) == (200, data, media_type)


def test_a_key_at_the_length_limit_is_looked_up_and_one_over_is_malformed(lake):
    app = _logged_in(create_app())
    prefix = f"reports/validation/transactions/ds={DAY}/"
    at_limit = prefix + "a" * (MAX_KEY_LENGTH - len(prefix) - len(".json")) + ".json"
    assert len(at_limit) == MAX_KEY_LENGTH
    status, body, _ = _get(app, f"/reports/{at_limit}")
    assert status == 404 and json.loads(body)["detail"].startswith("no report at")
    status, body, _ = _get(app, f"/reports/{at_limit[:-5]}a.json")
    assert status == 400 and "too long" in json.loads(body)["detail"]


def _client_error(code: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, "GetObject")


def _not_found_errors():
    return [
        FileNotFoundError(errno.ENOENT, "no such file"),
        IsADirectoryError(errno.EISDIR, "is a directory"),
        NotADirectoryError(errno.ENOTDIR, "not a directory"),
        OSError(errno.ENAMETOOLONG, "file name too long"),
        _client_error("NoSuchKey"),
        _client_error("404"),
    ]


def _lake_errors():
    from botocore.exceptions import EndpointConnectionError

    return [
        PermissionError(errno.EACCES, "permission denied"),
        OSError(errno.EIO, "input/output error"),
        _client_error("AccessDenied"),
        _client_error("SlowDown"),
        EndpointConnectionError(endpoint_url="https://s3.example"),
        RuntimeError("anything else the storage raises"),
    ]


class _FailingStorage:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def uri(self, key: str) -> str:
        return f"s3://bucket/{key}"

    def read_bytes(self, key: str) -> bytes:
        raise self.exc


@pytest.mark.parametrize("exc", _not_found_errors(), ids=lambda e: type(e).__name__ + str(getattr(e, "errno", "")))
def test_a_read_that_finds_no_file_is_a_404(monkeypatch, exc):
    monkeypatch.setattr(reports_app, "open_lake", lambda pipeline=None: SimpleNamespace(storage=_FailingStorage(exc)))
    status, body, _ = _get(_logged_in(create_app()), f"/reports/{VALIDATION}")
    assert status == 404 and json.loads(body)["detail"] == (
        f"no report at s3://bucket/{VALIDATION}: the task may not have written it yet"
    )


@pytest.mark.parametrize("exc", _lake_errors(), ids=lambda e: type(e).__name__)
def test_an_unreadable_lake_is_a_logged_503_not_a_500(monkeypatch, exc):
    log = mock.Mock()
    monkeypatch.setattr(reports_app, "log", log)
    monkeypatch.setattr(reports_app, "open_lake", lambda pipeline=None: SimpleNamespace(storage=_FailingStorage(exc)))
    status, body, _ = _get(_logged_in(create_app()), f"/reports/{VALIDATION}")
    assert status == 503, body
    detail = json.loads(body)["detail"]
    assert detail == f"the lake could not be read for {VALIDATION}; the API server log has the cause"
    log.exception.assert_called_once()


def test_a_broken_lake_configuration_is_a_logged_503(monkeypatch, tmp_path):
    log = mock.Mock()
    monkeypatch.setattr(reports_app, "log", log)
    monkeypatch.setenv("MLOPS_CONFIG", str(tmp_path / "missing.yaml"))
    status, body, _ = _get(_logged_in(create_app()), f"/reports/{VALIDATION}")
    assert status == 503
    assert json.loads(body)["detail"] == (
        f"the lake could not be opened for {VALIDATION}; the API server log has the cause"
    )
    log.exception.assert_called_once()


def test_the_plugin_mount_answers_as_the_app_does(lake):
    """Through the plugin's entry (``/mlops``, a lazy app mounted as Airflow's API server mounts it)."""
    from fastapi import FastAPI
    from mlops_plugin import MlopsPlugin

    from mlops_airflow.reports_app import LazyReportsApp

    (entry,) = MlopsPlugin.fastapi_apps
    assert isinstance(entry["app"], LazyReportsApp)
    lazy, server = LazyReportsApp(), FastAPI()  # a fresh one: the plugin's own instance keeps no override
    server.mount(entry["url_prefix"], lazy)
    assert _get(server, f"/mlops/reports/{VALIDATION}")[0] == 401  # builds the lazy app too
    _logged_in(lazy._app)
    assert _get(server, f"/mlops/reports/{VALIDATION}")[:2] == (200, REPORTS[VALIDATION][0])
    assert _get(server, "/mlops/reports/reports/validation")[0] == 404
    assert _get(server, "/mlops/reports/reports/" + "a" * 300)[0] == 400
    assert _get(server, f"/mlops/reports/{VALIDATION}%00")[0] == 400
    assert _get(server, f"/mlops/reports/{VALIDATION}%0a")[0] == 404  # Starlette's Mount: no route, before the app
    assert _get(server, "/mlops/reports/reports/../curated/x.json")[0] == 400
    status, body, _ = _get(server, "/mlops/openapi.json")
    assert status == 200 and "/reports/{key}" in json.loads(body)["paths"]


def test_the_walk_through_the_plugin_mount_never_answers_5xx(lake):
    """The whole walk again under ``/mlops`` as the API server mounts the app (one test: it is the same
    app, only Starlette's Mount in front, which answers 404 itself for a path with a newline)."""
    from fastapi import FastAPI

    from mlops_airflow.reports_app import LazyReportsApp

    lazy, server = LazyReportsApp(), FastAPI()
    server.mount("/mlops", lazy)
    assert _get(server, f"/mlops/reports/{VALIDATION}")[0] == 401
    _logged_in(lazy._app)
    wrong = []
    for route in ROUTES:
        for raw, expected in HOSTILE:
            status = _get(server, "/mlops" + _fill(route, raw))[0]
            if route == REPORT_ROUTE and "%0a" not in raw.lower():
                ok = status == expected
            else:
                ok = status in {400, 401, 403, 404}
            if not ok:
                wrong.append((route, raw[:80], status))
    assert not wrong, wrong
