"""Champion/challenger through MLflow registry aliases (never stages).

- ``register_version``: a trained model as a version tagged with its run key, alias ``challenger``.
- ``champion_version``: which version the ``champion`` alias points at, or None.
- ``evaluate``: challenger and champion scored on the same holdout; the decision is written as a JSON
  artifact in the challenger's run and as version tags; ``evaluate_and_record`` reads the checked holdout
  first and writes the decision report to the lake too.
- ``promote``: compare-and-set of the ``champion`` alias against the champion read at evaluation
  time. The alias is moved in one call (never deleted first), so it never points at nothing; the
  previous champion is recorded on the new version for rollback; ``promote_evaluated`` takes the evaluation.
- ``check_rollback_target`` / ``rollback``: move ``champion`` back to a version an evaluation blessed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.config import PipelineConfig
from include.mlops.evaluation import (
    Decision,
    SegmentCheck,
    compute_metrics,
    decide,
    score,
    segment_checks,
    segment_values,
)
from include.mlops.exceptions import PromotionConflict, PromotionRejected
from include.mlops.jsonsafe import json_safe
from include.mlops.lake import Lake
from include.mlops.window import assemble_window, window_from_check

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
SHADOW = "shadow"  # a blessed challenger scoring beside the champion until evaluation.shadow_days confirm it
SHADOW_STATUS_TAG = "shadow.status"  # waiting | promoted | retired | replaced (include.mlops.shadow)
NOT_SERVED_SHADOW = ("waiting", "retired", "replaced")  # a shadow that never became champion: no rollback to it
RUN_KEY_TAG = "airflow_run_key"  # version and run tag: <dag_id>/<run_id> of the DAG run that trained it


def find_registered(client: MlflowClient, model_name: str, run_key: str):
    """The model version registered for ``run_key`` before (a retry or re-run), or None."""
    found = client.search_model_versions(f"name = '{model_name}' and tags.{RUN_KEY_TAG} = '{run_key}'")
    return sorted(found, key=lambda v: int(v.version))[0] if found else None


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        try:
            client.create_registered_model(
                model_name, description="Managed by the Airflow MLOps DAGs: aliases champion/challenger."
            )
        except MlflowException as exc:  # created concurrently
            if "RESOURCE_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                raise


def register_version(
    client: MlflowClient, cfg: PipelineConfig, run_id: str, model_uri: str, run_key: str, tags: dict[str, str]
) -> Any:
    """Register ``model_uri`` of ``run_id`` as a version tagged with ``run_key`` and point ``challenger`` at it;
    two tries registering at once converge on the lowest version of the run key."""
    ensure_registered_model(client, cfg.model.name)
    # MLflow 3 logged models live at models:/<model_id>; a tracking server requires the id with the source
    model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/") else None
    version = client.create_model_version(
        cfg.model.name, source=model_uri, run_id=run_id, tags={RUN_KEY_TAG: run_key, **tags}, model_id=model_id
    )
    # Two tries of one run can register at once (a retry beside an orphaned try whose worker died): each
    # keeps the lowest version of the run key and deletes its own if it is not that one, so both converge.
    first = find_registered(client, cfg.model.name, run_key)
    if first is not None and str(first.version) != str(version.version):
        log.warning(
            "%s version %s duplicates version %s of run key %s (a concurrent try); deleting it",
            cfg.model.name,
            version.version,
            first.version,
            run_key,
        )
        client.delete_model_version(cfg.model.name, version.version)
        version = first
    client.set_registered_model_alias(cfg.model.name, CHALLENGER, version.version)
    return version


def is_not_found(exc: BaseException) -> bool:
    """Whether an MLflow error says the model, version or alias does not exist (not: the server failed)."""
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return False
    text = str(exc)
    return (
        getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"
        or "RESOURCE_DOES_NOT_EXIST" in text
        or "not found" in text.lower()
        or "does not exist" in text
    )


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if is_not_found(exc):
            return None
        raise


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    return alias_version(client, model_name, CHAMPION)


def load_version(model_name: str, version: str):
    """Load a model from its registry URI (models are only ever loaded from the registry)."""
    import warnings

    import mlflow.sklearn

    with warnings.catch_warnings():  # unpickling walks sys.modules: Airflow's deprecated shims warn ~1,000 times
        warnings.filterwarnings("ignore", message=r"The `airflow\.")
        return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


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
    MLflow, with ``trigger`` (what started the run, recorded as given) when there is one."""
    import math

    name, task, target = cfg.model.name, cfg.dataset.task, cfg.dataset.target
    segments = segment_values(holdout, cfg.evaluation.segments)
    champion = champion_version(client, name)
    y = holdout[target].to_numpy()
    chal_model = load_version(name, challenger)
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
        champ_scores = score(load_version(name, champion), holdout, task)
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
    version = client.get_model_version(name, challenger)
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
    ``reports/promotion/``. A re-run for a version that is already champion keeps the report it was promoted on."""
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


@dataclass(frozen=True)
class PromotionResult:
    model_name: str
    champion_version: str
    previous_champion: str | None
    promoted_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def promote(
    client: MlflowClient,
    model_name: str,
    challenger: str,
    expected_champion: str | None,
    *,
    promote_decision: bool,
    reason: str,
    actor: str,
) -> PromotionResult:
    """Move ``champion`` to ``challenger`` if the decision blessed it and the champion has not moved.

    Idempotent: when ``challenger`` is already the champion (a retry, or a re-run after an attempt that
    died after moving the alias) nothing moves, and bookkeeping the dead attempt left undone is finished.
    The alias move is the commit point: the challenger is tagged ``promotion.status=champion`` only after it.
    """
    current = champion_version(client, model_name)
    if current == challenger:
        tags = client.get_model_version(model_name, challenger).tags
        previous = tags.get("promotion.previous_champion")
        if _last_in_history(client, model_name) != challenger:  # an earlier attempt died after moving the alias
            log.info(
                "%s version %s is champion; finishing the bookkeeping of the attempt that moved it",
                model_name,
                challenger,
            )
            _after_alias_moved(client, model_name, challenger, previous)
        else:
            log.info("%s version %s is already champion (an earlier attempt promoted it)", model_name, challenger)
        return PromotionResult(
            model_name,
            challenger,
            None if previous in (None, "", "none") else previous,
            tags.get("promotion.promoted_at", ""),
        )
    if not promote_decision:
        client.set_model_version_tag(model_name, challenger, "promotion.status", "rejected")
        raise PromotionRejected(f"{model_name} version {challenger} was not promoted: {reason}")
    tags = client.get_model_version(model_name, challenger).tags
    if tags.get("evaluation.decision") != "promote":
        raise PromotionRejected(
            f"{model_name} version {challenger} has no 'promote' evaluation tag "
            f"(evaluation.decision={tags.get('evaluation.decision')!r}); run the evaluation first"
        )
    if current != expected_champion:
        raise PromotionConflict(
            f"the champion of {model_name} moved from {expected_champion or 'none'} to {current} after version "
            f"{challenger} was evaluated against it, so version {challenger} was not promoted; clear the "
            "evaluate task (and its downstream) to re-evaluate it against the new champion"
        )
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for key, value in {
        "promotion.previous_champion": current or "none",
        "promotion.promoted_at": now,
        "promotion.promoted_by": actor,
    }.items():
        client.set_model_version_tag(model_name, challenger, key, value)
    client.set_registered_model_alias(model_name, CHAMPION, challenger)  # moves in place: never unset
    _after_alias_moved(client, model_name, challenger, current)
    log.info("%s champion moved %s -> %s", model_name, current or "none", challenger)
    return PromotionResult(model_name, challenger, current, now)


def promote_evaluated(client: MlflowClient, evaluation: Mapping[str, Any], *, actor: str) -> PromotionResult:
    """``promote`` as an ``EvaluationRecord.summary()`` (the evaluate task's result) decided it."""
    return promote(
        client,
        evaluation["model_name"],
        evaluation["challenger_version"],
        evaluation["champion_version"],
        promote_decision=bool(evaluation["promote"]),
        reason=evaluation["reason"],
        actor=actor,
    )


def _after_alias_moved(client: MlflowClient, model_name: str, champion: str, previous: str | None) -> None:
    """Status tags on the new and the previous champion, and the history rollback reads."""
    client.set_model_version_tag(model_name, champion, "promotion.status", "champion")
    if previous not in (None, "", "none", champion):
        client.set_model_version_tag(model_name, previous, "promotion.status", f"superseded by {champion}")
    client.set_registered_model_tag(model_name, "champion_history", _history(client, model_name, champion))


def _history_list(client: MlflowClient, model_name: str) -> list[str]:
    """Versions that were champion, oldest first (registered model tag ``champion_history``: ``<version>``, or
    ``<version>:approved_by=<user>`` when a human approved the promotion)."""
    entries = client.get_registered_model(model_name).tags.get("champion_history", "").split(",")
    return [v.split(":", 1)[0] for v in entries if v]


def _last_in_history(client: MlflowClient, model_name: str) -> str | None:
    history = _history_list(client, model_name)
    return history[-1] if history else None


def rollback_target(client: MlflowClient, model_name: str, target: str | None) -> tuple[str, str]:
    """``(current champion, version to restore)`` for a rollback to ``target`` (default: the champion the
    current one replaced). ``PromotionRejected`` when there is no champion, no such version or it is not
    eligible (never blessed by an evaluation nor champion before); other MLflow errors propagate."""
    current = champion_version(client, model_name)
    if current is None:
        raise PromotionRejected(f"{model_name} has no champion: nothing to roll back")
    if not target:
        target = client.get_model_version(model_name, current).tags.get("promotion.previous_champion")
        if target in (None, "", "none"):
            raise PromotionRejected(
                f"{model_name} version {current} has no recorded previous champion; pass target_version explicitly"
            )
    target = str(target)
    try:
        tags = client.get_model_version(model_name, target).tags
    except Exception as exc:
        if is_not_found(exc):
            raise PromotionRejected(f"{model_name} has no version {target}") from None
        raise
    # Eligible: blessed by its evaluation, or champion before (a later re-evaluation may have re-tagged it).
    was_champion = target in _history_list(client, model_name)
    shadow = tags.get(SHADOW_STATUS_TAG)
    if shadow in NOT_SERVED_SHADOW and not was_champion:
        raise PromotionRejected(
            f"{model_name} version {target} is a shadow challenger that never served (shadow.status={shadow!r}: "
            f"{tags.get('shadow.reason', '')}); a rollback only restores a version that was champion or was "
            "promoted at once. Let review_shadow decide a waiting shadow"
        )
    if tags.get("evaluation.decision") != "promote" and not was_champion:
        raise PromotionRejected(
            f"{model_name} version {target} was never blessed by an evaluation nor champion before "
            f"(evaluation.decision={tags.get('evaluation.decision')!r}); refusing to make it champion"
        )
    return current, target


# A rollback target is checked with a short MLflow client retry budget: a bad target must fail in seconds, not
# after the client's default ~7 retries with exponential backoff (minutes), and before the pool slot is taken.
SHORT_MLFLOW_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


@contextlib.contextmanager
def short_mlflow_retries() -> Iterator[None]:
    """The MLflow client reads these variables on every request; set them for the block only."""
    saved = {k: os.environ.get(k) for k in SHORT_MLFLOW_RETRIES}
    os.environ.update(SHORT_MLFLOW_RETRIES)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_rollback_target(client: MlflowClient, model_name: str, target: str | None) -> tuple[str, str]:
    """``rollback_target`` with the short retry budget: a missing or ineligible target (``PromotionRejected``)
    or an unreachable server is known in seconds."""
    with short_mlflow_retries():
        return rollback_target(client, model_name, target)


def rollback(client: MlflowClient, model_name: str, target: str | None, *, actor: str, reason: str) -> PromotionResult:
    """Move ``champion`` back to ``target`` (default: the champion the current one replaced).

    Refuses a version that was never blessed by an evaluation (``rollback_target``). Records who, why and
    when as version tags on both versions (``reason`` as given); the alias is moved in one call, so it never
    points at nothing.
    """
    current, target = rollback_target(client, model_name, target)
    if target == current:
        log.info("%s version %s is already champion; nothing to roll back", model_name, target)
        return PromotionResult(model_name, target, current, "")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for key, value in {
        "promotion.status": "champion (rollback)",
        "rollback.from_version": current,
        "rollback.by": actor,
        "rollback.reason": reason[:4000],  # the DAG param allows 500 characters: verbatim there
        "rollback.at": now,
    }.items():
        client.set_model_version_tag(model_name, target, key, value)
    client.set_registered_model_alias(model_name, CHAMPION, target)
    client.set_model_version_tag(model_name, current, "promotion.status", f"rolled back to {target}")
    client.set_registered_model_tag(
        model_name, "champion_history", _history(client, model_name, target, promotion=False)
    )
    log.info("%s champion rolled back %s -> %s by %s: %s", model_name, current, target, actor, reason)
    return PromotionResult(model_name, target, current, now)


def _history(client: MlflowClient, model_name: str, newest: str, *, promotion: bool = True) -> str:
    previous = client.get_registered_model(model_name).tags.get("champion_history", "")
    approver = client.get_model_version(model_name, newest).tags.get("promotion.approved_by") if promotion else None
    entry = f"{newest}:approved_by={_history_safe(approver)}" if approver else newest
    versions = [v for v in previous.split(",") if v] + [entry]
    return ",".join(versions[-50:])


def _history_safe(user: str) -> str:
    """A user name inside a ``champion_history`` entry (the separators replaced; the version tag has it verbatim)."""
    return user.replace(",", "_").replace(":", "_")


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "RUN_KEY_TAG",
    "SEGMENTS_FAILED_TAG",
    "SEGMENTS_TAG",
    "SHADOW",
    "SHADOW_STATUS_TAG",
    "SHORT_MLFLOW_RETRIES",
    "Evaluation",
    "EvaluationRecord",
    "PromotionResult",
    "champion_version",
    "alias_version",
    "check_rollback_target",
    "ensure_registered_model",
    "evaluate",
    "evaluate_and_record",
    "find_registered",
    "is_not_found",
    "promote",
    "promote_evaluated",
    "register_version",
    "rollback",
    "rollback_target",
    "short_mlflow_retries",
]
