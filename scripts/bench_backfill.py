"""A long backfill on the distributed stack: ``ingest_and_validate`` then ``drift_monitor`` over N days (60).

The stack is the integration suite's (``mlops_dev.stack.distributed_stack``, what its ``stack`` fixture yields):
moto S3 for the lake and MLflow's artifacts, an MLflow tracking server on PostgreSQL, Airflow 3 with the
CeleryExecutor (PostgreSQL metadata DB, Redis broker, api-server, scheduler, dag-processor, one Celery worker of
concurrency 2). Its databases are created with unique names and dropped at the end, also on failure. Two changes,
passed to it as arguments: the simulator writes ``rows_per_day`` rows a day (2,000: orchestration,
not data, is measured), and the scheduler creates no runs of its own (``[scheduler] use_job_schedule = False``), so
unpausing a DAG starts nothing but what the benchmark asks for.

Steps (each backfill with ``airflow backfill create --dag-id ... --from-date ... --to-date ... --max-active-runs 8``):

1. ``ingest_and_validate`` backfilled over the N days (timed);
2. one ``train_and_promote`` run (REST) on a window ending after the first ~half of the days: drift_monitor skips
   without a champion (timed apart, not in the rate); the DAG is paused again after it, so a retraining that
   drift_monitor triggers is created (and counted) but not run;
3. ``drift_monitor`` backfilled over the same N days (timed).

Figures: days per minute (N / the two backfills' wall time, each from the backfill's creation to its last run's
end, from the metadata DB), failed task instances and retried tries of the backfill runs (metadata DB), curated
partitions and drift summaries per day in the lake (S3), the peak RSS of the scheduler's and the Celery worker's
process trees (psutil, sampled every second: the worker's tree holds the task processes), the peak number of
running backfill runs, and the load average.

    python scripts/bench_backfill.py                  # 60 days; prints the figures as JSON (last line)
    python scripts/bench_backfill.py --days 4 --keep  # a short look, logs kept (MLOPS_IT_KEEP_LOGS)
    python scripts/bench.py --only backfill           # the same figures into bench-results.json

In the default `make bench` list. Measured here (2 cores, another session's training beside it, load average
~3.9): 60 days in 21 min of backfill (2.81 days/min; 1 min of training and 0.5 min of start-up apart); with other
sessions loading the machine to ~18, 16 days took 20 min (0.79 days/min). drift_monitor's own docs ask
for ``--max-active-runs 1`` (a day's trigger decision reads the earlier days' summaries); 8 here measures the
scheduler under concurrent runs, and the trigger decisions may then differ from a day-by-day backfill.

A benchmark, not a test: nothing here asserts a time. Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY = dt.date(2026, 1, 5)  # the DAGs' start_date is 2026-01-01; a Monday
ROWS_PER_DAY = 2000
MAX_ACTIVE_RUNS = 8
BACKFILL_TIMEOUT = 3600  # seconds, per backfill
TRAIN_TIMEOUT = 900
SAMPLE_S = 1.0
INGEST, DRIFT, TRAIN = "ingest_and_validate", "drift_monitor", "train_and_promote"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class RssSampler(threading.Thread):
    """Every ``SAMPLE_S``: the RSS of each named process tree (the process and all its descendants) summed, and of
    its largest process; keeps the peaks, and the 1-minute load average of every sample."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.peak_tree_mb = dict.fromkeys(roots, 0.0)
        self.peak_process_mb = dict.fromkeys(roots, 0.0)
        self.peak_processes = dict.fromkeys(roots, 0)
        self.loads: list[float] = []
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        for name, pid in self.roots.items():
            try:
                leader = psutil.Process(pid)
                tree = [leader, *leader.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            rss = []
            for p in tree:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    rss.append(p.memory_info().rss / 2**20)
            self.peak_tree_mb[name] = max(self.peak_tree_mb[name], sum(rss))
            self.peak_process_mb[name] = max(self.peak_process_mb[name], max(rss, default=0.0))
            self.peak_processes[name] = max(self.peak_processes[name], len(rss))
        self.loads.append(os.getloadavg()[0])

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_S):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _metadata_db(env: dict[str, str]) -> dict[str, Any]:
    """psycopg2 connection arguments of the stack's Airflow metadata DB (from its SQL_ALCHEMY_CONN)."""
    from urllib.parse import urlsplit

    url = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    return {"host": url.hostname, "port": url.port, "user": url.username, "dbname": url.path.lstrip("/")}


def _query(db: dict[str, Any], sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(connect_timeout=5, **db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _set_paused(stack: Any, dag_id: str, paused: bool) -> None:
    r = stack.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})
    if r.status_code != 200:
        raise RuntimeError(f"pausing={paused} {dag_id}: {r.status_code} {r.text}")


