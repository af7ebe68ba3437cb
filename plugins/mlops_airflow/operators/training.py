"""Check the training window, evaluate the challenger, promote it; check a rollback target, roll back. Training
the challenger is ``mlops_airflow.operators.candidates`` (plan_candidates, train_candidate, train_challenger).

The DAGs hand these operators native values: upstream results as ``XComArg`` (``task.output``) and run params
as ``RunParam`` (``mlops_airflow.params``), so free text such as a ``reason`` arrives exactly as sent and no
operator has to undo a template's rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow import links
from mlops_airflow.errors import ModelVersionMissing  # noqa: F401 (re-exported by its old path)
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.params import InvalidRunParams, as_version
from mlops_airflow.runtime import run_key, window_end

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.mlops.model.window import Window


def _window_from(check: Any) -> Window:
    """The window of a ``check_training_window`` result; ``WindowInvalid`` (fails at once) for anything else."""
    from include.mlops.model.window import window_from_check

    return window_from_check(check)


def _text(value: Any, name: str) -> str:
    """A free-text param as sent (None: empty). Anything but a string is a wiring mistake: fail at once."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRunParams(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return value


def _count(value: Any, name: str) -> int | None:
    """An optional integer param (None: the configured value). Anything else is a wiring mistake: fail at once."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRunParams(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return value


class CheckTrainingWindowOperator(MlopsOperator):
    """Pick the curated partitions of the training window and validate the frame they make.

    Returns the window and the exact partitions (with content hashes) the training task must use.
    """

    template_fields: Sequence[str] = ("window_end", "window_days", "holdout_days")

    def __init__(
        self,
        *,
        window_end: str | None = None,
        window_days: int | None = None,
        holdout_days: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window_end = window_end
        self.window_days = window_days
        self.holdout_days = holdout_days

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.model.window import check_window, resolve_window

        cfg = self.config
        days = _count(self.window_days, "window_days")
        holdout = _count(self.holdout_days, "holdout_days")
        window = resolve_window(window_end(context, self.window_end), days, holdout, cfg)
        self.begin(
            "check training window %s..%s (holdout from %s) of %s",
            window.start,
            window.end,
            window.holdout_start,
            cfg.dataset.name,
        )
        check = check_window(self.lake, cfg, window)
        self.log_gaps(check)
        self.outcome(
            "window OK: %d training rows, %d holdout rows from %d partitions, content hash %s",
            check.rows_train,
            check.rows_holdout,
            len(check.partitions),
            check.content_hash[:12],
        )
        return check.as_dict()

    def log_gaps(self, check: Any) -> None:
        """The days the window leaves out, and why (labels not matured yet, no curated partition)."""
        if check.label_delay_days > 0:
            self.log.info(
                "labels arrive %d days late: labels matured through %s; immature days skipped: %s; "
                "%d feature rows without a label dropped",
                check.label_delay_days,
                check.labels_matured_through,
                ", ".join(check.immature_days),
                check.unlabelled_rows,
            )
        if check.missing_days:
            self.log.warning(
                "days without a curated partition%s (quarantined or not ingested): %s",
                " or without labels" if check.label_delay_days > 0 else "",
                ", ".join(check.missing_days),
            )


class EvaluateChallengerOperator(MlopsOperator):
    """Score challenger and champion on the same out-of-time holdout and decide
    (see ``include.mlops.promotion.decision``).

    The decision goes to the challenger's MLflow run (``evaluation/decision_v<N>.json``), to version tags
    and to the lake (``reports/promotion/...``); both JSON files carry what triggered the run (``trigger``:
    the run key, ``reason`` and ``drift_summary`` exactly as sent). Then the evaluation card
    (``include.mlops.promotion.card``): figures and one HTML page in the run and beside the decision in the lake (the
    ``Card`` button), and a two-line summary as the version's description. A card that fails is a WARNING, never
    a failed evaluation."""

    template_fields: Sequence[str] = ("challenger_version", "window_check", "reason", "drift_summary")
    operator_extra_links = (links.MlflowModelVersionLink(), links.ReportLink(), links.CardLink())

    def __init__(
        self, *, challenger_version: Any, window_check: Any, reason: Any = None, drift_summary: Any = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.challenger_version = challenger_version
        self.window_check = window_check
        self.reason = reason
        self.drift_summary = drift_summary

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.promotion.evaluation import evaluate_and_record

        cfg = self.config
        window = _window_from(self.window_check)
        version = as_version(self.challenger_version, "challenger_version")
        trigger = {"run_key": run_key(context), "reason": _text(self.reason, "reason")}
        if self.drift_summary is not None:
            trigger["drift_summary"] = self.drift_summary
        self.begin(
            "evaluate %s version %s against the champion on holdout %s..%s",
            cfg.model.name,
            version,
            window.holdout_start,
            window.end,
        )
        client = self.mlflow_hook.client()
        record = evaluate_and_record(client, self.lake, cfg, self.window_check, version, trigger)
        self.link_model_version(cfg.model.name, version)
        self.link_report(record.key)
        card = self.record_card(client, record)
        d = record.evaluation.decision
        self.outcome(
            "%s version %s vs champion %s: %s (report %s; %s)",
            "BLESSED" if d.promote else "REJECTED",
            version,
            record.evaluation.champion_version or "none",
            d.reason,
            record.uri,
            card,
        )
        return record.summary()

    def record_card(self, client: Any, record: Any) -> str:
        """The evaluation card of ``record`` (its ``Card`` link when it is in the lake); what came of it, for the
        OUTCOME line. Any failure is logged as a WARNING and reported, never raised: the decision stands."""
        from include.mlops.promotion.card import record_card

        version = record.evaluation.challenger_version
        try:
            result = record_card(client, self.lake, self.config, self.window_check, record)
        except Exception as exc:
            self.log.warning(
                "the evaluation card of %s version %s was not recorded (the evaluation stands): %s: %s",
                record.evaluation.model_name,
                version,
                type(exc).__name__,
                exc,
            )
            return f"card failed: {type(exc).__name__}: {exc}"
        if result.key:
            self.link_report(result.key, links.CARD)
        if result.kept:
            return f"card: {result.uri} (kept: already champion)" if result.uri else "card: none (already champion)"
        return f"card: {result.uri}"


def announce_champion_move(operator: Any, context: Context, extra: dict[str, Any]) -> None:
    """An event of the champion asset through each asset-alias outlet: emitted only when the champion moved (a
    success that left it in place, such as a challenger entering the shadow, emits none)."""
    from airflow.sdk import AssetAlias

    from mlops_airflow.assets import champion_model

    champion = champion_model(operator.pipeline)  # this pipeline's champion asset
    for outlet in operator.outlets:
        if isinstance(outlet, AssetAlias):
            context["outlet_events"][outlet].add(champion, extra=extra)


class PromoteChallengerOperator(MlopsOperator):
    """Point the ``champion`` alias at the challenger when the evaluation blessed it; with
    ``evaluation.shadow_days`` > 0 (and a champion to compare with), point ``shadow`` at it instead
    (``include.mlops.promotion.shadow``): ``review_shadow`` promotes or retires it later.

    Compare-and-set against the champion seen at evaluation; run it in a one-slot pool so promotions
    are serialized. A rejected challenger or a dry run ends the task as skipped, with the reason. The champion
    asset gets an event (through an asset-alias outlet) only when the champion moved."""

    template_fields: Sequence[str] = ("evaluation", "is_dry_run", "approval")
    ui_color = "#f3e6ff"
    operator_extra_links = (links.MlflowModelVersionLink(),)

    def __init__(self, *, evaluation: Any, dry_run: Any = False, approval: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation = evaluation
        self.is_dry_run = dry_run  # not `dry_run`: that name is BaseOperator's method
        self.approval = approval  # the approval task's answer; None when it was skipped (no human needed)

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.promotion.approval import verdict
        from include.mlops.promotion.shadow import ShadowStart, promote_or_shadow

        ev = self.evaluation
        if not isinstance(self.is_dry_run, bool):
            raise InvalidRunParams(
                f"dry_run must be a boolean, got {type(self.is_dry_run).__name__} {self.is_dry_run!r}"
            )
        name, version, expected = ev["model_name"], ev["challenger_version"], ev["champion_version"]
        self.begin("promote %s version %s (champion at evaluation: %s)", name, version, expected or "none")
        self.link_model_version(name, version)
        if self.is_dry_run:
            self.outcome(
                "DRY RUN: would have %s version %s: %s",
                "promoted" if ev["promote"] else "rejected",
                version,
                ev["reason"],
            )
            raise AirflowSkipException(f"dry run: champion untouched ({ev['reason']})")
        approval = verdict(self.approval, run_key(context))
        if not approval.approved:
            self.outcome("REJECTED version %s: %s", version, approval.why)
            raise AirflowSkipException(approval.why)
        if approval.why:
            self.log.info("%s", approval.why)
        result = promote_or_shadow(self.mlflow_hook.client(), self.config, ev, actor=approval.actor)
        if isinstance(result, ShadowStart):
            self.outcome(
                "SHADOW: %s version %s scores beside champion %s from %s; review_shadow promotes it after %d "
                "labelled days that confirm it, or retires it%s",
                name,
                result.shadow_version,
                result.champion_version,
                result.start_day,
                result.required_days,
                f" (replaced shadow version {result.replaced})" if result.replaced else "",
            )
            return {**result.as_dict(), "status": "shadow"}
        extra = {"model_name": name, "version": result.champion_version, "by": approval.actor}
        announce_champion_move(self, context, extra)
        self.outcome(
            "CHAMPION of %s is now version %s (previous: %s)",
            name,
            result.champion_version,
            result.previous_champion or "none",
        )
        return {**result.as_dict(), "status": "champion"}


def _rollback_target(value: Any) -> str | None:
    """None (the previous champion) or a version string; anything else fails at once."""
    return None if value is None else as_version(value, "target_version")


def _rollback_actor(context: Context) -> str:
    user = getattr(context["dag_run"], "triggering_user_name", None) or "unknown"
    return f"{user} via {run_key(context)}"


class CheckRollbackTargetOperator(MlopsOperator):
    """Before a rollback waits for the promotion pool: is there a champion, does the target (default: the
    previous champion) exist, and is it eligible (blessed by an evaluation or champion before)?

    Probes the server with a short retry budget first (``include.mlops.model.registry.SHORT_RETRIES``). A
    malformed target fails with ``InvalidRunParams``, a missing or ineligible one with ``RollbackTargetRefused``:
    neither is retried. MLflow
    being unreachable is (Airflow's retries). Returns the champion now and the version it would restore."""

    template_fields: Sequence[str] = ("target_version",)
    ui_color = "#ffe8d6"
    operator_extra_links = (links.MlflowModelVersionLink(),)

    def __init__(self, *, target_version: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_version = target_version

    def execute(self, context: Context) -> dict[str, Any]:
        name = self.config.model.name
        target = _rollback_target(self.target_version)
        self.begin("check the rollback target of %s: %s", name, target or "the previous champion")
        from include.mlops.promotion.aliases import check_rollback_target

        current, resolved = check_rollback_target(self.mlflow_hook.client(), name, target)
        self.link_model_version(name, resolved)
        self.outcome("ELIGIBLE: %s version %s can replace champion %s", name, resolved, current)
        return {"model_name": name, "champion_version": current, "target_version": resolved}


class RollbackChampionOperator(MlopsOperator):
    """Move the ``champion`` alias back to an earlier blessed version (default: the previous champion).

    Runs in the same one-slot pool as promotions, after ``CheckRollbackTargetOperator`` (outside the pool);
    the registry checks the target again under the pool. Who, why and when are recorded as version tags;
    ``reason`` verbatim."""

    template_fields: Sequence[str] = ("target_version", "reason")
    ui_color = "#ffd6d6"
    operator_extra_links = (links.MlflowModelVersionLink(),)

    def __init__(self, *, target_version: Any = None, reason: Any = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_version = target_version
        self.reason = reason

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.promotion.aliases import rollback

        name = self.config.model.name
        target = _rollback_target(self.target_version)
        reason = _text(self.reason, "reason")
        actor = _rollback_actor(context)
        self.begin("roll back the champion of %s to %s (%s)", name, target or "the previous champion", reason)
        result = rollback(self.mlflow_hook.client(), name, target, actor=actor, reason=reason)
        self.link_model_version(name, result.champion_version)
        self.outcome(
            "CHAMPION of %s is now version %s (was %s)", name, result.champion_version, result.previous_champion
        )
        return result.as_dict()
