"""Task defaults shared by the DAG files: every task retries with exponential backoff, times out and,
when it finally fails, goes through the pluggable failure notifier (``mlops_airflow.notify``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_airflow.notify import MlopsFailureNotifier


def task_defaults(
    *,
    retries: int,
    retry_delay: dt.timedelta,
    max_retry_delay: dt.timedelta,
    execution_timeout: dt.timedelta,
) -> dict[str, Any]:
    return {
        "owner": "mlops",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "on_failure_callback": [MlopsFailureNotifier()],
    }
