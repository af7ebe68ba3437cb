"""Orchestration overhead: one ``train_and_promote`` run under the real scheduler vs plain Python.

Airflow side: a temporary AIRFLOW_HOME, a PostgreSQL metadata database of its own (created here, dropped at the
end), ``airflow db migrate``, the pool ``mlops_promotion``, then api-server (the Execution API the task processes
talk to), scheduler (LocalExecutor: one process per task, with make run's settings from scripts/local-executor.env
unless --stock; or CeleryExecutor and one Celery worker with --executor celery) and dag-processor as subprocesses.
After one warm-up run (fails at once on an empty window; a fresh api-server answers its first Execution API call
3-5 s late), the run is triggered over REST with ``logical_date: null`` and timed from its creation
(``dag_run.queued_at``) to its end (``dag_run.end_date``). Per task: the duration from the metadata DB vs the
"work" figure of the task's ``OUTCOME ... [work X s, peak RSS Y MB]`` log line; import/startup time = duration -
work. Work starts at the operator's START line, so the heavy imports the library does lazily count as work.

Plain side: the library functions the DAG's operators call (``window.check_window``, ``candidates.expand_candidates``
+ ``validation_split`` + ``training.open_parent_run``, ``training.train_candidate`` for each candidate one after the
other, ``training.train_best``, ``registry.evaluate_and_record`` + ``card.record_card``, ``approval.wait_reason``,
``shadow.promote_or_shadow``), in one fresh Python process, timed from its start (interpreter and imports
included) to its exit. The shipped config's 3 candidates: the scheduler runs the mapped ``train_candidate`` tasks
side by side (parallelism 4 on 2 cores), the plain process one after the other.

Both sides: the same lake (simulator days ingested through the library's ``ingest_day``: ~``rows`` rows in the
28-day window), each its own fresh MLflow tracking server (SQLite store, local artifacts) seeded with the same
champion (trained on two days before the holdout), so both evaluate challenger vs champion and decide alike.
``repeat`` pairs (Airflow run, then plain run) with the other side's processes stopped (SIGSTOP) while one runs;
medians are reported, and CPU seconds of every process on each side beside the wall times. Training dominates
and is very sensitive to other load on a 2-core machine: look at ``pipeline_runs`` and the load averages.

    python scripts/bench_pipeline.py                      # prints the result dict as JSON (last line)
    python scripts/bench_pipeline.py --rows 200000 --repeat 1 --keep  # keep the work folder (logs) for a look
    python scripts/bench_pipeline.py --lake /tmp/lake-1m  # reuse a seeded lake between invocations
    python scripts/bench_pipeline.py --set scheduler.scheduler_idle_sleep_time=0.25
    python scripts/bench_pipeline.py --stock              # Airflow's LocalExecutor defaults, not make run's
    python scripts/bench_pipeline.py --executor celery    # the Celery stack: pipeline_overhead_ratio_celery

A benchmark, not a test: nothing here asserts a time. Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
TASKS = (  # train_and_promote's tasks in order; train_candidate is mapped (one task per candidate, side by side)
    "check_training_window",
    "plan_candidates",
    "train_candidate",
    "train_challenger",
    "evaluate_challenger",
    "approve_promotion",  # skipped: promotion.approval never
    "promote_challenger",
)
WINDOW_END = dt.date(2026, 3, 2)  # a Monday; the window is the 28 days before it (config training.window_days)
CHAMPION_TRAIN_DAYS = 2  # the seeded champion: trained on the 2 days before the last day before the holdout
START_TIMEOUT = 300
RUN_TIMEOUT = 3600
IDLE_SAMPLE_S = 15
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
from mlops_airflow.names import PROMOTION_POOL  # noqa: E402 (standard library only)
from mlops_airflow.names import TRAINING_DAG_ID as DAG_ID  # noqa: E402
from mlops_dev import (  # noqa: E402 (standard library only, like this module)
    Services,
    base_env,
    free_port,
    http_ok,
    mlflow_server_command,
    service_env,
    tail,
    wait_until,
)

OUTCOME = re.compile(r"OUTCOME (.*?) \[work ([\d.]+) s, peak RSS ([\d.]+) MB\]")

# Settings of the benchmark's own Airflow. Each is one a production deployment could use as is.
AIRFLOW_SETTINGS = {
    # Only manually triggered runs: without this, unpausing the DAG makes the scheduler create a catch-up run for
    # the latest weekly interval (catchup=False still runs the latest one). Changes nothing for a triggered run.
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    # The LocalExecutor forks `parallelism` workers at start (default 32); 4 suits a 2-core machine.
    "AIRFLOW__CORE__PARALLELISM": "4",
    # Local, single-user: REST without a token (the benchmark only triggers and reads one run).
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
}
# LocalExecutor: by default the settings `make run` uses (scripts/local-executor.env: the scheduler's workers come
# from a forkserver that preloaded the heavy libraries, so task processes inherit them instead of importing them
# again); --stock measures Airflow's defaults (workers forked from the scheduler, every task imports its libraries).
# Everything else is Airflow's default. Another measured alternative, reproducible with --set:
#   scheduler.scheduler_idle_sleep_time=0.25   downstream tasks start ~0.5 s sooner each; idle CPU 1.6 -> 4.2 s/min
# CeleryExecutor (--executor celery): the integration suite's broker (its own Redis DB) and a result backend in the
# benchmark's database; one worker with concurrency 4 (as parallelism). --celery-preload starts that worker from a
# Python that imported the same libraries first, so its prefork pool (and every task forked from it) inherits them.
from scripts.forkserver_preload import preload_modules, read_settings  # noqa: E402 (standard library only)

CELERY_WORKER_PRELOADED = (
    "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1].split(',')]; "
    "sys.argv = ['airflow', *sys.argv[2:]]; from airflow.__main__ import main; sys.exit(main())"
)


# -- helpers ------------------------------------------------------------------------------------------------------
def _pg(sql: str, params: tuple = (), dbname: str = "postgres") -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def _proc_cpu() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, CPU seconds of the process and its reaped children) for every process."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # state ppid ... utime stime cutime cstime (11..14)
        table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    return table


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by ``roots`` and all their descendants, reaped children included.

    A child that exits is reaped by its parent in the tree and its time moves into the parent's cutime,
    so the difference of two readings counts every process that lived in between."""
    table = _proc_cpu()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo.extend(children.get(pid, []))
    return total


