"""The distributed stack, started natively (no Docker): the integration suite's (its ``stack`` fixture), and the
backfill and Celery benchmarks' (scripts/bench_backfill.py, scripts/bench_pipeline.py --executor celery).

- S3: moto in server mode (a real HTTP endpoint), buckets ``mlops-it-lake`` and ``mlops-it-mlflow``;
- MLflow tracking server: PostgreSQL backend store, artifacts proxied to ``s3://mlops-it-mlflow``;
- Airflow 3 with the CeleryExecutor: PostgreSQL metadata DB, Redis broker (a DB of its own, ``redis_db()``),
  api-server, scheduler, dag-processor and one Celery worker (concurrency 2), each its own process group.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) and Redis (127.0.0.1:6379) are the machine's.
The databases are created with unique names and dropped at the end; only the claimed Redis DB is flushed.
The environment is built for the subprocesses only: the calling process's own env is never touched.
Importing this module has no side effect (the Redis DB is claimed on the first ``redis_db()`` call); standard
library only at import time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_dev.env import base_env, service_env
from mlops_dev.services import (
    ProcessExited,
    Services,
    free_port,
    http_ok,
    mlflow_server_command,
    stop_process_group,
    tail,
    tails,
    wait_until,
)


class StackFailed(AssertionError):
    """The stack did not come up, or a run on it did not end as expected; the message carries the log tails.
    An ``AssertionError``, so that in a test it fails the test (as ``pytest.fail`` did), and a plain error in a
    benchmark."""


ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else "python"

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@functools.cache
def redis_db() -> int:
    """A Redis DB (8..15) of this process's own, claimed on the first call (the claim expires after 4 h and is
    released at exit), so two stacks on one machine (a CI run beside a developer's) never share a Celery broker or
    flush each other's queues. ``MLOPS_IT_REDIS_DB`` pins one; 7 when Redis is down (``services_reachable`` says
    so)."""
    if os.environ.get("MLOPS_IT_REDIS_DB"):
        return int(os.environ["MLOPS_IT_REDIS_DB"])
    try:
        import redis

        claims = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0, socket_timeout=3)
        for db in range(8, 16):
            if claims.set(f"mlops-it:claim:db{db}", str(os.getpid()), nx=True, ex=4 * 3600):
                import atexit

                atexit.register(lambda key=f"mlops-it:claim:db{db}": claims.delete(key))
                return db
    except Exception:  # Redis down: services_reachable() says so
        pass
    return 7


LAKE_BUCKET, MLFLOW_BUCKET = "mlops-it-lake", "mlops-it-mlflow"
LAKE_ROOT = f"s3://{LAKE_BUCKET}/lake"
DATASET = "transactions"
MODEL_NAME = "fraud_detector"
S3_CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}

START_TIMEOUT = 240  # seconds, for any one service to become ready
# As in docker-compose.yaml and scripts/run_local.sh: Airflow's default ``^[A-Za-z0-9_.~:+-]+$`` is applied with
# re.match, so it accepts a run id with a trailing newline, and any length (the run_id column is 250 characters).
RUN_ID_PATTERN = r"^[A-Za-z0-9_.~:+-]{1,250}\Z"


def services_reachable() -> str | None:
    """Why the machine's PostgreSQL/Redis can't be used, or None."""
    try:
        import psycopg2

        psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} not reachable: {exc}"
    try:
        import redis

        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db(), socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis at {REDIS_HOST}:{REDIS_PORT} not reachable: {exc}"
    return None


def pg_admin(sql: str) -> None:
    """Run ``sql`` (CREATE/DROP DATABASE) on the machine's PostgreSQL as the admin user, autocommit."""
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def flush_redis() -> None:
    """Empty this process's Redis DB (``redis_db()``): the Celery broker's queues."""
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db(), socket_timeout=5).flushdb()


