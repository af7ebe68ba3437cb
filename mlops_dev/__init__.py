"""The dev-only support package, in one place: what the unit, e2e, integration and browser tests, `make demo` and
the benchmarks (scripts/bench*.py) use to build Airflow environments, start, wait for and stop services
(``env``, ``services``), call an operator's ``execute`` (``task_context``) and run the distributed stack
(``stack``: the integration suite's, also the backfill and Celery benchmarks').

Standard library only at import time, and nothing from Airflow: the root conftest.py imports it before Airflow is
first imported. Not shipped: the image copies dags/, plugins/ and include/ only (.dockerignore leaves this folder
out too; tests/integration/test_compose_contract.py checks both); `make demo` and the benchmarks run from the
checkout.
"""

from mlops_dev.env import FOREIGN_ENV, base_env, embedded_env, service_env
from mlops_dev.services import (
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
