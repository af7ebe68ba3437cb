"""The compose smoke test: the image built and docker-compose.yaml run on podman, driven over REST as a user would.

Steps on one compose project (``mlops-smoke``), in file order (the root conftest keeps it under pytest-randomly);
a step whose predecessor failed fails at once, naming it:

a. deploy/podman/build-images.sh builds the stand-in images and the project image (the Dockerfile unchanged apart
   from its base; the build compiles the code and runs the DAG integrity check);
b. ``podman-compose up -d``: airflow-init migrates and creates the admin, the pool and checks the connections; the
   API server, scheduler, DAG processor and triggerer are healthy; the six DAGs parse without import errors;
c. over REST, ``ingest_and_validate`` for eleven days and ``train_and_promote`` on the first four (whose labels,
   7 days late, the others landed) succeed; the curated days are objects on the S3 stand-in and the registered
   version's model artifacts are in MLflow's bucket there;
d. ``--scale airflow-worker=2``: the tasks of three more ingestion runs land on both workers (task hostnames);
e. the stack's Prometheus scrapes ``/mlops/metrics`` with the secret token (target up), which refuses a scrape
   without it;
f. ``down`` then ``up``: the runs (metadata), the lake and the registry are still there (named volumes);
g. ``down -v`` leaves no container, pod, volume or network of the project.

The module fixture removes everything of the project by name before and after, even when a step failed. Each
phase's time goes to test-artifacts/compose-smoke.json (the issue's figures: image build, start to healthy, REST
runs, image size).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_dev.compose import (
    BUILD_SCRIPT,
    ComposeProject,
    ComposeStack,
    compose_stack,
    metrics_token,
    podman_missing,
    run,
)
from mlops_dev.services import wait_until
from mlops_dev.stack import DATASET, MODEL_NAME, ROOT

pytestmark = pytest.mark.containers

PROJECT = "mlops-smoke"
LAKE_BUCKET, MLFLOW_BUCKET = "mlops-lake", "mlops-mlflow"  # include/config/mlops.compose.yaml, minio-init
INGEST, TRAIN = "ingest_and_validate", "train_and_promote"
# Step c trains on TRAINED; the compose config's labels arrive 7 days late (dataset.label_delay_days), so the
# ingestion runs on the 7 days after them land their labels. Step d ingests MORE_DAYS on two workers.
LABEL_DELAY = 7
TRAINED = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(4)]
DAYS = [TRAINED[0] + dt.timedelta(days=i) for i in range(len(TRAINED) + LABEL_DELAY)]
MORE_DAYS = [DAYS[-1] + dt.timedelta(days=i) for i in range(1, 4)]
EXPECTED_DAGS = {"drift_monitor", INGEST, "review_shadow", "rollback_champion", "score_batch", TRAIN}
IMAGES = (
    "localhost/airflow-mlops:local",
    "localhost/mlops-postgres-standin:bookworm",
    "localhost/mlops-redis-standin:bookworm",
    "localhost/mlops-s3-standin:bookworm",
    "localhost/mlops-prometheus-standin:bookworm",
)
ARTIFACTS = ROOT / "test-artifacts" / "compose-smoke.json"


@pytest.fixture(scope="module")
def project() -> Iterator[ComposeProject]:
    missing = podman_missing()
    if missing:
        pytest.fail(f"the compose smoke test needs podman: {missing}")
    volumes_before = set(run(["podman", "volume", "ls", "--format", "{{.Name}}"], timeout=60).split())
    with tempfile.TemporaryDirectory(prefix="mlops-smoke-") as workdir, contextlib.contextmanager(metrics_token)():
        proj = ComposeProject.create(PROJECT, Path(workdir))
        proj.remove_everything()  # a crashed earlier run's leftovers
        proj.settings["_volumes_before"] = " ".join(sorted(volumes_before))
        try:
            yield proj
        finally:
            proj.remove_everything()
            ARTIFACTS.parent.mkdir(exist_ok=True)
            ARTIFACTS.write_text(json.dumps({"timings_s": proj.timings, **_figures(proj)}, indent=2) + "\n")


@pytest.fixture(scope="module")
def stack(project: ComposeProject) -> ComposeStack:
    return compose_stack(project)


_failed: list[str] = []


@pytest.fixture(autouse=True)
def _in_order(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each step needs the ones before it: after a failure, the later steps fail at once, naming it."""
    if _failed:
        pytest.fail(f"not run: the earlier step {_failed[0]} failed", pytrace=False)
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        _failed.append(request.node.name)


def _figures(project: ComposeProject) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        size = run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGES[0]], timeout=60).strip()
        out["project_image_bytes"] = int(size)
    return out


# -- helpers -----------------------------------------------------------------------------------------------------


