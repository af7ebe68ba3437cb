"""Shadow challengers: a blessed challenger scores beside the champion before it may replace it.

With ``evaluation.shadow_days`` N > 0, ``promote_or_shadow`` does not move ``champion`` to a blessed challenger
(while there is a champion to compare with): it points the alias ``shadow`` at it, through the same
compare-and-set against the champion seen at evaluation, and records on the version where its evidence starts.
``score_batch`` then scores every day with both (``shadow_score`` / ``shadow_version`` in the prediction log).
A newer blessed challenger replaces a waiting one (tag ``shadow.status=replaced``).

``review`` (the ``review_shadow`` DAG) looks at the evidence: the prediction log's rows that the champion of the
shadow's start (``model_version``) and the shadow (``shadow_version``) both scored, on days from the end of the
shadow's training window (``shadow.start_day``: nothing it trained or was evaluated on), joined with the
labels that have matured. Once N such days are in, the policy of the evaluation (``include.mlops.promotion.decision
.decide``: primary metric, margin, guardrails) judges shadow against champion on those rows:

- it wins: ``champion`` moves to it (``include.mlops.promotion.aliases.promote``, the compare-and-set against the
  champion of its start) and ``shadow`` is removed;
- it loses, the champion moved meanwhile (a rollback, another promotion), or it is still short of N labelled
  days ``evaluation.shadow_max_wait_days`` after its first day: it is **retired** with the reason, and
  ``shadow`` is removed.

Every outcome is on the version as ``shadow.*`` tags (status, reason, days, both values) and in a report,
``reports/shadow/<dataset>/ds=<as of>/review_v<N>.json``. A primary metric that is not a number on the rows in
(one class only) decides nothing: the shadow waits for more days, or the deadline retires it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import PromotionConflict, PromotionRejected
from include.mlops.data import outcomes
from include.mlops.data.lake import Lake
from include.mlops.model.registry import SHADOW, SHADOW_STATUS_TAG, alias_version, champion_version, get_version
from include.mlops.promotion.aliases import PromotionResult, promote, promote_evaluated

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

REPORT_KIND = "shadow"
WAITING, PROMOTED, RETIRED, REPLACED = "waiting", "promoted", "retired", "replaced"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- entering the shadow ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShadowStart:
    """A blessed challenger now scoring as ``shadow`` beside ``champion_version``."""

    model_name: str
    shadow_version: str
    champion_version: str
    start_day: str  # the first day whose predictions count (the end of its training window)
    required_days: int
    replaced: str | None  # the shadow it replaced
    started_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def start_shadow(
    client: MlflowClient,
    model_name: str,
    challenger: str,
    expected_champion: str,
    *,
    start_day: str,
    required_days: int,
    actor: str,
) -> ShadowStart:
    """Point ``shadow`` at ``challenger`` if its evaluation blessed it and the champion has not moved since.

    Idempotent: a retry after the alias moved changes nothing. The alias move is the commit point: the
    replaced shadow is tagged after it."""
    tags = get_version(client, model_name, challenger).tags
    if tags.get("evaluation.decision") != "promote":
        raise PromotionRejected(
            f"{model_name} version {challenger} has no 'promote' evaluation tag "
            f"(evaluation.decision={tags.get('evaluation.decision')!r}); run the evaluation first"
        )
    current = champion_version(client, model_name)
    waiting = alias_version(client, model_name, SHADOW)
    if waiting == challenger and tags.get(SHADOW_STATUS_TAG) == WAITING:
        log.info("%s version %s already waits in shadow (an earlier attempt)", model_name, challenger)
        return _start_of(model_name, challenger, tags, replaced=None)
    if current != expected_champion:
        raise PromotionConflict(
            f"the champion of {model_name} moved from {expected_champion} to {current or 'none'} after version "
            f"{challenger} was evaluated against it, so version {challenger} did not enter the shadow; clear the "
            "evaluate task (and its downstream) to re-evaluate it against the new champion"
        )
    now = _now()
    for key, value in {
        SHADOW_STATUS_TAG: WAITING,
        "shadow.reason": f"waiting for {required_days} labelled days of shadow predictions beside champion {current}",
        "shadow.champion_version": current,
        "shadow.start_day": start_day,
        "shadow.required_days": str(required_days),
        "shadow.started_at": now,
        "shadow.started_by": actor,
        "promotion.status": "shadow",
    }.items():
        client.set_model_version_tag(model_name, challenger, key, value)
    client.set_registered_model_alias(model_name, SHADOW, challenger)  # moves in place from a replaced shadow
    if waiting not in (None, challenger):
        _close(client, model_name, waiting, REPLACED, f"replaced by version {challenger} (a newer blessed challenger)")
    log.info(
        "%s version %s waits in shadow beside champion %s from %s (%d labelled days needed)%s",
        model_name,
        challenger,
        current,
        start_day,
        required_days,
        f"; replaced shadow version {waiting}" if waiting not in (None, challenger) else "",
    )
    return ShadowStart(model_name, challenger, str(current), start_day, required_days, waiting, now)


def _start_of(model_name: str, version: str, tags: Mapping[str, str], replaced: str | None) -> ShadowStart:
    return ShadowStart(
        model_name,
        version,
        tags.get("shadow.champion_version", ""),
        tags.get("shadow.start_day", ""),
        int(tags.get("shadow.required_days", "0") or 0),
        replaced,
        tags.get("shadow.started_at", ""),
    )


def promote_or_shadow(
    client: MlflowClient, cfg: PipelineConfig, evaluation: Mapping[str, Any], *, actor: str
) -> PromotionResult | ShadowStart:
    """What ``promote_challenger`` does with an evaluation: with ``evaluation.shadow_days`` 0, a rejection, no
    champion to compare with, or a challenger that is already champion, ``promote_evaluated`` (promote at once or
    ``PromotionRejected``); otherwise ``start_shadow``."""
    days = cfg.evaluation.shadow_days
    name, version = evaluation["model_name"], evaluation["challenger_version"]
    expected = evaluation["champion_version"]
    if days == 0 or not evaluation["promote"] or expected is None:
        return promote_evaluated(client, evaluation, actor=actor)
    if champion_version(client, name) == version:  # promoted by an earlier attempt or the review
        return promote_evaluated(client, evaluation, actor=actor)
    start_day = evaluation.get("window_end") or ""
    if not start_day:
        raise PromotionRejected(
            f"the evaluation of {name} version {version} does not say where its training window ended "
            "(window_end), so its shadow days cannot be told from its training days; clear evaluate_challenger"
        )
    return start_shadow(client, name, version, expected, start_day=start_day, required_days=days, actor=actor)


# -- the evidence ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """Rows both scored, with matured labels; and which days were in, waiting for labels or not shadowed."""

    labelled_days: list[str]
    unlabelled_days: list[str]  # both scored; labels not in yet
    unshadowed_days: list[str]  # a prediction partition from the start day without rows of this pair
    rows: int
    y: Any = None
    shadow_scores: Any = None
    champion_scores: Any = None
    last_day: str | None = None  # the newest prediction day from the start day


def collect(lake: Lake, cfg: PipelineConfig, shadow: str, champion: str, start_day: str) -> Evidence:
    """The shadow's evidence in the prediction log (see the module doc)."""
    import numpy as np

    key, target = outcomes.key_of(cfg), cfg.dataset.target
    days = sorted(d for d in lake.list_partitions(outcomes.PREDICTIONS, cfg.dataset.name) if d >= start_day)
    labelled, unlabelled, unshadowed = [], [], []
    ys, shadow_parts, champion_parts = [], [], []
    columns = [key, outcomes.SCORE, outcomes.MODEL_VERSION]
    for ds in days:
        frame = outcomes.read_predictions(lake, cfg, ds)
        if frame is None or outcomes.SHADOW_VERSION not in frame.columns:
            unshadowed.append(ds)
            continue
        both = frame[
            (frame[outcomes.MODEL_VERSION].astype(str) == champion)
            & (frame[outcomes.SHADOW_VERSION].astype(str) == shadow)
        ][[*columns, outcomes.SHADOW_SCORE]]
        if both.empty:
            unshadowed.append(ds)
            continue
        labels = outcomes.read_labels(lake, cfg, ds)
        if labels is None:
            unlabelled.append(ds)
            continue
        joined, _ = outcomes.join_labels(both, labels, key, target)
        if joined.empty:
            unlabelled.append(ds)
            continue
        labelled.append(ds)
        ys.append(joined[target].to_numpy())
        shadow_parts.append(joined[outcomes.SHADOW_SCORE].to_numpy(dtype="float64"))
        champion_parts.append(joined[outcomes.SCORE].to_numpy(dtype="float64"))

    def cat(parts: list) -> Any:
        return np.concatenate(parts) if parts else np.empty(0)

    y = cat(ys)
    return Evidence(
        labelled, unlabelled, unshadowed, len(y), y, cat(shadow_parts), cat(champion_parts), days[-1] if days else None
    )


