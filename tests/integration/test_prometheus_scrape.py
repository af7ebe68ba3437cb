"""A real Prometheus scrapes the stack's API server at ``/mlops/metrics`` and holds what the lake and the registry hold.

Prometheus is Debian's ``prometheus`` (``make monitoring-deps``), started on a free port with the shipped scrape job
(``include/monitoring/prometheus.yml``, job ``mlops``) pointed at the stack's API server, every second, its bearer
token in a temp file (mode 600): the API server's ``MLOPS_METRICS_TOKEN``, generated per session by ``conftest.py``.
Two more jobs scrape the same URL with a wrong token and with none: both must be refused.

Runs after ``test_distributed_pipeline.py`` and ``test_kill_recovery.py`` (file order; one shared stack): by then the
lake holds the ingested days and the drift-checked days, and the registry a champion. What Prometheus holds is
compared with what the library reads directly (``Lake.at``, ``MlflowClient``). Without prometheus on PATH the file
fails (``MLOPS_SKIP_PROMTOOL=1`` skips it). About 15-30 s on top of the stack.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_dev.services import free_port, spawn, stop_process_group, tail, wait_until
from tests.integration.conftest import DATASET, LAKE_ROOT, MODEL_NAME, Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_CONFIG = ROOT / "include" / "monitoring" / "prometheus.yml"
JOB, WRONG, ANONYMOUS = "mlops", "mlops_wrong_token", "mlops_anonymous"
SERIES = f'job="{JOB}",dataset="{DATASET}"'


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query (fails on a query error)."""
    query = urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:  # 400 for a bad expression: its body says why
        answer = json.load(exc)
    assert answer.get("status") == "success", (expr, answer)
    return answer["data"]["result"]


def _value(url: str, expr: str) -> float:
    """The one value of ``expr``: the newest scraped sample within 5 minutes. A range selector skips the stale
    markers a timed-out scrape leaves (the endpoint's uncached first answer may take longer than the 1 s timeout)."""
    result = _query(url, f"last_over_time({expr}[5m])")
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def _targets(url: str) -> dict[str, dict[str, Any]]:
    """job -> its one active target (health, lastError, scrapeUrl)."""
    with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=10) as response:
        targets = json.load(response)["data"]["activeTargets"]
    return {t["labels"]["job"]: t for t in targets}