def run_backfill(stack: Any, db: dict[str, Any], dag_id: str, first: dt.date, last: dt.date, hour: int) -> dict:
    """``airflow backfill create`` for ``dag_id`` over the logical dates ``first``..``last`` at ``hour``:00 UTC, then
    poll the metadata DB until the backfill is completed and every run of it finished. Returns its figures."""
    before = _query(db, "SELECT coalesce(max(id), 0) FROM backfill WHERE dag_id = %s", (dag_id,))[0][0]
    cmd = [
        "airflow",
        "backfill",
        "create",
        "--dag-id",
        dag_id,
        "--from-date",
        f"{first}T{hour:02d}:00:00+00:00",
        "--to-date",
        f"{last}T{hour:02d}:00:00+00:00",
        "--max-active-runs",
        str(MAX_ACTIVE_RUNS),
    ]
    load_at_start = _load()
    out = subprocess.run(cmd, env=stack.env, cwd=str(stack.home), capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    rows = _query(db, "SELECT id FROM backfill WHERE dag_id = %s AND id > %s ORDER BY id", (dag_id, before))
    if len(rows) != 1:
        raise RuntimeError(f"expected one new backfill of {dag_id}, found {rows}:\n{out.stdout[-2000:]}")
    backfill_id = rows[0][0]
    peak_running, deadline = 0, time.monotonic() + BACKFILL_TIMEOUT
    while True:
        (completed,) = _query(db, "SELECT completed_at FROM backfill WHERE id = %s", (backfill_id,))[0]
        states = dict(
            _query(db, "SELECT state, count(*) FROM dag_run WHERE backfill_id = %s GROUP BY state", (backfill_id,))
        )
        peak_running = max(peak_running, states.get("running", 0))
        if completed is not None and set(states) <= {"success", "failed"}:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill {backfill_id} of {dag_id} not done in {BACKFILL_TIMEOUT} s: {states}")
        time.sleep(2)
    created, first_start, last_end = _query(
        db,
        "SELECT b.created_at, min(r.start_date), max(r.end_date) FROM backfill b JOIN dag_run r "
        "ON r.backfill_id = b.id WHERE b.id = %s GROUP BY b.created_at",
        (backfill_id,),
    )[0]
    tasks = dict(
        _query(
            db,
            "SELECT coalesce(ti.state, 'none'), count(*) FROM task_instance ti JOIN dag_run r "
            "ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id WHERE r.backfill_id = %s GROUP BY 1",
            (backfill_id,),
        )
    )
    (retried,) = _query(
        db,
        "SELECT count(*) FROM task_instance_history h JOIN dag_run r ON h.dag_id = r.dag_id AND h.run_id = r.run_id "
        "WHERE r.backfill_id = %s",
        (backfill_id,),
    )[0]
    days = sorted(
        row[0].date().isoformat()
        for row in _query(db, "SELECT data_interval_start FROM dag_run WHERE backfill_id = %s", (backfill_id,))
    )
    wall = (last_end - created).total_seconds()
    return {
        "backfill_id": backfill_id,
        "runs": sum(states.values()),
        "run_states": states,
        "days": days,
        "wall_s": round(wall, 1),
        "first_task_after_s": round((first_start - created).total_seconds(), 1),
        "task_states": tasks,
        "failed_tasks": tasks.get("failed", 0) + tasks.get("upstream_failed", 0),
        "retried_tries": retried,  # earlier tries of a retried task (task_instance_history)
        "peak_running_runs": peak_running,
        "load_at_start": load_at_start,
        "load_at_end": _load(),
    }


def train_champion(stack: Any, window_end: dt.date) -> dict:
    """One train_and_promote run over REST on the window ending ``window_end``; fails unless a champion exists."""
    import requests

    from mlops_dev.stack import MODEL_NAME

    _set_paused(stack, TRAIN, False)
    t = time.monotonic()
    conf = {"window_end": window_end.isoformat(), "reason": "bench_backfill champion"}
    r = stack.api("POST", f"/api/v2/dags/{TRAIN}/dagRuns", json={"logical_date": None, "conf": conf})
    if r.status_code not in (200, 201):
        raise RuntimeError(f"triggering {TRAIN}: {r.status_code} {r.text}")
    run_id = r.json()["dag_run_id"]
    runs = stack.wait_for_runs(TRAIN, [run_id], timeout=TRAIN_TIMEOUT)
    _set_paused(stack, TRAIN, True)  # a retraining drift_monitor triggers is created, not run
    stack.assert_success(TRAIN, runs)
    alias = requests.get(
        f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL_NAME, "alias": "champion"},
        timeout=30,
    )
    if alias.status_code != 200:
        raise RuntimeError(f"no champion after {run_id}: {alias.status_code} {alias.text}")
    return {"s": round(time.monotonic() - t, 1), "version": alias.json()["model_version"]["version"]}


def _lake_days(stack: Any, prefix: str, suffix: str) -> dict[str, int]:
    """ds -> how many objects ending in ``suffix`` there are under ``prefix``ds=<day>/ in the lake bucket."""
    from mlops_dev.stack import LAKE_BUCKET

    out: dict[str, int] = {}
    for key in stack.list_keys(LAKE_BUCKET, prefix):
        ds = key[len(prefix) :].split("/", 1)[0].removeprefix("ds=")
        if key.endswith(suffix):
            out[ds] = out.get(ds, 0) + 1
    return out


