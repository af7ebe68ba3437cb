"""Processes of a native stack: free ports, waiting for a condition, process groups and their logs, MLflow servers.

Standard library only at import time (``scripts/bench_pipeline.py`` imports it before anything else is set up).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a service started next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, chars: int = 3000) -> str:
    """The last ``chars`` characters of a log file (or why it cannot be read)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"<{exc}>"


def tails(logs: Mapping[str, Path], chars: int = 3000) -> str:
    """``tail`` of every log, each under a ``--- name (path)`` line."""
    return "\n".join(f"--- {name} ({path})\n{tail(path, chars)}" for name, path in logs.items())


def http_ok(url: str, timeout: float = 3) -> bool:
    """GET ``url`` answers 200."""
    import urllib.request  # here: the benchmark's timed plain child imports this module

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out, or an HTTP error status
        return False


class ProcessExited(RuntimeError):
    """A process that ``wait_until`` watched exited before the condition held."""


def exited(procs: Mapping[str, subprocess.Popen], *, failed_only: bool = False) -> dict[str, int]:
    """name -> return code of each process that has exited (with ``failed_only``: exited non-zero)."""
    done = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
    return {name: rc for name, rc in done.items() if not (failed_only and rc == 0)}


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    interval: float = 1.0,
    what: str = "the condition",
    *,
    procs: Mapping[str, subprocess.Popen] | None = None,
    failed_only: bool = False,
    ignore: tuple[type[BaseException], ...] = (Exception,),
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and return that.

    An exception of a type in ``ignore`` counts as "not yet" (the last one is named if it comes to a timeout).
    Raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds, or ``ProcessExited`` as soon as one of
    ``procs`` (name -> process) has exited (``failed_only``: exited non-zero); ``details()`` (log tails, say) is
    appended to either message."""
    deadline = time.monotonic() + timeout
    while True:
        last_error: BaseException | None = None
        try:
            value = condition()
        except ignore as exc:
            last_error = exc
        else:
            if value:
                return value
        dead = exited(procs or {}, failed_only=failed_only)
        if dead or time.monotonic() > deadline:
            gone = "failed" if failed_only else "exited"
            message = f"{what}: not ready within {timeout:.0f}s ({gone}: {dead or 'none'})"
            if last_error is not None:
                message += f"; last error: {type(last_error).__name__}: {str(last_error)[:500]}"
            if details is not None:
                message += f"\n{details()}"
            raise (ProcessExited if dead else TimeoutError)(message)
        time.sleep(interval)


def spawn(cmd: list[str], env: Mapping[str, str], log: Path, *, cwd: Path | None = None, append: bool = False):
    """Start ``cmd`` in a process group of its own (``stop_process_group`` ends it with its children), stdout and
    stderr to ``log``, stdin from /dev/null."""
    with open(log, "a" if append else "w") as fh:  # the child keeps its own descriptor
        return subprocess.Popen(
            cmd,
            env=dict(env),
            cwd=str(cwd) if cwd else None,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process_group(*procs: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group of each process (led by it: ``spawn`` starts a new session), SIGCONT so that a
    stopped group handles it, up to ``grace`` seconds in all for a graceful stop, then SIGKILL what is left of
    each group: the group may outlive its leader (task subprocesses, gunicorn/uvicorn workers)."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
            os.killpg(p.pid, signal.SIGCONT)
    deadline = time.monotonic() + grace
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)


class Services:
    """The subprocesses of a native stack, by name, each in a process group of its own and logging to
    ``work/<name>.log`` (a name started again logs to ``<name>.1.log``, ``<name>.2.log``, ...; the earlier log
    is kept). ``procs``, ``logs`` and ``commands`` (name -> (cmd, env) it was last started with) are plain
    dicts a stack object may share; ``start`` is what it can restart a service with."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        path, n = self.work / f"{name}.log", 1
        while path.exists():
            path, n = self.work / f"{name}.{n}.log", n + 1
        self.logs[name] = path
        self.commands[name] = (cmd, env)
        self.procs[name] = spawn(cmd, env, path, cwd=self.work)
        return self.procs[name]

    def finish(self, name: str, timeout: float) -> None:
        """Wait for the one-shot process ``name`` to exit 0; raise with its log tail if it did not."""
        try:
            rc: int | str = self.procs[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = "timeout"
        if rc != 0:
            raise RuntimeError(f"{name} failed ({rc}):\n{tail(self.logs[name], 5000)}")
        del self.procs[name]

    def wait_for(
        self,
        what: str,
        check: Callable[[], Any],
        timeout: float,
        interval: float = 1.0,
        *,
        watch: tuple[str, ...] | None = None,
        failed_only: bool = False,
    ) -> Any:
        """``wait_until(check)``, given up as soon as a process of ``watch`` (default: every running one) exits;
        the error carries the tails of every log."""
        procs = self.procs if watch is None else {n: self.procs[n] for n in watch}
        return wait_until(
            check, timeout, interval, what, procs=procs, failed_only=failed_only, details=lambda: tails(self.logs)
        )

    def stop(self, *names: str, grace: float = 20.0) -> None:
        """``stop_process_group`` for ``names`` (default: all), and forget them."""
        chosen = {n: p for n, p in self.procs.items() if not names or n in names}
        stop_process_group(*chosen.values(), grace=grace)
        for name in chosen:
            del self.procs[name]


# -- MLflow tracking server -----------------------------------------------------------------------------------------
# No job runner (huey workers for MLflow's GenAI jobs, unused here): it outlived the server and held each stop ~12 s.
NO_MLFLOW_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def mlflow_server_command(python: str, backend_store_uri: str, artifacts_destination: str, port: int) -> list[str]:
    """``mlflow server`` on 127.0.0.1:``port``, one worker, artifacts served by the server (``--serve-artifacts``)."""
    return [
        python,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


class MlflowServer:
    """``mlflow server`` in a process group of its own, on a port and store of its own under ``root`` (SQLite store
    ``root/db.sqlite``, artifacts in ``root/artifacts``, log ``root/server.log``). It can be stopped and started
    again on the same port and store. ``start_mlflow_server`` makes one and starts it."""

    def __init__(
        self,
        root: Path,
        *,
        backend_store_uri: str | None = None,
        artifacts_destination: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "server.log"
        self.command = mlflow_server_command(
            python,
            backend_store_uri or f"sqlite:///{root / 'db.sqlite'}",
            artifacts_destination or str(root / "artifacts"),
            self.port,
        )
        self.env = env  # None: this process's environment when started
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180, interval: float = 0.2) -> MlflowServer:
        """Start it and wait for ``/health``; raise with the log tail (the server stopped) if it does not come up."""
        env = {**(os.environ if self.env is None else self.env), **NO_MLFLOW_JOBS}
        self.proc = spawn(self.command, env, self.log, append=True)
        try:
            wait_until(self.healthy, timeout, interval, f"mlflow server on {self.url}", procs={"mlflow": self.proc})
        except (TimeoutError, ProcessExited) as exc:
            self.stop()
            raise RuntimeError(f"mlflow server did not start ({exc}): {tail(self.log, 2000)}") from exc
        return self

    def healthy(self) -> bool:
        return http_ok(f"{self.url}/health", timeout=2)

    def stop(self, grace: float = 30) -> None:
        """Stop the whole process group (uvicorn runs as a child) and wait (up to 30 s) until the port refuses."""
        if self.proc is None:
            return
        stop_process_group(self.proc, grace=grace)
        self.proc = None
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not self.healthy(), 30, 0.1, f"mlflow server on {self.url} to stop")

    def __enter__(self) -> MlflowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_mlflow_server(root: Path, *, timeout: float = 180, **kwargs: Any) -> MlflowServer:
    """A started ``MlflowServer`` (see there for ``kwargs``); its ``stop()`` (or leaving a ``with`` block) ends it."""
    return MlflowServer(root, **kwargs).start(timeout)
