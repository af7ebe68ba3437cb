"""``GET /mlops/metrics`` on the plugin app: never anonymous, the scrape token in constant time, Prometheus text."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from mlops_airflow import metrics
from mlops_airflow.reports_app import create_app

TOKEN = "test-scrape-token-not-a-secret"


@pytest.fixture
def client(make_config, monkeypatch):
    from fastapi.testclient import TestClient

    from include.mlops.data.ingest import publish
    from include.mlops.data.lake import Lake

    cfg = make_config()
    lake = Lake.at(cfg.lake_root)
    lake.write_partition("landing", cfg.dataset.name, dt.date(2026, 3, 10), pd.DataFrame({"x": [1, 2, 3]}))
    publish(cfg, lake, dt.date(2026, 3, 10))
    monkeypatch.setenv(metrics.TOKEN_ENV, TOKEN)
    monkeypatch.setenv(metrics.CACHE_ENV, "30")
    # the API server's auth manager, which checks Airflow JWTs (as on the API server; restored after the test)
    from airflow.api_fastapi import app as api_app

    monkeypatch.setattr(api_app._AuthManagerState, "instance", None)
    api_app.create_auth_manager()
    return TestClient(create_app())


def test_anonymous_and_wrong_tokens_are_refused(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic " + TOKEN}).status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN + "x"})
    assert wrong.status_code in (401, 403)  # not the token, and not a valid Airflow JWT either
    assert "mlops_" not in wrong.text


def test_the_scrape_token_gets_prometheus_text(client, monkeypatch):
    calls = []
    real = metrics.produce
    monkeypatch.setattr(metrics, "produce", lambda: calls.append(1) or real())
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE mlops_latest_published_day_timestamp_seconds gauge" in response.text
    assert 'mlops_latest_published_day_rows{dataset="transactions"} 3.0' in response.text
    assert 'mlops_health_source_up{source="lake"} 1.0' in response.text
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert calls == [1]  # the second scrape within the cache period was served from the cache


def test_without_a_configured_token_only_an_airflow_login_gets_in(client, monkeypatch):
    monkeypatch.delenv(metrics.TOKEN_ENV)
    monkeypatch.setattr(metrics, "configured_token", lambda: None)  # no mlops_metrics connection either
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (401, 403)

    async def logged_in(request, credentials):
        return SimpleNamespace(get_name=lambda: "ops")

    monkeypatch.setattr(metrics, "airflow_user", logged_in)
    assert client.get("/metrics").status_code == 200


def test_the_token_can_come_from_the_mlops_metrics_connection(monkeypatch):
    monkeypatch.delenv(metrics.TOKEN_ENV, raising=False)
    conn = {"conn_type": "generic", "password": "from-conn"}  # pragma: allowlist secret
    monkeypatch.setenv("AIRFLOW_CONN_MLOPS_METRICS", json.dumps(conn))
    assert metrics.configured_token() == "from-conn"
    assert metrics.is_scrape_token("from-conn", metrics.configured_token())
    assert not metrics.is_scrape_token("from-con", "from-conn") and not metrics.is_scrape_token("x", None)
    assert metrics.bearer("Bearer  abc ") == "abc" and metrics.bearer("bearer abc") == "abc"
    assert metrics.bearer("Basic abc") is None and metrics.bearer(None) is None
