"""Score curated days with the champion (and a waiting shadow) into the prediction log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops_airflow import links
from mlops_airflow.errors import NothingCurated  # noqa: F401 (re-exported by its old path)
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.params import InvalidRunParams, as_date, as_version
from mlops_airflow.runtime import partition_day

if TYPE_CHECKING:
    from airflow.sdk import Context

MAX_DAYS = 366


def days_to_score(context: Context, start: Any, end: Any) -> tuple[list[dt.date], str]:
    """The days a run scores and why: the ``start``..``end`` params (inclusive), else the days the triggering
    curated-batch asset events carry (``extra["ds"]``), else the run's data interval day."""
    if start is not None or end is not None:
        first = as_date(start if start is not None else end, "start")
        last = as_date(end if end is not None else start, "end")
        if last < first:
            raise InvalidRunParams(f"end {last} is before start {first}")
        if (last - first).days + 1 > MAX_DAYS:
            raise InvalidRunParams(f"{first}..{last} is more than {MAX_DAYS} days; score it in several runs")
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)], "params start..end"
    events = context.get("triggering_asset_events") or {}
    days = sorted(
        {as_date(e.extra["ds"], "asset event ds") for evs in events.values() for e in evs if (e.extra or {}).get("ds")}
    )
    if days:
        return days, "the curated-batch asset events"
    return [partition_day(context)], "the run's data interval"


class ScoreBatchOperator(MlopsOperator):
    """Score the run's days with the version behind ``champion`` (resolved once per run) or a named
    ``model_version``; replaces each day's ``predictions/<dataset>/ds=D`` partition. No champion: skipped."""

    template_fields: Sequence[str] = ("start", "end", "model_version")
    ui_color = "#e6fff5"
    operator_extra_links = (links.MlflowModelVersionLink(), links.PredictionsLink())

    def __init__(self, *, start: Any = None, end: Any = None, model_version: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start = start
        self.end = end
        self.model_version = model_version

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.serve.scoring import score_days

        cfg = self.config
        version = None if self.model_version is None else as_version(self.model_version, "model_version")
        days, why = days_to_score(context, self.start, self.end)
        self.begin(
            "score %s %s..%s (%d days, from %s) with %s",
            cfg.dataset.name,
            days[0],
            days[-1],
            len(days),
            why,
            f"{cfg.model.name} version {version}" if version else f"the champion of {cfg.model.name}",
        )
        client = self.mlflow_hook.client()  # NoChampion: skipped (mlops_airflow.errors)
        result = score_days(client, cfg, self.lake, days, run_id=context["run_id"], model_version=version)
        self.link_model_version(result.model_name, result.model_version)
        if result.scored:
            self.link_report(result.scored[-1].report_key, links.PREDICTIONS)
        for skipped in result.skipped:
            self.log.warning("not scored %s: %s", skipped["ds"], skipped["reason"])
        self.outcome(
            "SCORED %d day(s), %d rows with %s version %s%s; %d skipped",
            len(result.scored),
            result.rows,
            result.model_name,
            result.model_version,
            f" (shadow version {result.shadow_version})" if result.shadow_version else "",
            len(result.skipped),
        )
        return {**result.as_dict(), "days_scored": len(result.scored)}