def freeze(procs: Services, names: tuple[str, ...], stop: bool) -> None:
    """SIGSTOP/SIGCONT the process groups of ``names`` (one side sleeps, using no CPU, while the other runs)."""
    for name in names:
        with contextlib.suppress(ProcessLookupError, PermissionError, KeyError):
            os.killpg(procs.procs[name].pid, signal.SIGSTOP if stop else signal.SIGCONT)


# -- data and config ---------------------------------------------------------------------------------------------
def _window_days() -> tuple[dt.date, int, int]:
    import yaml

    training = (yaml.safe_load((ROOT / "include/config/mlops.yaml").read_text()) or {}).get("training") or {}
    days, holdout = int(training.get("window_days", 28)), int(training.get("holdout_days", 7))
    return WINDOW_END - dt.timedelta(days=days), days, holdout


def _rows_per_day(rows: int) -> int:
    """``simulator.rows_per_day`` that puts ~``rows`` rows in the window (weekday volumes differ)."""
    sys.path.insert(0, str(ROOT))
    from include.mlops.data.simulator import rows_for_day

    start, days, _ = _window_days()
    scale = sum(rows_for_day(start + dt.timedelta(days=i), 1_000_000) for i in range(days)) / 1_000_000
    return max(1, round(rows / scale))


def _write_config(path: Path, lake: Path, rows_per_day: int) -> None:
    """The project's own config (include/config/mlops.yaml) with the lake and the day size changed."""
    import yaml

    doc = yaml.safe_load((ROOT / "include/config/mlops.yaml").read_text())
    doc["lake"]["root"] = str(lake)
    doc["simulator"]["rows_per_day"] = rows_per_day
    doc["mlflow"]["experiment"] = "bench_pipeline"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


SEED_LAKE = """
import datetime as dt, json, sys
from include.mlops.core.config import load_config
from include.mlops.data.ingest import ingest_day
from include.mlops.data.lake import Lake
cfg = load_config(sys.argv[1]); lake = Lake.at(cfg.lake_root)
start, n = dt.date.fromisoformat(sys.argv[2]), int(sys.argv[3])
rows = 0
for i in range(n):
    r = ingest_day(cfg, lake, start + dt.timedelta(days=i))
    if r["status"] != "published":
        raise SystemExit(f"seeding failed: {r}")
    rows += lake.partition_info("curated", cfg.dataset.name, (start + dt.timedelta(days=i)).isoformat()).rows
print("ROWS", rows)
"""

