"""tests/support: the one copy of the harness that the suite, `make demo` and the pipeline benchmark share."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import (
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


def test_importing_the_support_package_imports_nothing_but_the_standard_library():
    """The root conftest.py imports it before Airflow reads its configuration."""
    code = (
        "import sys; import tests.support; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'mlflow', 'requests', 'pytest', 'yaml'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
