"""Test support, in one place: what the unit, e2e, integration and browser tests, `make demo` and the pipeline
benchmark (scripts/bench_pipeline.py) use to build Airflow environments and to start, wait for and stop services.

Standard library only, and nothing from Airflow: the root conftest.py imports it before Airflow is first imported.
Not shipped (the image copies dags/, plugins/ and include/ only); `make demo` and the benchmark run from the checkout.
"""

from tests.support.env import FOREIGN_ENV, base_env, embedded_env, service_env
from tests.support.services import (
    NO_MLFLOW_JOBS,
    MlflowServer,
    ProcessExited,
    Services,
    exited,
    free_port,
    http_ok,
    mlflow_server_command,
    spawn,
    start_mlflow_server,
    stop_process_group,
    tail,
    tails,
    wait_until,
)

__all__ = [
    "FOREIGN_ENV",
    "NO_MLFLOW_JOBS",
    "MlflowServer",
    "ProcessExited",
    "Services",
    "base_env",
    "embedded_env",
    "exited",
    "free_port",
    "http_ok",
    "mlflow_server_command",
    "service_env",
    "spawn",
    "start_mlflow_server",
    "stop_process_group",
    "tail",
    "tails",
    "wait_until",
]