SEED_CHAMPION = """
import datetime as dt, sys
import mlflow
from mlflow import MlflowClient
from include.mlops.core.config import load_config
from include.mlops.data.lake import Lake
from include.mlops.promotion.evaluation import evaluate
from include.mlops.promotion.aliases import promote
from include.mlops.model.training import train_and_register
from include.mlops.model.window import Window, assemble_window
cfg = load_config(sys.argv[1]); lake = Lake.at(cfg.lake_root)
# trained on the days just before the benchmark window's holdout and checked on the last of them, so
# the champion never saw the holdout the challenger is compared on
end = dt.date.fromisoformat(sys.argv[2]); train_days = int(sys.argv[3])
window = Window(end - dt.timedelta(days=train_days + 1), end - dt.timedelta(days=1), end)
data = assemble_window(lake, cfg, window)
for uri in sys.argv[4:]:
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    res = train_and_register(client, cfg, data, window, "bench/seed-champion", {"trigger_reason": "bench seed"})
    ev = evaluate(client, cfg, res.version, data.holdout)
    promote(client, cfg.model.name, res.version, None, promote_decision=ev.decision.promote,
            reason=ev.decision.reason, actor="bench_pipeline seed")
    print("CHAMPION", uri, res.version, ev.decision.reason)
"""


# -- the plain side -----------------------------------------------------------------------------------------------
def _plain_child(spec: dict[str, Any]) -> None:
    """What the DAG's operators call, in order, in this one process (run as a fresh interpreter): the candidates
    one after the other where the scheduler runs the mapped ``train_candidate`` tasks side by side."""
    import resource

    steps: dict[str, float] = {}
    t = time.perf_counter()
    # The heavy modules the library calls below import lazily, imported up front only so that the steps
    # below time work alone; the total is the same either way.
    import great_expectations  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import mlflow.sklearn  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import skops.io  # noqa: F401

    from include.mlops.core.config import load_config
    from include.mlops.core.exceptions import PromotionRejected
    from include.mlops.data.lake import Lake
    from include.mlops.model.candidates import expand_candidates, validation_split
    from include.mlops.model.training import open_parent_run, train_best, train_candidate
    from include.mlops.model.window import check_window, resolve_window, window_from_check
    from include.mlops.promotion.approval import wait_reason
    from include.mlops.promotion.card import record_card
    from include.mlops.promotion.evaluation import evaluate_and_record
    from include.mlops.promotion.shadow import promote_or_shadow

    cfg = load_config(spec["config"])
    lake = Lake.at(cfg.lake_root)
    window = resolve_window(dt.date.fromisoformat(spec["window_end"]), None, None, cfg)
    run_key = f"{DAG_ID}/{spec['run_name']}"
    steps["import_s"] = time.perf_counter() - t

    def tags(task_id: str) -> dict[str, str]:  # runtime.airflow_tags
        return {"dag_id": DAG_ID, "run_id": spec["run_name"], "logical_date": "none", "task_id": task_id}

    # check_training_window
    t = time.perf_counter()
    check = check_window(lake, cfg, window).as_dict()
    steps["check_training_window"] = time.perf_counter() - t

    # plan_candidates (MlflowHook.client() does exactly this)
    t = time.perf_counter()
    import mlflow
    from mlflow import MlflowClient

    uri = spec["tracking_uri"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    specs = expand_candidates(cfg.model)
    split = parent = None
    if len(specs) > 1:
        checked = window_from_check(check)
        split = validation_split(
            list(check["partitions"]), checked.holdout_start.isoformat(), cfg.training.validation_days
        )
        parent = open_parent_run(client, cfg, checked, run_key, tags("plan_candidates"), specs, split)
    steps["plan_candidates"] = time.perf_counter() - t

    # train_candidate (mapped: one task per candidate; here one after the other)
    t = time.perf_counter()
    results = [
        train_candidate(client, cfg, lake, check, s, split, parent, run_key, tags("train_candidate")).as_dict()
        for s in specs
    ]
    steps["train_candidate"] = time.perf_counter() - t

    # train_challenger
    t = time.perf_counter()
    result = train_best(
        client,
        cfg,
        lake,
        check,
        specs,
        results,
        parent,
        run_key,
        tags("train_challenger") | {"trigger_reason": "bench_pipeline"},
    )
    steps["train_challenger"] = time.perf_counter() - t

    # evaluate_challenger (with its evaluation card)
    t = time.perf_counter()
    trigger = {"run_key": run_key, "reason": "bench_pipeline"}
    record = evaluate_and_record(client, lake, cfg, check, result.version, trigger)
    record_card(client, lake, cfg, check, record)
    evaluation = record.summary()
    steps["evaluate_challenger"] = time.perf_counter() - t

    # approve_promotion (promotion.approval never: skipped)
    t = time.perf_counter()
    wait, _ = wait_reason(cfg, evaluation, dry_run=False, triggered_by_drift=False)
    if wait:
        raise SystemExit("bench_pipeline: the config asks for a human approval (promotion.approval): set it to never")
    steps["approve_promotion"] = time.perf_counter() - t

    # promote_challenger
    t = time.perf_counter()
    try:
        promote_or_shadow(client, cfg, evaluation, actor=run_key)
        promoted = True
    except PromotionRejected:
        promoted = False
    steps["promote_challenger"] = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "PLAIN "
        + json.dumps(
            {
                "steps": steps,
                "peak_mb": peak,
                "version": result.version,
                "candidates": len(specs),
                "promoted": promoted,
                "champion_before": evaluation["champion_version"],
                "reason": evaluation["reason"],
                "rows_train": result.rows_train,
                "rows_holdout": result.rows_holdout,
            }
        )
    )


