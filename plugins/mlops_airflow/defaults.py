"""Task defaults shared by the DAG files: every task retries with exponential backoff and times out."""

from __future__ import annotations

import datetime as dt
from typing import Any


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
    }
