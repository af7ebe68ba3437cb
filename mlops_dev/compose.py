"""docker-compose.yaml run on podman: the compose smoke test's (tests/containers) project, by name.

``ComposeProject`` drives ``podman-compose`` (the dev lock's) with the repository's docker-compose.yaml and
deploy/podman/compose.podman.yaml, an env file of its own (the stand-in images of deploy/podman/standins.env, fresh
random secrets, free host ports) and a project name of its own, and knows how to remove everything of that project
(containers, pods, volumes, networks) by podman's compose labels, whatever state a failed run left. ``compose_stack``
gives a ``Stack`` (mlops_dev.stack: the REST, S3 and DAG-run helpers) pointed at the published ports.
Standard library only at import time.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_dev.services import free_port
from mlops_dev.stack import ROOT, Stack

COMPOSE_FILES = (ROOT / "docker-compose.yaml", ROOT / "deploy" / "podman" / "compose.podman.yaml")
STANDINS_ENV = ROOT / "deploy" / "podman" / "standins.env"
BUILD_SCRIPT = ROOT / "deploy" / "podman" / "build-images.sh"
METRICS_TOKEN = ROOT / ".secrets" / "mlops_metrics_token"  # the compose file's secret, relative to it
PROJECT_LABEL = "io.podman.compose.project"
PODMAN_COMPOSE = str(ROOT / ".venv" / "bin" / "podman-compose")


class ComposeFailed(AssertionError):
    """A podman-compose or podman command failed; the message has its output."""


def podman_missing() -> str | None:
    """Why the containers cannot run here (``make container-deps`` installs what is missing), or None."""
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run `make container-deps` (root: apt-get and /etc/containers)"
    if not Path(PODMAN_COMPOSE).exists():
        return f"{PODMAN_COMPOSE} is missing: run `make venv` (podman-compose is in requirements-dev.lock)"
    return None


def run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run ``cmd`` from the repository root; its output (stdout and stderr), or ``ComposeFailed`` with it."""
    proc = subprocess.run(  # noqa: S603 - the commands are the test's own
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise ComposeFailed(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{out[-6000:]}")
    return out


@dataclass
class ComposeProject:
    """One compose project on podman, with settings of its own (``settings``: what its env file holds)."""

    name: str
    env_file: Path
    settings: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    created_token: bool = False

    @classmethod
    def create(cls, name: str, workdir: Path, **overrides: str) -> ComposeProject:
        settings = {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
            "AIRFLOW_ADMIN_USERNAME": "admin",
            "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(18),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "MINIO_ROOT_USER": "mlops-smoke",
            "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(18),
            "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18),  # interpolated even with its profile off
            "AIRFLOW_API_PORT": str(free_port()),
            "MLFLOW_PORT": str(free_port()),
            "MINIO_API_PORT": str(free_port()),
            "MINIO_CONSOLE_PORT": str(free_port()),
            "PROMETHEUS_PORT": str(free_port()),
            "AIRFLOW_WORKER_CONCURRENCY": "2",
            **_read_env(STANDINS_ENV),
            **overrides,
        }
        env_file = workdir / f"{name}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        env_file.chmod(0o600)
        return cls(name=name, env_file=env_file, settings=settings)

    # -- commands ---------------------------------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 600) -> str:
        files = [a for f in COMPOSE_FILES for a in ("-f", str(f))]
        # the env file replaces .env: a developer's own .env (profiles, ports) never leaks into the test
        env = {k: v for k, v in os.environ.items() if k not in self.settings and k != "COMPOSE_PROFILES"}
        return run(
            [PODMAN_COMPOSE, "-p", self.name, "--env-file", str(self.env_file), *files, *args], timeout=timeout, env=env
        )

    def timed(self, phase: str, *args: str, timeout: float = 600) -> str:
        start = time.monotonic()
        try:
            return self.compose(*args, timeout=timeout)
        finally:
            self.timings[phase] = round(time.monotonic() - start, 1)

    def containers(self, service: str | None = None, *, all_states: bool = True) -> list[dict[str, Any]]:
        """``podman ps`` of this project (or of one service): dicts with Names, State, Labels, ExitCode..."""
        cmd = ["podman", "ps", "--format", "json", "--filter", f"label={PROJECT_LABEL}={self.name}"]
        if all_states:
            cmd.append("-a")
        if service:
            cmd += ["--filter", f"label=io.podman.compose.service={service}"]
        return json.loads(run(cmd, timeout=60) or "[]")

    def logs(self, service: str, tail: int = 60) -> str:
        parts = []
        for c in self.containers(service):
            name = c["Names"][0]
            parts.append(
                f"--- {name} ({c['State']})\n"
                + run(["podman", "logs", "--tail", str(tail), name], timeout=60, check=False)
            )
        return "\n".join(parts) or f"(no container of {service})"

    def hostnames(self, service: str) -> dict[str, str]:
        """container name -> its hostname (what Airflow records as a task instance's hostname)."""
        names = [c["Names"][0] for c in self.containers(service, all_states=False)]
        if not names:
            return {}
        out = run(["podman", "inspect", "--format", "{{.Name}} {{.Config.Hostname}}", *names], timeout=60)
        return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())

    def leftovers(self) -> dict[str, list[str]]:
        """What of this project podman still has: containers, pods, volumes, networks (by compose label/name)."""
        label = f"label={PROJECT_LABEL}={self.name}"
        found = {
            "containers": run(["podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}"], timeout=60),
            "pods": run(["podman", "pod", "ps", "--filter", label, "--format", "{{.Name}}"], timeout=60),
            "volumes": run(["podman", "volume", "ls", "--filter", label, "--format", "{{.Name}}"], timeout=60),
            "networks": run(["podman", "network", "ls", "--format", "{{.Name}}"], timeout=60),
        }
        out = {kind: [n for n in text.split() if n] for kind, text in found.items()}
        out["networks"] = [n for n in out["networks"] if n.startswith(f"{self.name}_")]
        return out

    def remove_everything(self) -> None:
        """``down -v``, then whatever is left of the project by name, ignoring errors: a failed run's cleanup."""
        try:
            self.compose("down", "-v", "--remove-orphans", "-t", "20", timeout=300)
        except (ComposeFailed, subprocess.TimeoutExpired):
            pass
        left = self.leftovers()
        for kind, cmd in (
            ("containers", ["podman", "rm", "-f", "-v", "-t", "5"]),
            ("pods", ["podman", "pod", "rm", "-f"]),
            ("volumes", ["podman", "volume", "rm", "-f"]),
            ("networks", ["podman", "network", "rm", "-f"]),
        ):
            if left[kind]:
                run([*cmd, *left[kind]], timeout=300, check=False)


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@dataclass
class ComposeStack(Stack):
    """A ``Stack`` (REST, S3, DAG runs) on a compose project's published ports; its diagnostics are the
    containers' log tails."""

    project: ComposeProject | None = field(default=None, repr=False)

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        parts = [super().diagnostics(dag_id, run_id)]
        if dag_id and run_id:  # the failed tasks' own logs, over REST (they live on the stack's log volume)
            try:
                base = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
                for ti in self.api("GET", base).json()["task_instances"]:
                    if ti["state"] == "failed":
                        log = self.api("GET", f"{base}/{ti['task_id']}/logs/{ti['try_number']}").json()
                        content = log.get("content", [])
                        lines = [c.get("event", str(c)) if isinstance(c, dict) else str(c) for c in content]
                        text = "\n".join(lines)[-3000:]
                        parts.append(f"--- task log {ti['task_id']} try {ti['try_number']}\n{text}")
            except Exception as exc:  # noqa: BLE001 - diagnostics never hide the failure they describe
                parts.append(f"(task logs not read: {exc})")
        if self.project is not None:
            for service in ("airflow-scheduler", "airflow-worker", "airflow-apiserver", "mlflow", "airflow-init"):
                parts.append(self.project.logs(service, tail=40))
        return "\n".join(parts)


def compose_stack(project: ComposeProject) -> ComposeStack:
    s = project.settings
    return ComposeStack(
        home=project.env_file.parent,
        api_url=f"http://127.0.0.1:{s['AIRFLOW_API_PORT']}",
        mlflow_url=f"http://127.0.0.1:{s['MLFLOW_PORT']}",
        s3_url=f"http://127.0.0.1:{s['MINIO_API_PORT']}",
        password=s["AIRFLOW_ADMIN_PASSWORD"],
        logs={},
        env={},
        s3_creds={
            "aws_access_key_id": s["MINIO_ROOT_USER"],
            "aws_secret_access_key": s["MINIO_ROOT_PASSWORD"],
            "region_name": "us-east-1",
        },
        admin_user=s["AIRFLOW_ADMIN_USERNAME"],
        project=project,
    )


def metrics_token() -> Iterator[str]:
    """The compose secret's scrape token: the checkout's .secrets/mlops_metrics_token when there is one (left as it
    is), else one made for the run and removed after it (a generator: ``with contextlib.contextmanager``)."""
    if METRICS_TOKEN.is_file() and METRICS_TOKEN.read_text().strip():
        yield METRICS_TOKEN.read_text().strip()
        return
    METRICS_TOKEN.parent.mkdir(exist_ok=True)
    token = secrets.token_urlsafe(32)
    METRICS_TOKEN.write_text(token + "\n")
    METRICS_TOKEN.chmod(0o644)  # prometheus reads it as `nobody`
    try:
        yield token
    finally:
        METRICS_TOKEN.unlink(missing_ok=True)