# -- the review ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShadowReview:
    status: str  # none | waiting | promoted | retired
    reason: str
    model_name: str
    shadow_version: str | None = None
    champion_version: str | None = None  # the champion the shadow was started beside
    start_day: str | None = None
    required_days: int = 0
    labelled_days: list[str] = field(default_factory=list)
    unlabelled_days: list[str] = field(default_factory=list)
    unshadowed_days: list[str] = field(default_factory=list)
    rows: int = 0
    primary_metric: str | None = None
    shadow_value: float | None = None
    champion_value: float | None = None
    shadow_metrics: dict[str, float] | None = None
    champion_metrics: dict[str, float] | None = None
    reviewed_at: str = ""
    report_uri: str | None = None
    report_key: str | None = None

    @property
    def champion_moved(self) -> bool:
        return self.status == PROMOTED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _close(client: MlflowClient, name: str, version: str, status: str, reason: str, **extra: str) -> None:
    """Tag ``version``'s shadow outcome; remove ``shadow`` if it still points at it."""
    tags = {SHADOW_STATUS_TAG: status, "shadow.reason": reason[:4000], "shadow.decided_at": _now(), **extra}
    if status in (RETIRED, REPLACED):
        tags["promotion.status"] = f"{status} in shadow"
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if alias_version(client, name, SHADOW) == version:
        client.delete_registered_model_alias(name, SHADOW)


