"""Every PromQL expression of the Grafana dashboard (include/monitoring/grafana/mlops.json) and of the alert rules
runs on a real Prometheus (Debian's `prometheus`, `make monitoring-deps`) that scraped this project's metrics.

The metrics are ``include.mlops.monitor.health`` on a small lake and a real (SQLite) registry, served by ``http.server``
on a free port; Prometheus scrapes it every second. Without prometheus the test fails (MLOPS_SKIP_PROMTOOL=1 skips it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml

from include.mlops.data.ingest import publish, quarantine
from include.mlops.data.lake import Lake
from include.mlops.monitor import health
from include.mlops.monitor.drift import REPORT_KIND, MonitorResult
from mlops_dev.services import free_port, spawn, stop_process_group, tail, wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "include" / "monitoring" / "grafana" / "mlops.json"
ALERTS = ROOT / "include" / "monitoring" / "alerts.yml"
DAY = dt.date(2026, 3, 10)
VARIABLES = {"$dataset": ".*", "$model": ".*"}  # each template variable's "All"


def _payload(cfg, mlflow_client) -> bytes:
    from include.mlops.model.registry import ensure_registered_model
    from include.mlops.promotion.aliases import promote

    lake = Lake.at(cfg.lake_root)
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0]})
    for offset in range(3):
        day = DAY - dt.timedelta(days=offset)
        lake.write_partition("landing", cfg.dataset.name, day, frame)
        publish(cfg, lake, day)
        result = MonitorResult(
            ds=day.isoformat(),
            model_name=cfg.model.name,
            champion_version="1",
            window={"start": day.isoformat(), "end": day.isoformat()},
            drift_share=0.5,
            drifted=True,
            drifted_columns=["amount"],
            top_columns=[{"column": "amount", "method": "psi", "threshold": 0.1, "score": 0.3, "drifted": True}],
            prediction_drift=False,
            prediction_score=0.02,
            performance={"metric": "average_precision", "current": 0.4},
        )
        lake.write_json(lake.report_key(REPORT_KIND, cfg.dataset.name, day, "summary.json"), result.as_dict())
    quarantine(cfg, lake, DAY - dt.timedelta(days=5), frame, {"success": False})
    name = cfg.model.name
    ensure_registered_model(mlflow_client, name)
    tags = {"evaluation.decision": "promote", "evaluation.challenger_value": "0.5"}
    version = str(mlflow_client.create_model_version(name, source="/nonexistent/model", tags=tags).version)
    promote(mlflow_client, name, version, None, promote_decision=True, reason="first", actor="test")
    import mlflow

    mlflow.set_tracking_uri(mlflow_client.tracking_uri)
    mlflow.set_experiment(cfg.mlflow.experiment)
    with mlflow.start_run(run_name="train"):  # a finished training run
        pass
    samples = health.collect(cfg, lake, mlflow_client)
    assert {"lake", "registry"} == {s.label_dict["source"] for s in samples if s.name == "mlops_health_source_up"}
    return health.render(samples)


@pytest.fixture
def prometheus(make_config, mlflow_client, tmp_path: Path):
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("MLOPS_SKIP_PROMTOOL") == "1":
            pytest.skip("prometheus not on PATH and MLOPS_SKIP_PROMTOOL=1")
        pytest.fail("prometheus not on PATH: `make monitoring-deps` installs Debian's prometheus")
    payload = _payload(make_config(), mlflow_client)

    class Exporter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", health.CONTENT_TYPE)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "mlops", "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_address[1]}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"
    proc = spawn(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        os.environ,
        log,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _query(url, 'count({__name__=~"mlops_.+"})')["data"]["result"],
            timeout=60,
            interval=0.5,
            what="prometheus scraping the exporter",
            procs={"prometheus": proc},
            details=lambda: tail(log),
        )
        yield url
    finally:
        stop_process_group(proc, grace=10)
        exporter.shutdown()


def _query(url: str, expr: str) -> dict:
    query = urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # 400 for a bad expression: its body says why
        return json.load(exc)


def _expand(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def test_every_panel_and_alert_expression_runs_on_prometheus(prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    assert {v["name"] for v in dashboard["templating"]["list"]} == {k[1:] for k in VARIABLES}
    for variable in dashboard["templating"]["list"]:  # label_values(metric, label): the metric must exist
        metric = variable["query"]["query"].removeprefix("label_values(").split(",")[0]
        assert _query(prometheus, metric)["data"]["result"], variable["name"]
    failures, empty = [], []
    for panel in dashboard["panels"]:
        shown = 0
        for target in panel["targets"]:
            answer = _query(prometheus, _expand(target["expr"]))
            if answer.get("status") != "success":
                failures.append((panel["title"], target["expr"], answer.get("error")))
            else:
                shown += bool(answer["data"]["result"])
        if not shown:
            empty.append(panel["title"])
    assert not failures, failures
    assert not empty, f"panels without data from the project's metrics: {empty}"

    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        answer = _query(prometheus, rule["expr"])
        assert answer.get("status") == "success", (rule["alert"], answer.get("error"))
