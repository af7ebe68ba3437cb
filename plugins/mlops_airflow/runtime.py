"""Helpers shared by the operators: which day a run works on, the run key, the MLflow tags of a run.

Dates outside 2000-01-01..2100-12-31 or not ``YYYY-MM-DD`` raise ``InvalidRunParams``: the task fails
without retry. A run's day comes from its data interval, so backfills and re-runs work on the days they name and
never on "now". Runs triggered with ``logical_date: null`` (REST) have no data interval; they use
the run's ``run_after``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context


def _as_date(value: Any) -> dt.date:
    from mlops_airflow.params import as_date

    return as_date(value)


def partition_day(context: Context, override: Any = None) -> dt.date:
    """The day a daily run processes: ``override``, else the start of the run's data interval,
    else (no logical date) the day before ``run_after``. ``None`` or an empty ``override`` means none (the
    ingestion DAG passes its ``ds`` param, null unless the caller names a day)."""
    if override not in (None, ""):
        return _as_date(override)
    start = context.get("data_interval_start")
    if start is not None:
        return _as_date(start)
    return _as_date(context["dag_run"].run_after) - dt.timedelta(days=1)


def window_end(context: Context, override: Any = None) -> dt.date:
    """The exclusive end of a training/monitoring window: ``override``, else the end of the run's data
    interval, else the day of ``run_after``."""
    if override is not None:
        return _as_date(override)
    end = context.get("data_interval_end")
    if end is not None:
        return _as_date(end)
    return _as_date(context["dag_run"].run_after)


def run_key(context: Context) -> str:
    """Identifies one DAG run across task retries and clears: ``<dag_id>/<run_id>``."""
    return f"{context['dag'].dag_id}/{context['run_id']}"


def airflow_tags(context: Context) -> dict[str, str]:
    logical = context.get("logical_date")
    return {
        "dag_id": context["dag"].dag_id,
        "run_id": context["run_id"],
        "logical_date": logical.isoformat() if logical is not None else "none",
        "task_id": context["task"].task_id,
    }
