"""A task context for calling an operator's ``execute`` directly (no DAG, no DB), as the operator tests do."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from unittest import mock

DAY = dt.date(2026, 3, 4)


def task_context(day: dt.date | None = DAY, **extra: Any) -> dict[str, Any]:
    """The keys the operators read: a daily data interval starting at ``day`` (none when ``day`` is None, as
    for a REST trigger with ``logical_date: null``), a mock ``ti``, outlet events; ``extra`` overrides."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if day else None
    ctx: dict[str, Any] = {
        "dag": SimpleNamespace(dag_id="test_dag"),
        "task": SimpleNamespace(task_id="t"),
        "run_id": "manual__1",
        "ti": mock.MagicMock(),
        "dag_run": SimpleNamespace(run_after=dt.datetime(2026, 5, 2, 13, tzinfo=dt.UTC)),
        "outlet_events": defaultdict(SimpleNamespace),
        "logical_date": start,
    }
    if start is not None:
        ctx["data_interval_start"] = start
        ctx["data_interval_end"] = start + dt.timedelta(days=1)
    ctx.update(extra)
    return ctx