@dataclass
class Stack:
    home: Path
    api_url: str
    mlflow_url: str
    s3_url: str
    password: str
    logs: dict[str, Path]
    env: dict[str, str]
    # the API server's MLOPS_METRICS_TOKEN: the bearer a scrape of /mlops/metrics sends (test_prometheus_scrape.py)
    metrics_token: str = field(default="", repr=False)
    # the S3 endpoint's credentials (moto's accept any; the compose stack's S3 wants MINIO_ROOT_USER's)
    s3_creds: dict[str, str] = field(default_factory=lambda: dict(S3_CREDS), repr=False)
    admin_user: str = "admin"
    # name -> the running process (teardown stops whatever is in here, restarted processes included)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    # name -> (command, env) it was started with, and the fixture's launcher: what restart() reuses
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict, repr=False)
    launch: Callable[[str, list[str], dict[str, str]], subprocess.Popen] | None = field(default=None, repr=False)
    _token: str | None = field(default=None, repr=False)

    # -- S3 -------------------------------------------------------------------------------
    def s3(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_url, **self.s3_creds)

    def list_keys(self, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj
        return out

    def parquet_rows(self, bucket: str, key: str) -> int:
        import io

        import pyarrow.parquet as pq

        body = self.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        return pq.ParquetFile(io.BytesIO(body)).metadata.num_rows

    # -- REST -----------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            import requests

            r = requests.post(
                f"{self.api_url}/auth/token", json={"username": self.admin_user, "password": self.password}, timeout=30
            )
            assert r.status_code in (200, 201), (r.status_code, r.text)
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        import requests

        headers = kwargs.pop("headers", {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        return requests.request(method, f"{self.api_url}{path}", headers=headers, timeout=60, **kwargs)

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        """Service log tails and, for a run, its task states and task log tails."""
        parts = []
        if dag_id and run_id:
            with contextlib.suppress(Exception):
                r = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
                parts.append(
                    "task instances: "
                    + json.dumps([(t["task_id"], t["state"], t["try_number"]) for t in r.json()["task_instances"]])
                )
            for log in sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log"))[-6:]:
                parts.append(f"--- {log.relative_to(self.home)}\n{tail(log, 2500)}")
        for name, path in self.logs.items():
            parts.append(f"--- {name} ({path})\n{tail(path, 2000)}")
        return "\n".join(parts)

    # -- processes ------------------------------------------------------------------------
    def kill(self, name: str) -> list[int]:
        """SIGKILL service ``name`` and every process it started, as the loss of its host or container
        would: its own process group and the groups of all its descendants. The Task SDK supervisor puts
        each task runner in a process group of its own (so it can signal the task's subprocesses), so
        killing only the service's group would leave a running task behind as an orphan.

        The service's group is stopped (SIGSTOP) first, so nothing in it forks or exits while the tree
        is collected. Returns the pids killed; waits until they are all gone."""
        import psutil

        proc = self.procs[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} (pid {proc.pid}) already exited with {proc.returncode}; nothing to kill")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGSTOP)  # start_new_session: the leader's pid is its group id
        try:
            leader = psutil.Process(proc.pid)
            tree = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        groups = {proc.pid}
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                groups.add(os.getpgid(p.pid))
        groups.discard(os.getpgid(0))  # never our own group (pytest's)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for p in tree:  # anything that had left the groups above
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(tree, timeout=30)
        if alive:
            raise RuntimeError(f"{name}: processes survived SIGKILL: {[p.pid for p in alive]}")
        return sorted(p.pid for p in tree) or [proc.pid]

    def restart(self, name: str) -> subprocess.Popen:
        """Start ``name`` again (after kill()) with its original command and env, in a new log file, and
        wait until it is ready: a scheduler heart-beating (a new SchedulerJob, seen by /monitor/health),
        a Celery worker that logged `ready.`."""
        old = self.procs[name]
        if old.poll() is None:
            raise RuntimeError(f"{name} (pid {old.pid}) is still running: kill() it before restart()")
        assert self.launch is not None, "Stack.launch is set by the stack fixture"
        self.logs[f"{name} (killed, pid {old.pid})"] = self.logs.pop(name)
        started = dt.datetime.now(dt.UTC)
        new = self.launch(name, *self.commands[name])
        if name == "scheduler":

            def ready() -> bool:
                sched = self.api("GET", "/api/v2/monitor/health", auth=False).json()["scheduler"]
                beat = sched.get("latest_scheduler_heartbeat")
                return sched.get("status") == "healthy" and dt.datetime.fromisoformat(beat) > started

        elif name == "celery-worker":

            def ready() -> bool:
                return " ready." in self.logs[name].read_text(errors="replace")

        else:
            raise ValueError(f"no readiness check for {name!r}: add one to Stack.restart")
        _wait(f"restarted {name}", ready, {name: new}, self.logs)
        return new

    # -- DAG runs -------------------------------------------------------------------------
    def wait_for_runs(self, dag_id: str, run_ids: list[str], timeout: float) -> dict[str, dict]:
        """Poll until every run is finished; returns run_id -> run. Fails with diagnostics on a timeout."""
        done: dict[str, dict] = {}

        def all_finished() -> bool:
            for run_id in run_ids:
                if run_id in done:
                    continue
                r = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
                if r.status_code == 200 and r.json()["state"] in ("success", "failed"):
                    done[run_id] = r.json()
            return len(done) == len(run_ids)

        try:
            wait_until(all_finished, timeout, 2, f"{dag_id} runs {run_ids}", ignore=())
        except TimeoutError:
            pending = [r for r in run_ids if r not in done]
            raise StackFailed(
                f"{dag_id} runs not finished within {timeout:.0f}s: {pending}\n" + self.diagnostics(dag_id, pending[0])
            ) from None
        return done

    def assert_success(self, dag_id: str, runs: dict[str, dict]) -> None:
        failed = [run_id for run_id, run in runs.items() if run["state"] != "success"]
        if failed:
            raise StackFailed(f"{dag_id} runs failed: {failed}\n" + self.diagnostics(dag_id, failed[0]))

    def paused(self, dag_ids: Iterable[str]) -> dict[str, bool]:
        """Whether each DAG is paused now (for ``restore_paused`` at the end of a module)."""
        return {d: self.api("GET", f"/api/v2/dags/{d}").json()["is_paused"] for d in dag_ids}

    def restore_paused(self, paused: dict[str, bool]) -> None:
        """Leave each DAG paused or unpaused as ``paused`` (from ``paused()``) found it."""
        for dag_id, was in paused.items():
            now = self.api("GET", f"/api/v2/dags/{dag_id}").json()["is_paused"]
            if was and not now:
                r = self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
                assert r.status_code == 200, (dag_id, r.status_code, r.text)
            elif not was and now:
                self.unpause(dag_id)

    def unpause(self, dag_id: str) -> None:
        """Unpause ``dag_id``. The DAGs' start dates are in the past (catchup=False), so unpausing makes
        the scheduler create one run for the latest interval. That run works on a day no test asked for
        (an ingestion would add a curated day; a training run would take train_and_promote's single
        active-run slot and fail on an empty window), so it is marked failed over REST."""
        before = self.api("GET", f"/api/v2/dags/{dag_id}").json()
        r = self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert r.status_code == 200, (r.status_code, r.text)
        run_after = before.get("next_dagrun_run_after")
        if not run_after or dt.datetime.fromisoformat(run_after.replace("Z", "+00:00")) > dt.datetime.now(dt.UTC):
            return

        def scheduled_runs() -> list[dict]:
            params = {"run_type": "scheduled", "limit": 10}
            return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params).json()["dag_runs"]

        try:
            runs = wait_until(scheduled_runs, 60, 1, f"a scheduled run of {dag_id}", ignore=())
        except TimeoutError:
            raise StackFailed(f"no scheduled run of {dag_id} appeared after unpausing\n" + self.diagnostics()) from None
        for run in runs:
            if run["state"] in ("queued", "running"):
                r = self.api("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})
                assert r.status_code == 200, (r.status_code, r.text)


def _wait(
    what: str,
    check: Callable[[], bool],
    procs: dict[str, subprocess.Popen],
    logs: dict[str, Path],
    timeout: float = START_TIMEOUT,
) -> None:
    """``wait_until(check)``, given up when one of ``procs`` exits; ``StackFailed`` with every log's tail."""
    try:
        wait_until(check, timeout, 1, what, procs=procs)
    except (TimeoutError, ProcessExited) as exc:
        raise StackFailed(f"{exc}\n{tails(logs)}") from exc


def stop_all(procs: Mapping[str, subprocess.Popen]) -> None:
    """``stop_process_group`` for every process of ``procs``."""
    stop_process_group(*procs.values())


def write_pipeline_config(path: Path, rows_per_day: int = 1500) -> None:
    """The shape of include/config/mlops.compose.yaml, small enough for a 2-core machine (``rows_per_day``)."""
    import yaml

    doc = {
        "dataset": {"suite": "include/config/expectations/transactions.json", "exclude_columns": ["transaction_id"]},
        "simulator": {"rows_per_day": rows_per_day},
        "model": {
            "name": MODEL_NAME,
            "params": {"max_iter": 200, "learning_rate": 0.08, "max_leaf_nodes": 31, "l2_regularization": 1.0},
        },
        "lake": {"root": LAKE_ROOT, "aws_conn_id": "aws_default"},
        "training": {"window_days": 6, "holdout_days": 2, "min_rows": 200},
        "evaluation": {"floor": 0.02},
        "mlflow": {"conn_id": "mlflow_default", "experiment": "fraud_detector_it"},
        "drift": {"exclude_columns": ["day_of_week"]},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@contextlib.contextmanager
def distributed_stack(*, rows_per_day: int = 1500, extra_env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """Start the stack (module docstring) and yield it once every service is ready; leaving the block stops every
    process, drops both databases and flushes the Redis DB (also when starting failed). ``rows_per_day``: the
    simulator's volume in the pipeline config it writes; ``extra_env``: more variables for every Airflow service
    (the backfill benchmark turns the scheduler's own runs off). ``MLOPS_IT_KEEP_LOGS=1`` keeps the work folder."""
    reason = services_reachable()
    if reason:
        raise StackFailed(f"the distributed stack needs the machine's PostgreSQL and Redis: {reason}")

    tag = f"{os.getpid()}_{secrets.token_hex(3)}"
    airflow_db, mlflow_db = f"mlops_it_airflow_{tag}", f"mlops_it_mlflow_{tag}"
    work = Path(tempfile.mkdtemp(prefix="mlops-it-"))
    home = work / "airflow"
    home.mkdir()
    services = Services(work)  # a restarted service (Stack.restart) keeps its earlier log
    start, procs, logs = services.start, services.procs, services.logs
    created_dbs: list[str] = []

    def run_cli(name: str, cmd: list[str], env: dict[str, str], timeout: float) -> None:
        start(name, cmd, env)
        services.finish(name, timeout)

    try:
        flush_redis()
        for db in (airflow_db, mlflow_db):
            pg_admin(f'CREATE DATABASE "{db}"')
            created_dbs.append(db)

        base = base_env(ROOT, BIN)
        s3_port, mlflow_port, api_port, log_port = free_port(), free_port(), free_port(), free_port()
        s3_url = f"http://127.0.0.1:{s3_port}"
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        api_url = f"http://127.0.0.1:{api_port}"

        # -- S3 (moto server) ---------------------------------------------------------------
        start("moto", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], base)

        # -- Airflow metadata DB (the longest step; runs while moto and MLflow start) ---------
        password = secrets.token_urlsafe(16)
        metrics_token = secrets.token_urlsafe(32)  # generated per session: never a literal in the repo
        passwords_file = home / "simple_auth_manager_passwords.json"
        passwords_file.write_text(json.dumps({"admin": password}))
        config_path = work / "mlops.integration.yaml"
        write_pipeline_config(config_path, rows_per_day)
        pg = f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{airflow_db}"
        af_env = {
            **base,
            **service_env(ROOT, home, executor="CeleryExecutor", db_uri=pg, api_port=api_port, log_port=log_port),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db()}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{airflow_db}",
            # Paused at creation, unpaused by the tests (Stack.unpause), which fail the one catch-up run
            # the scheduler creates for the latest interval: it would work on a day no test asked for.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN": RUN_ID_PATTERN,  # test_rest_fuzz.py checks it
            # Recovery from a killed worker or scheduler (test_kill_recovery.py), set from the 3.3 source:
            # - A task whose worker died is noticed only when its task instance stops heart-beating:
            #   [scheduler] task_instance_heartbeat_timeout (default 300 s), looked for every
            #   task_instance_heartbeat_timeout_detection_interval (10 s); the scheduler then fails the try
            #   and Airflow retries it after the task's retry_delay. The supervisor beats every [workers]
            #   min_heartbeat_interval (5 s), so 30 s is six missed beats: no false alarm on a loaded 2-core
            #   machine, and the dead try is failed about 35 s after the kill instead of 5 minutes.
            # - A restarted scheduler takes over (adopts) the task instances queued by the dead one once that
            #   SchedulerJob has not beaten for [scheduler] scheduler_health_check_threshold (30 s, kept); it
            #   looks every orphaned_tasks_check_interval (default 300 s): 15 s makes it within a minute.
            # - Kept at the defaults on purpose: [celery] task_acks_late=True (the message of a task is acked
            #   only when the task ends, so a dead worker does not lose it) and [celery_broker_transport_options]
            #   visibility_timeout=86400 s (Redis redelivers an unacked message only after that). Lowering the
            #   latter would also redeliver healthy long tasks; recovery is the heartbeat timeout plus the retry,
            #   and a late redelivery of the dead try is refused by the Execution API (a retry gets a new
            #   task instance id).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "http", "host": mlflow_url}),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": s3_url, "region_name": "us-east-1"},
                }
            ),
            "MLOPS_CONFIG": str(config_path),
            "MLOPS_METRICS_TOKEN": metrics_token,  # /mlops/metrics' scrape token (plugins/mlops_airflow/metrics.py)
            **(extra_env or {}),
        }
        start("migrate", ["airflow", "db", "migrate"], af_env)

        def s3_ready() -> bool:
            import boto3

            client = boto3.client("s3", endpoint_url=s3_url, **S3_CREDS)
            client.list_buckets()
            return True

        _wait("moto S3 server", s3_ready, {"moto": procs["moto"]}, logs)
        s3 = __import__("boto3").client("s3", endpoint_url=s3_url, **S3_CREDS)
        for bucket in (LAKE_BUCKET, MLFLOW_BUCKET):
            s3.create_bucket(Bucket=bucket)

        # -- MLflow tracking server ----------------------------------------------------------
        mlflow_env = {
            **base,
            "MLFLOW_S3_ENDPOINT_URL": s3_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no huey job runner: nothing here uses MLflow jobs
        }
        start(
            "mlflow",
            mlflow_server_command(
                PYTHON,
                f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{mlflow_db}",
                f"s3://{MLFLOW_BUCKET}",
                mlflow_port,
            ),
            mlflow_env,
        )

        deadline = time.monotonic() + START_TIMEOUT
        services.finish("migrate", START_TIMEOUT)
        run_cli(
            "pools",
            ["airflow", "pools", "set", "mlops_promotion", "1", "Serializes champion promotions"],
            af_env,
            max(60.0, deadline - time.monotonic()),
        )

        # -- Airflow components --------------------------------------------------------------
        start("api-server", ["airflow", "api-server", "--port", str(api_port), "--host", "127.0.0.1"], af_env)
        start("scheduler", ["airflow", "scheduler"], af_env)
        start("dag-processor", ["airflow", "dag-processor"], af_env)
        start(
            "celery-worker",
            ["airflow", "celery", "worker", "--concurrency", "2", "--celery-hostname", f"mlops-it-{tag}@%h"],
            af_env,
        )

        stack = Stack(
            home=home,
            api_url=api_url,
            mlflow_url=mlflow_url,
            s3_url=s3_url,
            password=password,
            logs=logs,
            env=af_env,
            metrics_token=metrics_token,
            procs=procs,
            commands=services.commands,
            launch=start,
        )
        _wait("mlflow server", lambda: http_ok(f"{mlflow_url}/health"), procs, logs)

        def healthy() -> bool:
            import requests

            health = requests.get(f"{api_url}/api/v2/monitor/health", timeout=3).json()
            return all(
                health.get(part, {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "dag_processor")
            )

        _wait("airflow api-server, scheduler and dag-processor (/api/v2/monitor/health)", healthy, procs, logs)

        def dags_visible() -> bool:
            return all(
                stack.api("GET", f"/api/v2/dags/{d}").status_code == 200
                for d in ("ingest_and_validate", "train_and_promote", "drift_monitor")
            )

        _wait("DAGs visible over the REST API", dags_visible, procs, logs)
        errors = stack.api("GET", "/api/v2/importErrors").json()
        assert errors["total_entries"] == 0, errors
        _wait("celery worker", lambda: " ready." in logs["celery-worker"].read_text(errors="replace"), procs, logs)

        yield stack
    finally:
        services.stop()
        for db in created_dbs:
            with contextlib.suppress(Exception):
                pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            flush_redis()
        if os.environ.get("MLOPS_IT_KEEP_LOGS"):
            print(f"integration logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