def _wait_healthy(stack: ComposeStack, timeout: float = 600) -> None:
    """The API server answers and reports the metadata DB, scheduler, triggerer and DAG processor healthy, and the
    admin airflow-init created can log in."""

    def healthy() -> bool:
        body = stack.api("GET", "/api/v2/monitor/health", auth=False).json()
        return all(
            body.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    try:
        wait_until(healthy, timeout, 3, "the compose stack to be healthy")
        stack._token = None
        wait_until(stack.token, 120, 3, "the admin to log in")
    except TimeoutError:
        pytest.fail("the stack did not become healthy\n" + stack.diagnostics(), pytrace=False)


def _trigger(stack: ComposeStack, dag_id: str, run_id: str, conf: dict[str, Any]) -> str:
    r = stack.api(
        "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}
    )
    assert r.status_code in (200, 201), (dag_id, r.status_code, r.text)
    return r.json()["dag_run_id"]


def _ingest(stack: ComposeStack, days: list[dt.date], prefix: str) -> list[str]:
    run_ids = [_trigger(stack, INGEST, f"{prefix}_{day}", {"ds": str(day)}) for day in days]
    stack.assert_success(INGEST, stack.wait_for_runs(INGEST, run_ids, timeout=1200))
    return run_ids


def _curated_key(day: dt.date) -> str:
    return f"lake/curated/{DATASET}/ds={day}/part-0.parquet"


def _versions(stack: ComposeStack) -> list[dict[str, Any]]:
    import requests

    r = requests.get(
        f"{stack.mlflow_url}/api/2.0/mlflow/model-versions/search",
        params={"filter": f"name='{MODEL_NAME}'"},
        timeout=30,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json().get("model_versions", [])


def _model_id(version: dict[str, Any]) -> str:
    """The logged model (``m-<hex>``) a registered version points at: its artifacts are under it in the bucket."""
    found = re.search(r"\bm-[0-9a-f]{16,}\b", version["source"])
    assert found, version
    return found.group(0)


# -- the steps ---------------------------------------------------------------------------------------------------


def test_a_images_build(project: ComposeProject):
    start = time.monotonic()
    out = run(["bash", str(BUILD_SCRIPT)], timeout=2400)
    project.timings["build_images"] = round(time.monotonic() - start, 1)
    project.timings.update(
        {
            f"build {line.split()[1]}": float(line.split()[-1].rstrip("s"))
            for line in out.splitlines()
            if line.startswith("built ")
        }
    )
    for image in IMAGES:
        assert run(["podman", "image", "exists", image], timeout=60, check=False) == "", image
    pin = next(
        line.split("==")[1]
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.startswith("apache-airflow==")
    )
    probe = run(
        ["podman", "run", "--rm", "-e", "CONNECTION_CHECK_MAX_COUNT=0", IMAGES[0], "bash", "-c",
         'id -u; id -g; echo "$AIRFLOW_HOME"; airflow version; python -c "import pytest" 2>&1 | tail -1'],
        timeout=300,
    ).split("\n")  # fmt: skip
    uid, gid, home, version, no_pytest = (line.strip() for line in probe[:5])
    assert (uid, gid, home) == ("50000", "0", "/opt/airflow")
    assert version == pin, probe
    assert "No module named 'pytest'" in no_pytest, "the integrity check's pytest stayed in the image"


def test_b_stack_comes_up(project: ComposeProject, stack: ComposeStack):
    project.timed("up", "up", "-d")
    start = time.monotonic()

    def init_exited() -> dict[str, Any] | None:
        found = project.containers("airflow-init")
        return found[0] if found and found[0]["State"] == "exited" else None

    init = wait_until(init_exited, 900, 3, "airflow-init to finish", ignore=())
    logs = project.logs("airflow-init", tail=200)
    assert init["ExitCode"] == 0, logs
    for line in ("Pool mlops_promotion", "connection mlflow_default: ok", "connection aws_default: ok"):
        assert line in logs, (line, logs)
    _wait_healthy(stack)
    project.timings["start_to_healthy"] = round(time.monotonic() - start + project.timings["up"], 1)
    dags = stack.api("GET", "/api/v2/dags", params={"limit": 100}).json()
    assert {d["dag_id"] for d in dags["dags"]} == EXPECTED_DAGS
    assert stack.api("GET", "/api/v2/importErrors").json()["total_entries"] == 0
    pool = stack.api("GET", "/api/v2/pools/mlops_promotion").json()
    assert pool["slots"] == 1, pool
    assert {b["Name"] for b in stack.s3().list_buckets()["Buckets"]} >= {LAKE_BUCKET, MLFLOW_BUCKET}


def test_c_ingest_and_train_over_rest(project: ComposeProject, stack: ComposeStack):
    start = time.monotonic()
    for dag_id in (INGEST, TRAIN):
        stack.unpause(dag_id)
    _ingest(stack, DAYS, "smoke_ingest")
    project.timings[f"rest_ingest_{len(DAYS)}_days"] = round(time.monotonic() - start, 1)
    lake = stack.list_keys(LAKE_BUCKET, "lake/curated/")
    assert {_curated_key(d) for d in DAYS} <= set(lake), sorted(lake)
    assert all(lake[_curated_key(d)]["Size"] > 0 for d in DAYS)

    start = time.monotonic()
    window_end = str(DAYS[-1] + dt.timedelta(days=1))  # the window ends label_delay_days before: on TRAINED[-1]
    conf = {"window_end": window_end, "window_days": len(TRAINED), "holdout_days": 1, "reason": "compose smoke test"}
    run_id = _trigger(stack, TRAIN, "smoke_train", conf)
    stack.assert_success(TRAIN, stack.wait_for_runs(TRAIN, [run_id], timeout=1800))
    project.timings["rest_train_and_promote"] = round(time.monotonic() - start, 1)

    versions = _versions(stack)
    assert versions, "train_and_promote succeeded but registered no model version"
    model_id = _model_id(versions[0])
    artifacts = [k for k in stack.list_keys(MLFLOW_BUCKET) if model_id in k]
    assert any(k.endswith("/MLmodel") for k in artifacts), (model_id, artifacts[:20])


def test_d_tasks_land_on_two_workers(project: ComposeProject, stack: ComposeStack):
    project.timed("scale_workers_to_2", "up", "-d", "--scale", "airflow-worker=2")

    def two_workers() -> dict[str, str] | None:
        found = project.hostnames("airflow-worker")
        return found if len(found) == 2 else None

    workers = wait_until(two_workers, 300, 3, "two running workers", ignore=())

    def ready() -> bool:
        return all(" ready." in project.logs("airflow-worker", tail=400).split(f"--- {name} ")[-1] for name in workers)

    wait_until(ready, 600, 3, "both Celery workers ready")
    run_ids = _ingest(stack, MORE_DAYS, "smoke_scaled")
    hosts: dict[str, list[str]] = {}
    for run_id in run_ids:
        tis = stack.api("GET", f"/api/v2/dags/{INGEST}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
        for ti in tis:
            hosts.setdefault(ti["hostname"], []).append(f"{run_id}.{ti['task_id']}")
    assert set(workers.values()) <= set(hosts), {"workers": workers, "task hosts": hosts}


def test_e_prometheus_scrapes_the_metrics_with_the_token(project: ComposeProject, stack: ComposeStack):
    import requests

    prometheus = f"http://127.0.0.1:{project.settings['PROMETHEUS_PORT']}"

    def mlops_target() -> dict[str, Any] | None:
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        found = [t for t in targets if t["labels"].get("job") == "mlops"]
        return found[0] if found and found[0]["health"] == "up" else None

    try:
        target = wait_until(mlops_target, 300, 3, "prometheus to scrape /mlops/metrics")
    except TimeoutError:
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=10).json()
        pytest.fail(f"job mlops never up: {json.dumps(targets)[:3000]}\n{project.logs('prometheus')}", pytrace=False)
    assert target["scrapeUrl"].endswith("/mlops/metrics"), target
    r = requests.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="mlops"}'}, timeout=10).json()
    assert [s["value"][1] for s in r["data"]["result"]] == ["1"], r
    assert stack.api("GET", "/mlops/metrics", auth=False).status_code == 401


def test_f_down_and_up_keep_metadata_lake_and_registry(project: ComposeProject, stack: ComposeStack):
    runs_before = {
        r["dag_run_id"]
        for r in stack.api("GET", f"/api/v2/dags/{INGEST}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    }
    lake_before = set(stack.list_keys(LAKE_BUCKET, "lake/"))
    versions_before = {v["version"] for v in _versions(stack)}
    # --remove-orphans: podman-compose 1.6's down removes only the replicas the file declares, not the --scale'd one
    project.timed("down", "down", "--remove-orphans", "-t", "30")
    assert project.containers() == []
    project.timed("up_again", "up", "-d")
    start = time.monotonic()
    _wait_healthy(stack)
    project.timings["up_again_to_healthy"] = round(time.monotonic() - start + project.timings["up_again"], 1)
    runs_after = {
        r["dag_run_id"]
        for r in stack.api("GET", f"/api/v2/dags/{INGEST}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    }
    assert runs_before <= runs_after
    assert lake_before <= set(stack.list_keys(LAKE_BUCKET, "lake/"))
    assert versions_before and versions_before <= {v["version"] for v in _versions(stack)}
    model_id = _model_id(_versions(stack)[0])
    mlmodel = next(k for k in stack.list_keys(MLFLOW_BUCKET) if model_id in k and k.endswith("/MLmodel"))
    assert b"flavors" in stack.s3().get_object(Bucket=MLFLOW_BUCKET, Key=mlmodel)["Body"].read()


def test_g_down_v_leaves_nothing(project: ComposeProject):
    project.timed("down_v", "down", "-v", "--remove-orphans", "-t", "30")
    assert project.leftovers() == {"containers": [], "pods": [], "volumes": [], "networks": []}
    volumes_now = set(run(["podman", "volume", "ls", "--format", "{{.Name}}"], timeout=60).split())
    assert volumes_now <= set(project.settings["_volumes_before"].split()), "anonymous volumes left behind"