def _value_tags(review: ShadowReview) -> dict[str, str]:
    def fmt(v: float | None) -> str:
        return "none" if v is None or not math.isfinite(v) else f"{v:.6f}"

    return {
        "shadow.labelled_days": str(len(review.labelled_days)),
        "shadow.rows": str(review.rows),
        "shadow.primary_metric": review.primary_metric or "",
        "shadow.shadow_value": fmt(review.shadow_value),
        "shadow.champion_value": fmt(review.champion_value),
    }


def _finish(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    base: dict[str, Any],
    status: str,
    reason: str,
    *,
    as_of: dt.date | None,
    newest: str | None = None,
    **found: Any,
) -> ShadowReview:
    """Record a review's outcome: tags on the shadow version (closed when promoted or retired) and the report,
    filed under ``as_of``, else the newest prediction day, else today."""
    from include.mlops.core.jsonsafe import json_safe

    name, shadow = base["model_name"], base["shadow_version"]
    result = ShadowReview(status, reason, reviewed_at=_now(), **base, **found)
    if status in (RETIRED, PROMOTED):
        _close(client, name, shadow, status, reason, **_value_tags(result))
    elif status == WAITING:
        client.set_model_version_tag(name, shadow, "shadow.reason", reason[:4000])
        for key, value in _value_tags(result).items():
            client.set_model_version_tag(name, shadow, key, value)
    day = as_of or (dt.date.fromisoformat(newest) if newest else dt.datetime.now(dt.UTC).date())
    key = lake.report_key(REPORT_KIND, cfg.dataset.name, day, f"review_v{shadow}.json")
    document = json_safe({k: v for k, v in result.as_dict().items() if k not in ("report_uri", "report_key")})
    uri = lake.write_json(key, document)
    log.info("shadow %s version %s: %s: %s (report %s)", name, shadow, status.upper(), reason, uri)
    return ShadowReview(**{**result.as_dict(), "report_uri": uri, "report_key": key})


def _evidence_metrics(cfg: PipelineConfig, evidence: Evidence) -> dict[str, Any]:
    from include.mlops.model.metrics import compute_metrics

    task, primary = cfg.dataset.task, cfg.evaluation.primary_metric
    shadow_m = compute_metrics(task, evidence.y, evidence.shadow_scores)
    champion_m = compute_metrics(task, evidence.y, evidence.champion_scores)
    return {
        "shadow_metrics": shadow_m,
        "champion_metrics": champion_m,
        "shadow_value": shadow_m.get(primary),
        "champion_value": champion_m.get(primary),
    }


def _decide_shadow(
    client: MlflowClient,
    cfg: PipelineConfig,
    start: ShadowStart,
    evidence: Evidence,
    metrics: dict[str, Any],
    actor: str,
) -> tuple[str, str]:
    """The evaluation's policy on the shadow's evidence: promoted (the compare-and-set against the champion of its
    start) or retired, with the reason."""
    from include.mlops.promotion.decision import decide

    decision = decide(metrics["shadow_metrics"], metrics["champion_metrics"], cfg.evaluation)
    days = f"{len(evidence.labelled_days)} labelled shadow days ({evidence.rows} rows)"
    if not decision.promote:
        return RETIRED, f"on {days}: {decision.reason}"
    try:
        promote(
            client,
            cfg.model.name,
            start.shadow_version,
            start.champion_version,
            promote_decision=True,
            reason=decision.reason,
            actor=actor,
        )
    except PromotionConflict as exc:
        return RETIRED, f"confirmed on {days}, but {exc}"
    return PROMOTED, f"confirmed on {days}: {decision.reason}"


