"""mlops_dev: the dev-only support package, the one copy of the harness that the suite, `make demo` and the
benchmarks share (scripts import it, never ``tests.*``)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_dev import (
    ProcessExited,
    Services,
    base_env,
    free_port,
    spawn,
    stop_process_group,
    tail,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_until_returns_the_first_truthy_value():
    calls = iter([None, 0, [], {"ready": True}])
    assert wait_until(lambda: next(calls), 5, 0.01, "a value") == {"ready": True}


def test_wait_until_names_what_it_waited_for_and_the_last_error():
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"the moon: not ready within 0s .*last error: ZeroDivisionError"):
        wait_until(lambda: 1 / 0, 0.2, 0.05, "the moon")
    assert time.monotonic() - began < 5


def test_wait_until_lets_an_unexpected_error_through():
    with pytest.raises(ZeroDivisionError):
        wait_until(lambda: 1 / 0, 5, 0.05, "the moon", ignore=())


def test_wait_until_gives_up_when_a_watched_process_exits(tmp_path):
    proc = spawn([sys.executable, "-c", "raise SystemExit(3)"], {}, tmp_path / "p.log")
    proc.wait(timeout=30)
    with pytest.raises(ProcessExited, match=r"exited: \{'p': 3\}"):
        wait_until(lambda: False, 60, 0.05, "p ready", procs={"p": proc})


def test_stop_process_group_ends_the_children_too(tmp_path):
    """A child that ignores SIGTERM, in the leader's group, is gone after stop_process_group."""
    child = "import signal as s, time; s.signal(s.SIGTERM, s.SIG_IGN); print('up', flush=True); time.sleep(99)"
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(600)"
    services = Services(tmp_path)
    services.start("leader", [sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"})
    leader = services.procs["leader"]
    services.wait_for("the child", lambda: "up" in services.logs["leader"].read_text(), 60, 0.05)
    pids = subprocess.run(["pgrep", "-g", str(leader.pid)], capture_output=True, text=True).stdout.split()
    assert len(pids) == 2, pids
    stop_process_group(leader, grace=0.5)
    assert leader.poll() is not None
    gone = wait_until(
        lambda: not subprocess.run(["pgrep", "-g", str(leader.pid)], capture_output=True).stdout, 10, 0.1, "the group"
    )
    assert gone


def test_services_finish_raises_with_the_log_tail(tmp_path):
    services = Services(tmp_path)
    services.start("one-shot", [sys.executable, "-c", "print('boom'); raise SystemExit(2)"], {})
    with pytest.raises(RuntimeError, match=r"one-shot failed \(2\):\nboom"):
        services.finish("one-shot", 30)
    assert tail(services.logs["one-shot"]) == "boom\n"


def test_base_env_drops_what_configures_airflow_mlflow_and_the_pipeline(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("MLOPS_CONFIG", "/elsewhere.yaml")
    env = base_env(ROOT)
    assert not [k for k in env if k.startswith(("AIRFLOW", "MLOPS_", "MLFLOW_TRACKING"))]
    assert env["PYTHONPATH"].split(":") == [str(ROOT), str(ROOT / "plugins")]


@pytest.mark.parametrize("module", ["mlops_dev", "mlops_dev.stack", "mlops_dev.task_context"])
def test_importing_the_support_package_imports_nothing_but_the_standard_library(module):
    """The root conftest.py imports it before Airflow reads its configuration; the benchmarks before anything else."""
    heavy = {"airflow", "mlflow", "requests", "pytest", "yaml", "redis", "psycopg2", "boto3", "include", "tests"}
    code = (
        f"import sys; import {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(heavy)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_stack_module_claims_no_redis_db_on_import_and_honours_a_pinned_one():
    """Importing mlops_dev.stack touches no service (the old tests/integration/conftest.py claimed a Redis DB on
    import); the DB is claimed on the first redis_db() call, and MLOPS_IT_REDIS_DB pins it without Redis."""
    code = (
        "import sys, mlops_dev.stack as s; assert 'redis' not in sys.modules; "
        "print(s.redis_db(), 'redis' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "MLOPS_IT_REDIS_DB": "11"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["11", "False"], out.stdout + out.stderr


def test_no_script_imports_the_tests_package():
    """Scripts, demo and benchmarks use the dev-only package, never tests.* (a test module has import-time side
    effects and is not a library)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "scripts").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s*(from|import)\s+tests(\.|\s|$)", line)
    ]
    assert offenders == []