def run_plain(work: Path, config: Path, tracking_uri: str, run_name: str) -> dict[str, Any]:
    import resource

    env = {**base_env(ROOT, BIN), "MLOPS_CONFIG": str(config)}
    spec = json.dumps(
        {
            "config": str(config),
            "tracking_uri": tracking_uri,
            "window_end": WINDOW_END.isoformat(),
            "run_name": run_name,
        }
    )
    load = _load()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(
        [PYTHON, __file__, "--plain-child", spec],
        env=env,
        cwd=str(work),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    wall = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("PLAIN ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"plain run failed ({out.returncode}):\n{out.stderr[-4000:]}")
    res = json.loads(lines[-1][len("PLAIN ") :])
    res |= {
        "wall_s": wall,
        "cpu_s": cpu,
        "load_at_start": load,
        "startup_s": wall - sum(res["steps"].values()),
    }  # interpreter start and exit
    return res


# -- the Airflow side ---------------------------------------------------------------------------------------------
def _task_logs(home: Path, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> dict[str, Any]:
    """The OUTCOME line of the task's last try: work seconds and peak RSS."""
    folder = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    path = folder / f"attempt={try_number}.log"
    if not path.exists():
        found = sorted(folder.glob("attempt=*.log"))
        if not found:
            return {}
        path = found[-1]
    out: dict[str, Any] = {"log": str(path), "lines": 0, "warning_lines": 0}
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        event, ts = str(rec.get("event", "")), rec.get("timestamp")
        out["lines"] += 1
        out["warning_lines"] += rec.get("level") == "warning"
        if ts and "first_ts" not in out:
            out["first_ts"] = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if event.startswith("START ") and ts:
            out["start_ts"] = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        match = OUTCOME.search(event)
        if match and ts:
            out |= {
                "outcome": match.group(1)[:160],
                "work_s": float(match.group(2)),
                "peak_mb": float(match.group(3)),
                "outcome_ts": dt.datetime.fromisoformat(ts.replace("Z", "+00:00")),
            }
    return out


def _ti_entry(home: Path, run_id: str, row: tuple, previous_end: dt.datetime) -> dict[str, Any]:
    """One task instance (a row of ``run_airflow``'s query): its times from the metadata DB and its log's figures."""
    task_id, map_index, ti_state, tries, scheduled, queued, t_start, t_end = row
    entry: dict[str, Any] = {"map_index": map_index, "state": ti_state, "tries": tries}
    if not (t_start and t_end):
        return entry
    duration = (t_end - t_start).total_seconds()
    logs = _task_logs(home, run_id, task_id, tries, map_index)
    entry |= {
        "start": t_start,
        "end": t_end,
        "duration_s": round(duration, 2),
        "work_s": logs.get("work_s"),
        "peak_mb": logs.get("peak_mb"),
        "import_s": round(duration - logs["work_s"], 2) if "work_s" in logs else None,
        # from the upstream task's end (or the run's start) to this task process starting
        "start_latency_s": round((t_start - previous_end).total_seconds(), 2),
        "scheduled_after_s": round((scheduled - previous_end).total_seconds(), 2) if scheduled else None,
        "queued_after_s": round((queued - previous_end).total_seconds(), 2) if queued else None,
        "outcome": logs.get("outcome"),
        "log_lines": logs.get("lines"),
        "log_warning_lines": logs.get("warning_lines"),
    }
    if {"first_ts", "start_ts", "outcome_ts"} <= logs.keys():
        entry["startup_split_s"] = {  # import_s, split by the task log's timestamps
            "process_start": round((logs["first_ts"] - t_start).total_seconds(), 2),  # fork to first log line
            "parse_to_start": round((logs["start_ts"] - logs["first_ts"]).total_seconds(), 2),  # DAG parse,
            # template rendering, config, imports before the operator's START line
            "after_outcome": round((t_end - logs["outcome_ts"]).total_seconds(), 2),  # XCom push, state
        }
    return entry


def _trigger_and_wait(api_url: str, conf: dict[str, Any]) -> tuple[str, str]:
    import requests

    r = requests.post(f"{api_url}/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf}, timeout=60)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"trigger failed: {r.status_code} {r.text}")
    run_id = r.json()["dag_run_id"]

    def finished() -> str | None:
        state = requests.get(f"{api_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", timeout=30).json()["state"]
        return state if state in ("success", "failed") else None

    # an api-server slow to answer on a loaded machine is asked again; any other error ends the benchmark
    return run_id, wait_until(finished, RUN_TIMEOUT, 1, f"run {run_id} to finish", ignore=(requests.RequestException,))


def run_airflow(home: Path, api_url: str, db: str, cpu_roots: dict[str, int]) -> dict[str, Any]:
    """One triggered run, timed from the metadata DB; CPU of every Airflow process (tasks included) around it."""
    conf = {"window_end": WINDOW_END.isoformat(), "reason": "bench_pipeline"}
    load_at_trigger = _load()
    cpu0 = {name: tree_cpu([pid]) for name, pid in cpu_roots.items()}
    run_id, state = _trigger_and_wait(api_url, conf)
    cpu_parts = {name: round(tree_cpu([pid]) - cpu0[name], 1) for name, pid in cpu_roots.items()}
    ((queued_at, started, ended),) = _pg(
        "SELECT queued_at, start_date, end_date FROM dag_run WHERE run_id = %s", (run_id,), dbname=db
    )
    rows = _pg(
        "SELECT task_id, map_index, state, try_number, scheduled_dttm, queued_dttm, start_date, end_date FROM "
        "task_instance WHERE run_id = %s ORDER BY map_index",
        (run_id,),
        dbname=db,
    )
    tasks: dict[str, Any] = {}
    previous_end = started
    for task_id in TASKS:
        tis = [_ti_entry(home, run_id, row, previous_end) for row in rows if row[0] == task_id]
        if not tis:
            tasks[task_id] = {"state": "missing"}
            continue
        if len(tis) == 1 and tis[0]["map_index"] < 0:
            entry = tis[0]
        else:  # mapped: the span from the first start to the last end; work and import summed over the tasks
            timed = [ti for ti in tis if "start" in ti]
            entry = {"state": ",".join(sorted({ti["state"] for ti in tis})), "mapped": len(tis)}
            if timed:
                works = [ti["work_s"] for ti in timed if ti.get("work_s") is not None]
                entry |= {
                    "start": min(ti["start"] for ti in timed),
                    "end": max(ti["end"] for ti in timed),
                    "work_s": round(sum(works), 2) if works else None,
                    "import_s": round(sum(ti["import_s"] for ti in timed if ti.get("import_s") is not None), 2),
                    "peak_mb": max((ti["peak_mb"] for ti in timed if ti.get("peak_mb") is not None), default=None),
                    "start_latency_s": min(ti["start_latency_s"] for ti in timed),
                    "map": {ti["map_index"]: {k: v for k, v in ti.items() if k not in ("start", "end")} for ti in tis},
                }
                entry["duration_s"] = round((entry["end"] - entry["start"]).total_seconds(), 2)
        previous_end = entry.get("end", previous_end)
        tasks[task_id] = {k: v for k, v in entry.items() if k not in ("start", "end")}
    total = (ended - queued_at).total_seconds()
    return {
        "run_id": run_id,
        "state": state,
        "total_s": total,
        "pickup_s": (started - queued_at).total_seconds(),
        "finish_s": (ended - previous_end).total_seconds(),
        "tasks": tasks,
        "load_at_trigger": load_at_trigger,
        "cpu_s": sum(cpu_parts.values()),
        "cpu_parts_s": cpu_parts,
    }


# -- the whole benchmark ------------------------------------------------------------------------------------------
def bench_pipeline(
    rows: int = 1_000_000,
    *,
    repeat: int = 3,
    keep: bool = False,
    settings: dict[str, str] | None = None,
    lake_dir: str | None = None,
    stock: bool = False,
    executor: str = "local",
    celery_preload: bool = False,
) -> dict:
    """Run both sides and return the figures (see the module docstring). ``settings``: extra AIRFLOW__* env;
    ``stock``: Airflow's LocalExecutor defaults instead of make run's (scripts/local-executor.env); ``executor``
    ``celery``: the Celery stack, figures under ``pipeline_celery`` and ``pipeline_overhead_ratio_celery``."""
    if executor not in ("local", "celery"):
        raise ValueError(f"executor: local or celery, got {executor!r}")
    celery = executor == "celery"
    if celery:
        from mlops_dev import stack as it  # its own Redis DB (claimed on the first redis_db()), flushed at the end

        it.flush_redis()
    settings = {**({} if stock or celery else read_settings()), **(settings or {})}
    t_bench = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    home = work / "airflow"
    home.mkdir()
    procs = Services(work)  # stop() also resumes a group stopped by freeze(): it handles TERM only once resumed
    db = f"bench_pipeline_{os.getpid()}_{secrets.token_hex(3)}"
    created_db = False
    base = base_env(ROOT, BIN)
    start, window_days, holdout_days = _window_days()
    holdout_start = WINDOW_END - dt.timedelta(days=holdout_days)
    rpd = _rows_per_day(rows)
    lake = Path(lake_dir) if lake_dir else work / "lake"
    config = work / "mlops.bench.yaml"
    _write_config(config, lake, rpd)
    marker = lake / f".bench_seeded_{rpd}_{start}_{window_days}"
    ports = {k: free_port() for k in ("api", "logs", "mlflow_af", "mlflow_plain")}
    api_url = f"http://127.0.0.1:{ports['api']}"
    mlflow_urls = {side: f"http://127.0.0.1:{ports[f'mlflow_{side}']}" for side in ("af", "plain")}
    figures: dict[str, Any] = {}
    try:
        _pg(f'CREATE DATABASE "{db}"')
        created_db = True
        af_env = {
            **base,
            **service_env(
                ROOT,
                home,
                executor="CeleryExecutor" if celery else "LocalExecutor",
                api_port=ports["api"],
                log_port=ports["logs"],
                db_uri=f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{db}",
            ),
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "http", "host": mlflow_urls["af"]}),
            "MLOPS_CONFIG": str(config),
            **AIRFLOW_SETTINGS,
            **settings,
        }
        if celery:
            af_env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://{it.REDIS_HOST}:{it.REDIS_PORT}/{it.redis_db()}"
            af_env["AIRFLOW__CELERY__RESULT_BACKEND"] = f"db+postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{db}"
        # setup, in parallel: metadata DB, two MLflow servers, the lake
        procs.start("migrate", ["airflow", "db", "migrate"], af_env)
        for side in ("af", "plain"):
            (work / f"mlflow_{side}").mkdir()
            procs.start(
                f"mlflow_{side}",
                mlflow_server_command(
                    PYTHON,
                    f"sqlite:///{work / f'mlflow_{side}' / 'mlflow.db'}",
                    str(work / f"mlflow_{side}" / "artifacts"),
                    ports[f"mlflow_{side}"],
                ),
                base,
            )
        if not marker.exists():
            procs.start(
                "seed_lake",
                [PYTHON, "-c", SEED_LAKE, str(config), start.isoformat(), str(window_days)],
                {**base, "MLOPS_CONFIG": str(config)},
            )
            procs.finish("seed_lake", 1800)
            marker.write_text(tail(procs.logs["seed_lake"], 200))
        seeded = re.search(r"ROWS (\d+)", marker.read_text())
        figures["pipeline_rows"] = int(seeded.group(1)) if seeded else None
        procs.finish("migrate", START_TIMEOUT)
        procs.start("pools", ["airflow", "pools", "set", PROMOTION_POOL, "1", "Serializes champion promotions"], af_env)
        for side, url in mlflow_urls.items():
            procs.wait_for(
                f"mlflow server {side}", lambda url=url: http_ok(f"{url}/health"), START_TIMEOUT, 0.5, failed_only=True
            )
        procs.start(
            "seed_champion",
            [
                PYTHON,
                "-c",
                SEED_CHAMPION,
                str(config),
                holdout_start.isoformat(),
                str(CHAMPION_TRAIN_DAYS),
                *mlflow_urls.values(),
            ],
            {**base, "MLOPS_CONFIG": str(config)},
        )
        procs.finish("pools", START_TIMEOUT)
        procs.start("api-server", ["airflow", "api-server", "--port", str(ports["api"]), "--host", "127.0.0.1"], af_env)
        procs.start("scheduler", ["airflow", "scheduler"], af_env)
        procs.start("dag-processor", ["airflow", "dag-processor"], af_env)
        worker = ["celery", "worker", "--concurrency", "4", "--celery-hostname", f"{db}@%h"]
        if celery and celery_preload:
            procs.start(
                "celery-worker", [PYTHON, "-c", CELERY_WORKER_PRELOADED, ",".join(preload_modules()), *worker], af_env
            )
        elif celery:
            procs.start("celery-worker", ["airflow", *worker], af_env)
        procs.finish("seed_champion", 1800)
        if celery:
            procs.wait_for(
                "celery worker",
                lambda: " ready." in procs.logs["celery-worker"].read_text(errors="replace"),
                START_TIMEOUT,
                0.5,
                failed_only=True,
            )

        def dag_ready() -> bool:
            import requests

            health = requests.get(f"{api_url}/api/v2/monitor/health", timeout=3).json()
            if not all(
                health.get(p, {}).get("status") == "healthy" for p in ("metadatabase", "scheduler", "dag_processor")
            ):
                return False
            dag = requests.get(f"{api_url}/api/v2/dags/{DAG_ID}", timeout=3).json()
            return dag.get("is_paused") is False

        procs.wait_for(
            "api-server, scheduler, dag-processor and the DAG", dag_ready, START_TIMEOUT, 0.5, failed_only=True
        )
        errors = __import__("requests").get(f"{api_url}/api/v2/importErrors", timeout=10).json()
        if errors.get("total_entries"):
            raise RuntimeError(f"DAG import errors: {errors}")
        time.sleep(5)  # let the components finish starting (first parses) before the clock starts
        # Warm-up: a run on a window with no data fails in its first task (not retried). A deployment that has
        # been up a while is warm; a fresh api-server answers its first Execution API call ~3-5 s late, once.
        t = time.perf_counter()
        _, warm_state = _trigger_and_wait(api_url, {"window_end": "2020-01-06", "reason": "bench_pipeline warm-up"})
        warmup = {"s": round(time.perf_counter() - t, 2), "state": warm_state}
        airflow_side: tuple[str, ...] = ("api-server", "scheduler", "dag-processor")
        if celery:
            airflow_side += ("celery-worker",)
        cpu_roots = {n: procs.procs[n].pid for n in airflow_side}  # the scheduler's tree holds the task processes
        idle0 = tree_cpu(list(cpu_roots.values()))
        time.sleep(IDLE_SAMPLE_S)  # what the idle components cost (scheduler loop, DAG re-parsing)
        idle_cpu_per_min = (tree_cpu(list(cpu_roots.values())) - idle0) * 60 / IDLE_SAMPLE_S
        server_roots = {side: [procs.procs[f"mlflow_{side}"].pid] for side in ("af", "plain")}
        pairs = []
        for i in range(repeat):  # each side runs while the other one's processes are stopped (no CPU)
            freeze(procs, ("mlflow_plain",), stop=True)
            srv0 = tree_cpu(server_roots["af"])
            airflow = run_airflow(home, api_url, db, cpu_roots)
            airflow["mlflow_server_cpu_s"] = tree_cpu(server_roots["af"]) - srv0
            freeze(procs, ("mlflow_plain",), stop=False)
            freeze(procs, (*airflow_side, "mlflow_af"), stop=True)
            time.sleep(1)
            srv0 = tree_cpu(server_roots["plain"])
            plain = run_plain(work, config, mlflow_urls["plain"], f"plain-{i + 1}")
            plain["mlflow_server_cpu_s"] = tree_cpu(server_roots["plain"]) - srv0
            freeze(procs, (*airflow_side, "mlflow_af"), stop=False)
            pairs.append((airflow, plain))
            print(
                f"... pair {i + 1}/{repeat}: airflow {airflow['total_s']:.1f} s ({airflow['state']}), plain "
                f"{plain['wall_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )

        def same_outcome(airflow: dict, plain: dict) -> bool:  # both sides decided the same way
            tasks = airflow["tasks"]
            blessed = (tasks["evaluate_challenger"].get("outcome") or "").startswith("BLESSED")
            return (
                airflow["state"] == "success"
                and blessed == plain["promoted"]
                and ((tasks["promote_challenger"].get("state") == "success") == plain["promoted"])
            )

        af_s = [a["total_s"] for a, _ in pairs]
        pl_s = [p["wall_s"] for _, p in pairs]
        airflow, plain = pairs[0]
        tasks = airflow["tasks"]
        figures.update(
            {
                "pipeline_airflow_s": round(statistics.median(af_s), 2),
                "pipeline_plain_s": round(statistics.median(pl_s), 2),
                "pipeline_overhead_ratio": round(statistics.median(af_s) / statistics.median(pl_s), 3),
                # the first run (the one that promotes); work_vs_plain_s = work - the same calls in the plain process
                # (its imports done up front): what a task process pays again (heavy imports, first calls) plus noise
                "pipeline_tasks": {
                    t: {
                        **{k: v.get(k) for k in ("duration_s", "work_s", "import_s", "peak_mb")},
                        "work_vs_plain_s": round(v["work_s"] - plain["steps"][t], 2)
                        if v.get("work_s") is not None
                        else None,
                    }
                    for t, v in tasks.items()
                },
                # CPU seconds: every Airflow process (api-server, scheduler + its LocalExecutor workers and their task
                # processes, dag-processor) vs the plain process; MLflow servers apart. Less sensitive to other load.
                "pipeline_cpu_s": {
                    "airflow": round(statistics.median([a["cpu_s"] for a, _ in pairs]), 1),
                    "airflow_parts": airflow["cpu_parts_s"],  # the first run
                    "airflow_idle_per_min": round(idle_cpu_per_min, 1),
                    "plain": round(statistics.median([p["cpu_s"] for _, p in pairs]), 1),
                    "mlflow_server_airflow_side": round(
                        statistics.median([a["mlflow_server_cpu_s"] for a, _ in pairs]), 1
                    ),
                    "mlflow_server_plain_side": round(
                        statistics.median([p["mlflow_server_cpu_s"] for _, p in pairs]), 1
                    ),
                },
                "pipeline_runs": [
                    {
                        "airflow_s": round(a["total_s"], 2),
                        "plain_s": round(p["wall_s"], 2),
                        "ratio": round(a["total_s"] / p["wall_s"], 3),
                        "airflow_cpu_s": round(a["cpu_s"], 1),
                        "plain_cpu_s": round(p["cpu_s"], 1),
                        "load_airflow": a["load_at_trigger"],
                        "load_plain": p["load_at_start"],
                        "same_outcome": same_outcome(a, p),
                        "promoted": p["promoted"],
                    }
                    for a, p in pairs
                ],
                "pipeline_same_outcome": all(same_outcome(a, p) for a, p in pairs),
                "pipeline_airflow_detail": {
                    "pickup_s": round(airflow["pickup_s"], 2),  # run created -> run started by the scheduler
                    "finish_s": round(airflow["finish_s"], 2),  # last task end -> run end
                    "tasks": tasks,
                    "run_id": airflow["run_id"],
                    "warmup_run": warmup,
                },
                "pipeline_plain_detail": {
                    "steps_s": {k: round(v, 2) for k, v in plain["steps"].items()},
                    "startup_s": round(plain["startup_s"], 2),
                    "peak_mb": round(plain["peak_mb"]),
                    "promoted": plain["promoted"],
                    "champion_before": plain["champion_before"],
                    "reason": plain["reason"],
                },
                "pipeline_settings": {k: v for k, v in af_env.items() if k in AIRFLOW_SETTINGS or k in settings},
                "pipeline_executor": af_env["AIRFLOW__CORE__EXECUTOR"]
                + (" (stock)" if stock else "")
                + (" (worker preloaded)" if celery and celery_preload else ""),
            }
        )
        if celery:
            return {"pipeline_overhead_ratio_celery": figures["pipeline_overhead_ratio"], "pipeline_celery": figures}
        return figures
    finally:
        procs.stop()
        if created_db:
            with contextlib.suppress(Exception):
                _pg(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if celery:
            with contextlib.suppress(Exception):
                it.flush_redis()
        figures["pipeline_bench_wall_s"] = round(time.perf_counter() - t_bench, 1)
        if keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the training window (all 28 days)")
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs (Airflow, then plain); medians reported")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, task logs, stores)")
    parser.add_argument("--lake", help="lake folder to reuse between runs (seeded once per size)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="an extra Airflow setting for the benchmark's Airflow, e.g. scheduler.x=1",
    )
    parser.add_argument("--stock", action="store_true", help="Airflow's LocalExecutor defaults, not make run's")
    parser.add_argument("--executor", choices=("local", "celery"), default="local", help="the scheduler's executor")
    parser.add_argument("--celery-preload", action="store_true", help="the Celery worker imports the libraries first")
    parser.add_argument("--plain-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_child:
        _plain_child(json.loads(args.plain_child))
        return 0
    settings = {}
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, option = key.partition(".")
        settings[f"AIRFLOW__{section.upper()}__{option.upper()}"] = value
    print(
        json.dumps(
            bench_pipeline(
                args.rows,
                repeat=args.repeat,
                keep=args.keep,
                settings=settings,
                lake_dir=args.lake,
                stock=args.stock,
                executor=args.executor,
                celery_preload=args.celery_preload,
            )
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
