"""The evaluation of a challenger against the champion on one holdout, recorded as a JSON artifact, version tags
and a lake report (``evaluate``, ``evaluate_and_record``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.jsonsafe import json_safe
from include.mlops.data.lake import Lake
from include.mlops.model.metrics import compute_metrics, score
from include.mlops.model.registry import champion_version, get_version, load_version
from include.mlops.model.window import assemble_window, window_from_check
from include.mlops.promotion.decision import Decision, SegmentCheck, decide, segment_checks, segment_values

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    model_name: str
    challenger_version: str
    champion_version: str | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    holdout_rows: int
    decision: Decision
    evaluated_at: str
    already_champion: bool = False  # a re-run after this version was promoted: the recorded blessing, replayed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SEGMENTS_TAG = "evaluation.segments"  # compact JSON of the judged segments (see segments_tag)
SEGMENTS_FAILED_TAG = "evaluation.segments_failed"  # "col=value,..." or "none"
# The installed MLflow (3.17) accepts model-version tag values up to 100,000 characters
# (mlflow.utils.validation.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH), but tracking servers whose database predates
# migration bda7b8c39065 store them as VARCHAR(5000): stay under that.
TAG_VALUE_LIMIT = 5000


def _rounded(x: float | None) -> float | None:
    import math

    return None if x is None or not math.isfinite(x) else round(x, 6)


def segments_tag(checks: list[SegmentCheck], limit: int = TAG_VALUE_LIMIT) -> str:
    """The judged segments as compact JSON (failed first): ``[{"column","value","rows","champion","challenger",
    "passed"}, ...]``; when that is longer than ``limit``, whole entries are dropped from the end and the last
    entry says how many (``{"more": N}``), so the value is always valid JSON."""
    import json

    judged = sorted((c for c in checks if c.judged), key=lambda c: c.passed)  # stable: failed first
    entries: list[dict[str, Any]] = [
        {
            "column": c.column,
            "value": c.value[:200],
            "rows": c.rows,
            "champion": _rounded(c.champion),
            "challenger": _rounded(c.challenger),
            "passed": c.passed,
        }
        for c in judged
    ]

    def dump(items: list[dict[str, Any]]) -> str:
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False)

    text, kept = dump(entries), len(entries)
    while len(text) > limit and kept > 0:
        kept -= 1
        text = dump([*entries[:kept], {"more": len(entries) - kept}])
    return text


def segments_failed_tag(checks: list[SegmentCheck], limit: int = TAG_VALUE_LIMIT) -> str:
    failed = ",".join(f"{c.column}={c.value}" for c in checks if c.judged and not c.passed) or "none"
    return failed if len(failed) <= limit else failed[: limit - 3] + "..."


def evaluate(
    client: MlflowClient, cfg: PipelineConfig, challenger: str, holdout: pd.DataFrame, *, trigger: dict | None = None
) -> Evaluation:
    """Score challenger and champion on ``holdout`` and decide, segments included (``evaluation.segments``: a
    column the holdout lacks raises ``DataConfigMismatch`` before any model is loaded). Records the decision in
    MLflow, with ``trigger`` (what started the run, recorded as given) when there is one. A ``challenger`` the
    registry does not have raises ``ModelVersionNotFound``."""
    import math

    name, task, target = cfg.model.name, cfg.dataset.task, cfg.dataset.target
    segments = segment_values(holdout, cfg.evaluation.segments)
    champion = champion_version(client, name)
    y = holdout[target].to_numpy()
    chal_model = load_version(client, name, challenger)  # ModelVersionNotFound when it does not exist
    chal_scores = score(chal_model, holdout, task)
    chal_metrics = compute_metrics(task, y, chal_scores)
    champ_metrics = None
    if champion == challenger:
        # A retry or re-run after this version was promoted (maybe by an attempt that crashed before it finished):
        # replay the blessing it was promoted on. Never re-record: that would overwrite the evidence the champion
        # was promoted on (and a "reject" would make it ineligible for rollback).
        return _already_champion(client, cfg, challenger, chal_metrics, len(holdout))
    champ_scores = None
    if champion is not None:
        champ_scores = score(load_version(client, name, champion), holdout, task)
        champ_metrics = compute_metrics(task, y, champ_scores)
    checks = segment_checks(task, y, chal_scores, champ_scores, segments, cfg.evaluation) if segments else []
    decision = decide(chal_metrics, champ_metrics, cfg.evaluation, segments=checks)
    evaluation = Evaluation(
        model_name=name,
        challenger_version=challenger,
        champion_version=champion,
        challenger_metrics=chal_metrics,
        champion_metrics=champ_metrics,
        holdout_rows=len(holdout),
        decision=decision,
        evaluated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    version = get_version(client, name, challenger)
    if version.run_id:
        record = json_safe(evaluation.as_dict()) | ({"trigger": trigger} if trigger is not None else {})
        client.log_dict(version.run_id, record, f"evaluation/decision_v{challenger}.json")
        for key, value in chal_metrics.items():
            if math.isfinite(value):
                client.log_metric(version.run_id, f"eval_{key}", value)
    tags = {
        "evaluation.decision": "promote" if decision.promote else "reject",
        "evaluation.reason": decision.reason[:4000],
        "evaluation.primary_metric": decision.primary_metric,
        "evaluation.challenger_value": f"{decision.challenger_value:.6f}",
        "evaluation.champion_version": champion or "none",
        "evaluation.champion_value": "none" if decision.champion_value is None else f"{decision.champion_value:.6f}",
        "evaluation.evaluated_at": evaluation.evaluated_at,
    }
    if cfg.evaluation.segments:
        tags[SEGMENTS_TAG] = segments_tag(checks)
        tags[SEGMENTS_FAILED_TAG] = segments_failed_tag(checks)
    for key, tag in tags.items():
        client.set_model_version_tag(name, challenger, key, tag)
    return evaluation


def _recorded_segments(tags: Mapping[str, str], cfg: PipelineConfig) -> list[SegmentCheck]:
    """The judged segments a version's ``evaluation.segments`` tag recorded (positives not recorded: None),
    or [] when there is no such tag or it cannot be read."""
    import json

    try:
        entries = json.loads(tags.get(SEGMENTS_TAG) or "[]")
        checks = []
        for e in entries:
            if "column" not in e:  # {"more": N}: entries the tag had no room for
                continue
            chal, champ = e.get("challenger"), e.get("champion")
            regression = None
            if chal is not None and champ is not None:
                regression = champ - chal if cfg.evaluation.direction == "maximize" else chal - champ
            checks.append(
                SegmentCheck(
                    column=str(e["column"]),
                    value=str(e["value"]),
                    rows=int(e["rows"]),
                    positives=None,
                    challenger=float("nan") if chal is None else float(chal),
                    champion=None if champ is None else float(champ),
                    regression=regression,
                    judged=True,
                    passed=bool(e["passed"]),
                )
            )
        return checks
    except (ValueError, TypeError, KeyError, AttributeError):
        return []


def _already_champion(
    client: MlflowClient, cfg: PipelineConfig, version: str, metrics: dict[str, float], holdout_rows: int
) -> Evaluation:
    """The recorded evaluation of ``version``, which is already the champion, as a no-op decision."""
    name, ev = cfg.model.name, cfg.evaluation
    tags = client.get_model_version(name, version).tags
    blessed = tags.get("evaluation.decision") == "promote"

    def number(key: str) -> float | None:
        try:
            return float(tags[key])
        except (KeyError, ValueError):
            return None

    champion_then = tags.get("evaluation.champion_version")
    reason = (
        f"version {version} is already the champion (blessed {tags.get('evaluation.evaluated_at', '')}: "
        f"{tags.get('evaluation.reason', '')}); nothing to change"
        if blessed
        else f"version {version} is already the champion but no evaluation blessed it; nothing to change"
    )
    challenger_value = number("evaluation.challenger_value")
    decision = Decision(
        blessed,
        reason,
        tags.get("evaluation.primary_metric", ev.primary_metric),
        ev.direction,
        metrics.get(ev.primary_metric, float("nan")) if challenger_value is None else challenger_value,
        number("evaluation.champion_value"),
        None,
        ev.min_improvement,
        ev.floor,
        segments=_recorded_segments(tags, cfg),
    )
    log.info("%s version %s is already the champion; replaying its recorded evaluation", name, version)
    return Evaluation(
        model_name=name,
        challenger_version=version,
        champion_version=None if champion_then in (None, "", "none") else champion_then,
        challenger_metrics=metrics,
        champion_metrics=None,
        holdout_rows=holdout_rows,
        decision=decision,
        evaluated_at=tags.get("evaluation.evaluated_at", ""),
        already_champion=True,
    )


@dataclass(frozen=True)
class EvaluationRecord:
    """An evaluation and where its report went: ``report`` is what ``key`` in the lake holds (``uri``)."""

    evaluation: Evaluation
    report: dict[str, Any]
    key: str
    uri: str
    window_end: str = ""  # exclusive end of the training window (ISO day): a shadow counts days from it

    def summary(self) -> dict[str, Any]:
        """What the promotion needs, small and JSON-safe (the evaluate task's XCom)."""
        e, d = self.evaluation, self.evaluation.decision
        return {
            "model_name": e.model_name,
            "challenger_version": e.challenger_version,
            "champion_version": e.champion_version,
            "promote": d.promote,
            "reason": d.reason,
            "primary_metric": d.primary_metric,
            "challenger_value": self.report["decision"]["challenger_value"],
            "champion_value": self.report["decision"]["champion_value"],
            "report_uri": self.uri,
            "report_key": self.key,
            "window_end": self.window_end,
        }


def evaluate_and_record(
    client: MlflowClient,
    lake: Lake,
    cfg: PipelineConfig,
    check: dict[str, Any],
    challenger: str,
    trigger: dict[str, Any],
) -> EvaluationRecord:
    """``evaluate`` ``challenger`` on the holdout of ``check`` (a ``check_window`` result: exactly the partitions
    it validated, else ``InsufficientData``) and write the decision, with ``trigger``, to the lake under
    ``reports/promotion/``. A re-run for a version that is already champion keeps the report it was promoted on.
    A ``challenger`` the registry does not have raises ``ModelVersionNotFound`` before the holdout is read."""
    get_version(client, cfg.model.name, challenger)
    window = window_from_check(check)
    holdout = assemble_window(
        lake,
        cfg,
        window,
        expected=check["partitions"],
        holdout_only=True,
        expected_labels=check.get("label_partitions") or None,  # late labels: the ones the check joined
    )
    evaluation = evaluate(client, cfg, challenger, holdout.holdout, trigger=trigger)
    report = json_safe(evaluation.as_dict()) | {"trigger": trigger}
    key = lake.report_key("promotion", cfg.dataset.name, window.end, f"decision_v{challenger}.json")
    if evaluation.already_champion and lake.storage.exists(key):
        uri = lake.storage.uri(key)
    else:
        uri = lake.write_json(key, report)
    return EvaluationRecord(evaluation, report, key, uri, window.end.isoformat())
