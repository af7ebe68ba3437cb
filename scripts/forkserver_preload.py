"""The LocalExecutor forkserver preload of `make run`, defined once in scripts/local-executor.env.

Airflow applies it in the scheduler (``airflow.utils.process_utils.set_component_mp_start_method("scheduler")``,
called by ``airflow scheduler``, which ``airflow standalone`` runs as a subprocess with its own environment):
``multiprocessing.set_start_method("forkserver")`` and ``multiprocessing.set_forkserver_preload(<list>)``. The
LocalExecutor's workers are then ``multiprocessing.Process`` children of a forkserver that imported the list once,
and the Task SDK supervisor in a worker forks each task process (``os.fork``): the task inherits the libraries.

Python's forkserver skips a preload module that raises ImportError without a word (a typo silently turns the
preload off) and dies on any other exception (then no worker, so no task, starts). ``--check`` imports each
module in a fresh interpreter, with the caller's environment, and refuses the list on any failure, on a module
of the project (include/, plugins/, dags/: those must be imported by each task from disk) and on a module that
drags one in. scripts/run_local.sh runs it before Airflow starts.

    python scripts/forkserver_preload.py --check        # exit 1, with the reason, when the list is unsafe
    python scripts/forkserver_preload.py --probe SPEC   # used by tests/deploy/test_forkserver_preload.py
    python scripts/forkserver_preload.py --memory       # RSS/PSS/USS of a task process, preloaded vs stock

Standard library only at module level (bench_pipeline.py imports it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = Path(__file__).with_name("local-executor.env")
START_METHOD = "AIRFLOW__SCHEDULER__MP_START_METHOD"
PRELOAD = "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"
PROJECT_DIRS = tuple(str(ROOT / d) + os.sep for d in ("include", "plugins", "dags"))


def read_settings(path: Path = ENV_FILE) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of the env file (comments and blank lines skipped); values taken verbatim."""
    out: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.replace("_", "").isalnum():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        out[key] = value
    return out


def preload_modules(settings: dict[str, str] | None = None) -> list[str]:
    """The preload list as Airflow reads it (comma-separated, blanks dropped)."""
    raw = (read_settings() if settings is None else settings).get(PRELOAD, "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def project_modules() -> list[str]:
    """Modules of this interpreter loaded from the project's include/, plugins/ or dags/."""
    return sorted(
        name
        for name, mod in list(sys.modules.items())
        if str(getattr(mod, "__file__", None) or "").startswith(PROJECT_DIRS)
    )


_IMPORT_EACH = """
import importlib, json, sys, traceback
sys.path[:0] = [sys.argv[1]]
from forkserver_preload import project_modules
out = {"failed": {}, "project": {}}
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except BaseException as exc:  # ImportError is skipped by the forkserver, anything else kills it
        out["failed"][name] = f"{type(exc).__name__}: {exc}"
        continue
    mod = sys.modules[name]
    if str(getattr(mod, "__file__", None) or "").startswith(tuple(json.loads(sys.argv[3]))):
        out["project"][name] = mod.__file__
seen = project_modules()
if seen and not out["project"]:  # a third-party module that imports the project's
    out["project"]["(imported along)"] = ", ".join(seen)
print("CHECK " + json.dumps(out))
"""


def check(modules: list[str] | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> list[str]:
    """What is wrong with the preload list (empty: nothing), importing it as the forkserver would."""
    modules = preload_modules() if modules is None else modules
    if not modules:
        return [f"{PRELOAD} is empty in {ENV_FILE}: nothing would be preloaded"]
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, str(Path(__file__).parent), json.dumps(modules), json.dumps(PROJECT_DIRS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("CHECK ")]
    if out.returncode != 0 or not lines:
        return [f"the preload check itself failed ({out.returncode}): {out.stderr[-2000:]}"]
    res = json.loads(lines[-1][len("CHECK ") :])
    problems = [
        f"{name} does not import ({why}): fix or remove it in {ENV_FILE}" for name, why in res["failed"].items()
    ]
    problems += [
        f"{name} is the project's code ({where}): a preloaded project module would not reload when edited; "
        f"remove it from {ENV_FILE}"
        for name, where in res["project"].items()
    ]
    return problems


# -- the probe: what a task process of the scheduler's LocalExecutor sees ----------------------------------------
def _memory() -> dict[str, float]:
    """RSS, PSS and USS (private pages) of this process in MB, from /proc/self/smaps_rollup (RSS only without)."""
    out: dict[str, float] = {}
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:])
        kb = {k: int(v.split()[0]) for k, v in fields.items()}
        out = {
            "rss_mb": kb["Rss"] / 1024,
            "pss_mb": kb["Pss"] / 1024,
            "uss_mb": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024,
        }
    except (OSError, KeyError, ValueError):
        status = Path("/proc/self/status").read_text()
        out["rss_mb"] = int(status.split("VmRSS:")[1].split()[0]) / 1024
    return {k: round(v, 1) for k, v in out.items()}


