"""Alias moves: ``promote`` (compare-and-set of ``champion`` against the champion read at evaluation time, never
deleting it first), ``rollback`` to a version an evaluation blessed, and the promotion history."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.core.exceptions import PromotionConflict, PromotionRejected
from include.mlops.model.registry import (
    CHAMPION,
    NOT_SERVED_SHADOW,
    SHADOW_STATUS_TAG,
    SHORT_RETRIES,
    HttpRetries,
    champion_version,
    check_server,
    get_version,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


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
    tags = get_version(client, model_name, challenger).tags
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
    current one replaced). ``PromotionRejected`` when there is no champion or the target is not eligible (never
    blessed by an evaluation nor champion before), ``ModelVersionNotFound`` when there is no such version; other
    MLflow errors propagate."""
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
    tags = get_version(client, model_name, target).tags
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


def check_rollback_target(
    client: MlflowClient, model_name: str, target: str | None, *, retries: HttpRetries = SHORT_RETRIES
) -> tuple[str, str]:
    """``rollback_target`` after probing the tracking server with ``retries`` (``registry.check_server``): a bad
    target must fail in seconds, before the promotion pool slot is taken, and an unreachable server is known in
    seconds too (not after MLflow's default ~7 retries with exponential backoff). The budget is passed here,
    explicitly: nothing is written to the environment MLflow reads its own from."""
    check_server(client, retries)
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
    "PromotionResult",
    "check_rollback_target",
    "promote",
    "promote_evaluated",
    "rollback",
    "rollback_target",
]