def _judge(
    client: MlflowClient,
    cfg: PipelineConfig,
    start: ShadowStart,
    evidence: Evidence,
    required: int,
    *,
    actor: str,
    as_of: dt.date | None,
) -> tuple[str, str, dict[str, Any]]:
    """``(status, reason, metrics)`` of a shadow whose champion still serves: decided once ``required`` labelled
    days are in and the primary metric is a number on them; else waiting, or retired past the deadline."""
    ev = cfg.evaluation
    metrics: dict[str, Any] = {}
    if len(evidence.labelled_days) >= required:
        metrics = _evidence_metrics(cfg, evidence)
        if all(v is not None and math.isfinite(v) for v in (metrics["shadow_value"], metrics["champion_value"])):
            return (*_decide_shadow(client, cfg, start, evidence, metrics, actor), metrics)
        short = f"{ev.primary_metric} is not a number on the {evidence.rows} labelled rows in (one class only?)"
    else:
        short = f"{len(evidence.labelled_days)} of {required} labelled shadow days"
        if evidence.unlabelled_days:
            short += f" (labels not in yet for {', '.join(evidence.unlabelled_days)})"
    waited_until = as_of or (dt.date.fromisoformat(evidence.last_day) if evidence.last_day else None)
    waited = (waited_until - dt.date.fromisoformat(start.start_day)).days + 1 if waited_until else 0
    if waited >= ev.shadow_max_wait_days:
        return (
            RETIRED,
            f"still {short} after {waited} days (evaluation.shadow_max_wait_days={ev.shadow_max_wait_days}): is "
            "score_batch scoring every day, and is the label feed landing?",
            metrics,
        )
    return WAITING, f"waiting: {short}", metrics


def review(
    client: MlflowClient, cfg: PipelineConfig, lake: Lake, *, actor: str, as_of: dt.date | None = None
) -> ShadowReview:
    """Decide the waiting shadow challenger, if there is one (see the module doc). ``as_of``: the day the report
    is filed under and the deadline is measured at (None: the newest prediction day)."""
    name, ev = cfg.model.name, cfg.evaluation
    shadow = alias_version(client, name, SHADOW)
    if shadow is None:
        return ShadowReview("none", f"{name} has no shadow challenger waiting", name, reviewed_at=_now())
    start = _start_of(name, shadow, get_version(client, name, shadow).tags, replaced=None)
    required: int = start.required_days or ev.shadow_days
    base: dict[str, Any] = {
        "model_name": name,
        "shadow_version": shadow,
        "champion_version": start.champion_version,
        "start_day": start.start_day,
        "required_days": required,
        "primary_metric": ev.primary_metric,
    }
    current = champion_version(client, name)
    if current == shadow:  # an earlier review promoted it and died before removing the alias
        reason = f"version {shadow} is already the champion (promoted from the shadow)"
        return _finish(client, cfg, lake, base, PROMOTED, reason, as_of=as_of)
    if current != start.champion_version:
        reason = (
            f"the champion moved from {start.champion_version} to {current or 'none'} while version {shadow} waited "
            "in shadow: its evidence compares it with a champion that no longer serves. Train a new challenger "
            "to challenge the current champion"
        )
        return _finish(client, cfg, lake, base, RETIRED, reason, as_of=as_of)
    evidence = collect(lake, cfg, shadow, start.champion_version, start.start_day)
    status, reason, metrics = _judge(client, cfg, start, evidence, required, actor=actor, as_of=as_of)
    return _finish(
        client,
        cfg,
        lake,
        base,
        status,
        reason,
        as_of=as_of,
        newest=evidence.last_day,
        labelled_days=evidence.labelled_days,
        unlabelled_days=evidence.unlabelled_days,
        unshadowed_days=evidence.unshadowed_days,
        rows=evidence.rows,
        **metrics,
    )


__all__ = [
    "PROMOTED",
    "REPLACED",
    "RETIRED",
    "WAITING",
    "Evidence",
    "ShadowReview",
    "ShadowStart",
    "collect",
    "promote_or_shadow",
    "review",
    "start_shadow",
]