def _task(conn: Any, spec: dict[str, Any]) -> None:
    """A task process (forked by the worker, as the supervisor does): what it inherited, then the project's module
    (``spec["module"]`` in ``spec["module_dir"]``) imported from disk; its VALUE reported."""
    import importlib

    report: dict[str, Any] = {
        "pid": os.getpid(),
        "inherited": sorted(m for m in spec["heavy"] if m in sys.modules),
        "project_before": project_modules() + [m for m in (spec.get("module"),) if m in sys.modules],
        "threads": len(os.listdir("/proc/self/task")),
    }
    if spec.get("module"):
        sys.path.insert(0, spec["module_dir"])
        report["value"] = importlib.import_module(spec["module"]).VALUE
    if spec.get("work"):  # what the task's first calls do: BLAS, Arrow's allocator (jemalloc), a fit
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        for name in spec["heavy"]:
            importlib.import_module(name)
        a = np.random.default_rng(0).random((300, 300))
        report["blas"] = float((a @ a).trace()) > 0
        report["arrow"] = pa.Table.from_pandas(pd.DataFrame({"x": range(10_000)})).num_rows
        report["memory"] = _memory()
    conn.send(report)


def _worker(conn: Any, spec: dict[str, Any]) -> None:
    """A LocalExecutor worker (a ``multiprocessing.Process`` of the scheduler): forks one task process per message,
    as ``BaseExecutor.run_workload`` -> ``supervise`` does, until told to stop."""
    conn.send(
        {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "start_method": __import__("multiprocessing").get_start_method(),
            "inherited": sorted(m for m in spec["heavy"] if m in sys.modules),
            "project": project_modules(),
        }
    )
    while conn.recv() == "task":
        pid = os.fork()
        if pid == 0:
            try:
                _task(conn, spec)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    conn.send({"worker_has_module": spec.get("module") in sys.modules})


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Apply ``spec["settings"]`` (AIRFLOW__* env) as the scheduler does, start one worker, run one task per item of
    ``spec["versions"]`` (each written to ``module_dir/module.py`` before its task; None: no module). Run it in a
    fresh interpreter: it sets this process's multiprocessing start method."""
    import multiprocessing
    import time

    os.environ.update(spec["settings"])
    from airflow.utils.process_utils import set_component_mp_start_method

    set_component_mp_start_method("scheduler")  # what `airflow scheduler` does before its LocalExecutor starts
    parent, child = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=_worker, args=(child, spec))  # what LocalExecutor._spawn_worker does
    worker.start()
    out: dict[str, Any] = {"driver_pid": os.getpid(), "worker": parent.recv(), "tasks": []}
    path = Path(spec.get("module_dir") or ".") / f"{spec.get('module')}.py"
    for i, version in enumerate(spec.get("versions") or [None]):
        if spec.get("module") and version is not None:
            path.write_text(version)
            stamp = time.time() + i  # a new mtime even within one second: the bytecode cache checks mtime and size
            os.utime(path, (stamp, stamp))
        parent.send("task")
        out["tasks"].append(parent.recv())
        if spec.get("memory_of_worker"):
            out.setdefault("forkserver_threads", []).append(
                len(os.listdir(f"/proc/{out['worker']['ppid']}/task")) if out["worker"]["ppid"] != os.getpid() else None
            )
    parent.send("stop")
    out |= parent.recv()
    worker.join(60)
    return out


def memory(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Memory of one task process (after importing the libraries and a little work), preloaded vs Airflow's default
    (fork from the scheduler, which has imported Airflow only; the task imports the libraries itself)."""
    heavy = preload_modules()
    results = {}
    for mode, settings in (("preload", read_settings()), ("stock", {})):
        spec = {"settings": settings, "heavy": heavy, "work": True, "memory_of_worker": True}
        results[mode] = run_probe(spec, env)["tasks"][0]["memory"]
    return results


def run_probe(spec: dict[str, Any], env: dict[str, str] | None = None, timeout: float = 600) -> dict[str, Any]:
    """``probe(spec)`` in a fresh interpreter (``env``: its environment); its result."""
    out = subprocess.run(
        [sys.executable, __file__, "--probe", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"probe failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][len("PROBE ") :])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true", help="refuse a preload list that would not work as meant")
    group.add_argument("--probe", help=argparse.SUPPRESS)
    group.add_argument("--memory", action="store_true", help="task process memory with and without the preload")
    args = parser.parse_args()
    if args.probe:
        sys.path[:0] = [str(Path(__file__).parent)]
        print("PROBE " + json.dumps(probe(json.loads(args.probe))))
        return 0
    if args.memory:
        print(json.dumps(memory()))
        return 0
    problems = check()
    for problem in problems:
        print(f"forkserver preload: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