@contextlib.contextmanager
def backfill_stack(rows_per_day: int) -> Iterator[Any]:
    """The integration suite's stack (``mlops_dev.stack.distributed_stack``: leaving it stops every process and drops
    the databases), with ``rows_per_day`` rows a day and no scheduler-created runs."""
    from mlops_dev.stack import distributed_stack

    with distributed_stack(
        rows_per_day=rows_per_day, extra_env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}
    ) as stack:
        yield stack


def bench_backfill(days: int = 60, rows_per_day: int = ROWS_PER_DAY) -> dict:
    """Start the stack, run the three steps (module docstring), stop it; returns the ``backfill_*`` figures."""
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    from mlops_dev.stack import DATASET

    if days < 6:
        raise ValueError("--days: at least 6 (the champion trains on the integration config's 6-day window)")
    t_bench = time.monotonic()
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    figures: dict[str, Any] = {"backfill_days": days, "backfill_rows_per_day": rows_per_day}
    sampler: RssSampler | None = None
    try:
        with backfill_stack(rows_per_day) as stack:
            figures["backfill_stack_start_s"] = round(time.monotonic() - t_bench, 1)
            db = _metadata_db(stack.env)
            worker = stack.commands["celery-worker"][0]
            sampler = RssSampler({name: stack.procs[name].pid for name in ("scheduler", "celery-worker")})
            sampler.start()
            for dag_id in (INGEST, DRIFT):
                _set_paused(stack, dag_id, False)
            ingest = run_backfill(stack, db, INGEST, FIRST_DAY, last, 0)
            train = train_champion(stack, FIRST_DAY + dt.timedelta(days=max(days // 2, 6)))
            drift = run_backfill(stack, db, DRIFT, FIRST_DAY, last, 1)
            sampler.stop()
            curated = _lake_days(stack, f"lake/curated/{DATASET}/", ".parquet")
            summaries = _lake_days(stack, f"lake/reports/drift/{DATASET}/", "summary.json")
            triggered = [
                run["dag_run_id"]
                for run in stack.api("GET", f"/api/v2/dags/{TRAIN}/dagRuns", params={"limit": 100}).json()["dag_runs"]
                if run["dag_run_id"].startswith("drift__")
            ]
            wanted = [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(days)]
            wall = ingest["wall_s"] + drift["wall_s"]
            figures.update(
                {
                    "backfill_days_per_min": round(days / (wall / 60), 2),
                    "backfill_wall_s": round(wall, 1),
                    "backfill_failed_tasks": ingest["failed_tasks"] + drift["failed_tasks"],
                    "backfill_retried_tries": ingest["retried_tries"] + drift["retried_tries"],
                    # exactly one curated partition and one drift summary for each day asked for, nothing else
                    "backfill_curated_days": sum(curated.get(d) == 1 for d in wanted),
                    "backfill_drift_summaries": sum(summaries.get(d) == 1 for d in wanted),
                    "backfill_lake_exact": sorted(curated) == wanted == sorted(summaries)
                    and set(curated.values()) == set(summaries.values()) == {1},
                    "backfill_scheduler_peak_mb": round(sampler.peak_tree_mb["scheduler"]),
                    "backfill_worker_peak_mb": round(sampler.peak_tree_mb["celery-worker"]),
                    # the largest single process of each tree, and how many processes the tree had at most
                    "backfill_peak_process_mb": {k: round(v) for k, v in sampler.peak_process_mb.items()},
                    "backfill_peak_processes": sampler.peak_processes,
                    "backfill_max_active_runs": MAX_ACTIVE_RUNS,
                    "backfill_worker_concurrency": int(worker[worker.index("--concurrency") + 1]),
                    "backfill_load_avg": {
                        "start": ingest["load_at_start"],
                        "end": drift["load_at_end"],
                        "mean_1min": round(sum(sampler.loads) / max(len(sampler.loads), 1), 2),
                    },
                    "backfill_retrain_triggered": len(triggered),  # drift__ runs of train_and_promote (not run)
                    "backfill_train_s": train["s"],
                    "backfill_champion_version": train["version"],
                    "backfill_dags": {
                        dag_id: {
                            k: r[k]
                            for k in (
                                "runs",
                                "run_states",
                                "wall_s",
                                "first_task_after_s",
                                "task_states",
                                "failed_tasks",
                                "retried_tries",
                                "peak_running_runs",
                                "load_at_start",
                                "load_at_end",
                            )
                        }
                        | {
                            "days_per_min": round(days / (r["wall_s"] / 60), 2),
                            "days_match": r["days"] == wanted,
                        }
                        for dag_id, r in ((INGEST, ingest), (DRIFT, drift))
                    },
                }
            )
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        figures["backfill_bench_wall_s"] = round(time.monotonic() - t_bench, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rows-per-day", type=int, default=ROWS_PER_DAY)
    parser.add_argument("--keep", action="store_true", help="keep the stack's work folder (service and task logs)")
    args = parser.parse_args()
    if args.keep:
        os.environ["MLOPS_IT_KEEP_LOGS"] = "1"
    print(json.dumps(bench_backfill(args.days, args.rows_per_day)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