def _write_secret(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("MLOPS_SKIP_PROMTOOL") == "1":
            pytest.skip("prometheus not on PATH and MLOPS_SKIP_PROMTOOL=1")
        pytest.fail("prometheus not on PATH: `make monitoring-deps` installs Debian's prometheus")
    assert stack.metrics_token, "conftest.py gives the API server a MLOPS_METRICS_TOKEN"
    work = tmp_path_factory.mktemp("prometheus")
    target = stack.api_url.removeprefix("http://")
    (shipped,) = [j for j in yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"] if j["job_name"] == JOB]

    def job(name: str, token_file: Path | None) -> dict[str, Any]:
        """The shipped job, scraping the stack's API server every second with ``token_file`` (None: no token)."""
        out = copy.deepcopy(shipped)
        out.update(job_name=name, scrape_interval="1s", static_configs=[{"targets": [target]}])
        if token_file is None:
            out.pop("authorization")
        else:
            out["authorization"]["credentials_file"] = str(token_file)
        return out

    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            job(JOB, _write_secret(work / "token", stack.metrics_token)),
            job(WRONG, _write_secret(work / "wrong-token", secrets.token_urlsafe(32))),
            job(ANONYMOUS, None),
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port, log = free_port(), work / "prometheus.log"
    proc = spawn(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        os.environ,
        log,
        cwd=work,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _query(url, f'up{{job="{JOB}"}} == 1'),
            timeout=90,
            interval=0.5,
            what=f"prometheus scraping {stack.api_url}/mlops/metrics",
            procs={"prometheus": proc},
            details=lambda: f"--- prometheus\n{tail(log)}\n{stack.diagnostics()}",
        )
        yield url
    finally:
        stop_process_group(proc, grace=10)


def test_a_prometheus_scrapes_the_project_metrics_with_the_token(stack: Stack, prometheus: str):
    # up is 0 for a scrape that timed out (an uncached answer may take longer than the 1 s timeout): the next is 1
    wait_until(lambda: _query(prometheus, f'up{{job="{JOB}"}} == 1'), 30, 0.5, f"up{{job={JOB!r}}} == 1", ignore=())
    target = _targets(prometheus)[JOB]
    assert target["scrapeUrl"] == f"{stack.api_url}/mlops/metrics", target
    for source in ("lake", "registry"):  # the endpoint read both: S3 (moto) and the MLflow server
        assert _value(prometheus, f'mlops_health_source_up{{job="{JOB}",source="{source}"}}') == 1, source


def test_b_prometheus_holds_what_the_lake_and_the_registry_hold(stack: Stack, prometheus: str, request):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from include.mlops.data.lake import Lake
    from include.mlops.monitor.health import day_timestamp

    lake = Lake.at(LAKE_ROOT, s3_client=stack.s3())
    curated = lake.list_partitions("curated", DATASET)
    drift_days = sorted(
        key.split("/")[3].removeprefix("ds=")
        for key in lake.storage.list(f"reports/drift/{DATASET}/")
        if key.endswith("/summary.json")
    )
    try:
        # registry_uri explicitly: earlier tests in the session set MLflow's process-wide registry URI to their store
        client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException:
        champion = None
    if not (curated and drift_days and champion):
        missing = f"curated days {len(curated)}, drift days {len(drift_days)}, champion {champion is not None}"
        if any("test_distributed_pipeline.py" in item.nodeid for item in request.session.items):
            pytest.fail(f"test_distributed_pipeline.py ran in this session, yet the stack lacks its state: {missing}")
        pytest.skip(f"needs the ingestion, promotion and drift days of test_distributed_pipeline.py ({missing})")

    # freshness: the newest published day, its rows and its age
    latest = max(curated)
    scraped = _value(prometheus, f"mlops_latest_published_day_timestamp_seconds{{{SERIES}}}")
    assert scraped == day_timestamp(latest), (scraped, latest)
    rows = lake.partition_info("curated", DATASET, latest).rows
    assert _value(prometheus, f"mlops_latest_published_day_rows{{{SERIES}}}") == rows
    assert _value(prometheus, f"mlops_published_days{{{SERIES}}}") == len(curated)
    age = _value(prometheus, f"mlops_latest_published_day_age_seconds{{{SERIES}}}")
    expected_age = time.time() - (day_timestamp(latest) + 86400)
    assert expected_age - 300 <= age <= expected_age, (age, expected_age)  # collected within the last 5 minutes

    # drift: the newest checked day and its share of drifted columns
    checked = drift_days[-1]
    summary = lake.read_json(lake.report_key("drift", DATASET, checked, "summary.json"))
    drift = f'{SERIES},model="{MODEL_NAME}"'
    assert _value(prometheus, f"mlops_drift_latest_checked_day_timestamp_seconds{{{drift}}}") == day_timestamp(checked)
    assert _value(prometheus, f"mlops_drift_share_ratio{{{drift}}}") == float(summary["drift_share"]), summary
    assert _value(prometheus, f"mlops_drift_detected{{{drift}}}") == (1 if summary["drifted"] else 0), summary

    # registry: the champion alias
    assert _value(prometheus, f"mlops_champion_present{{{drift}}}") == 1
    assert _value(prometheus, f"mlops_champion_version{{{drift}}}") == int(champion.version), champion


def test_c_a_wrong_token_and_no_token_are_refused(stack: Stack, prometheus: str):
    import requests

    def refused() -> dict[str, dict[str, Any]] | None:
        targets = _targets(prometheus)
        done = all(targets[j]["health"] == "down" and targets[j]["lastError"] for j in (WRONG, ANONYMOUS))
        return targets if done else None

    targets = wait_until(refused, 30, 0.5, "the wrong-token and anonymous scrapes to fail", ignore=())
    assert "403" in targets[WRONG]["lastError"] or "401" in targets[WRONG]["lastError"], targets[WRONG]
    assert "401" in targets[ANONYMOUS]["lastError"], targets[ANONYMOUS]
    for job in (WRONG, ANONYMOUS):
        assert _query(prometheus, f'up{{job="{job}"}}')[0]["value"][1] == "0", job
        assert not _query(prometheus, f'{{job="{job}",__name__=~"mlops_.+"}}'), f"{job} got metrics"

    url = f"{stack.api_url}/mlops/metrics"
    wrong = requests.get(url, headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}, timeout=30)
    assert wrong.status_code in (401, 403), (wrong.status_code, wrong.text[:300])
    anonymous = requests.get(url, timeout=30)
    assert anonymous.status_code == 401, (anonymous.status_code, anonymous.text[:300])
    for response in (wrong, anonymous):
        assert "mlops_" not in response.text, response.text[:300]
    right = requests.get(url, headers={"Authorization": f"Bearer {stack.metrics_token}"}, timeout=30)
    assert right.status_code == 200 and "mlops_health_source_up" in right.text, (right.status_code, right.text[:300])
