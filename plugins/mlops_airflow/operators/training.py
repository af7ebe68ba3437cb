"""Check the training window, train and register the challenger, evaluate it, promote it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow import links
from mlops_airflow.operators.base import ChampionMoved, MlopsOperator, TrainingDataRejected
from mlops_airflow.runtime import airflow_tags, json_safe, run_key, window_end

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.mlops.training import Window


def _window_from(check: dict[str, Any]) -> Window:
    import datetime as dt

    from include.mlops.training import Window

    w = check["window"]
    return Window(*(dt.date.fromisoformat(w[k]) for k in ("start", "holdout_start", "end")))


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
        from include.mlops.exceptions import InsufficientData
        from include.mlops.training import Window, assemble_window, check_training_frame, training_suite
        from include.mlops.validation import validate_frame

        cfg = self.config
        days = int(self.window_days or cfg.training.window_days)
        holdout = int(self.holdout_days or cfg.training.holdout_days)
        if not 1 <= holdout < days:
            raise TrainingDataRejected(f"holdout_days={holdout} must be at least 1 and less than window_days={days}")
        window = Window.ending(window_end(context, self.window_end), days, holdout)
        self.begin(
            "check training window %s..%s (holdout from %s) of %s",
            window.start,
            window.end,
            window.holdout_start,
            cfg.dataset.name,
        )
        try:
            data = assemble_window(self.lake, cfg, window)
            check_training_frame(data.train, data.holdout, cfg, window)
        except InsufficientData as exc:
            raise TrainingDataRejected(str(exc)) from None
        summary = validate_frame(data.train, training_suite(cfg))
        if not summary.success:
            raise TrainingDataRejected(summary.message(f"training window {window.start}..{window.holdout_start}"))
        if data.missing_days:
            self.log.warning(
                "days without a curated partition (quarantined or not ingested): %s", ", ".join(data.missing_days)
            )
        self.outcome(
            "window OK: %d training rows, %d holdout rows from %d partitions, content hash %s",
            len(data.train),
            len(data.holdout),
            len(data.partitions),
            data.content_hash[:12],
        )
        return json_safe(
            {
                "window": window.as_dict(),
                "partitions": {p["ds"]: p["content_hash"] for p in data.partitions},
                "missing_days": data.missing_days,
                "rows_train": len(data.train),
                "rows_holdout": len(data.holdout),
                "content_hash": data.content_hash,
            }
        )


class TrainModelOperator(MlopsOperator):
    """Train the configured scikit-learn pipeline on the checked partitions, log it to MLflow and register
    a version with alias ``challenger``. Idempotent per DAG run: retries reuse the registered version."""

    template_fields: Sequence[str] = ("window_check", "reason", "monitoring_run_id")
    ui_color = "#e6f7e6"
    operator_extra_links = (links.MlflowRunLink(), links.MlflowModelVersionLink())

    def __init__(
        self, *, window_check: Any, reason: str | None = None, monitoring_run_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.window_check = window_check  # the CheckTrainingWindowOperator result (templated XCom)
        self.reason = reason
        self.monitoring_run_id = monitoring_run_id

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.exceptions import InsufficientData
        from include.mlops.training import assemble_window, train_and_register

        cfg = self.config
        check = self.window_check
        if not isinstance(check, dict) or "window" not in check:
            raise TrainingDataRejected(f"window_check must be the check task's result, got {check!r}")
        window = _window_from(check)
        key = run_key(context)
        self.begin(
            "train %s on %s..%s (%d partitions, hash %s) for run key %s",
            cfg.model.name,
            window.start,
            window.end,
            len(check["partitions"]),
            check["content_hash"][:12],
            key,
        )
        try:
            data = assemble_window(self.lake, cfg, window, expected=check["partitions"])
        except InsufficientData as exc:
            raise TrainingDataRejected(str(exc)) from None
        client = self.mlflow_hook.client()
        tags = airflow_tags(context) | {"trigger_reason": str(self.reason or "")[:500]}
        if self.monitoring_run_id:
            tags["triggered_by_monitoring_run"] = str(self.monitoring_run_id)
        result = train_and_register(client, self.mlflow_hook.tracking_uri, cfg, data, window, key, tags)
        self.link_mlflow_run(result.run_id)
        self.link_model_version(result.model_name, result.version)
        primary = f"holdout_{cfg.evaluation.primary_metric}"
        self.outcome(
            "%s %s version %s (run %s), %s=%s",
            "REUSED" if result.reused else "REGISTERED",
            result.model_name,
            result.version,
            result.run_id,
            primary,
            result.metrics.get(primary),
        )
        return json_safe(result.as_dict())


class EvaluateChallengerOperator(MlopsOperator):
    """Score challenger and champion on the same out-of-time holdout and decide (see ``include.mlops.evaluation``).

    The decision goes to the challenger's MLflow run (``evaluation/decision_v<N>.json``), to version tags
    and to the lake (``reports/promotion/...``)."""

    template_fields: Sequence[str] = ("challenger_version", "window_check")
    operator_extra_links = (links.MlflowModelVersionLink(), links.ReportLink())

    def __init__(self, *, challenger_version: Any, window_check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.challenger_version = challenger_version
        self.window_check = window_check

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.registry import evaluate

        cfg = self.config
        window = _window_from(self.window_check)
        version = str(self.challenger_version)
        self.begin(
            "evaluate %s version %s against the champion on holdout %s..%s",
            cfg.model.name,
            version,
            window.holdout_start,
            window.end,
        )
        from include.mlops.exceptions import InsufficientData
        from include.mlops.training import assemble_window

        try:
            holdout = assemble_window(
                self.lake, cfg, window, expected=self.window_check["partitions"], holdout_only=True
            )
        except InsufficientData as exc:  # the checked holdout changed or broke: a retry would read the same
            raise TrainingDataRejected(str(exc)) from None
        evaluation = evaluate(self.mlflow_hook.client(), cfg, version, holdout.holdout)
        report = json_safe(evaluation.as_dict())
        key = self.lake.report_key("promotion", cfg.dataset.name, window.end, f"decision_v{version}.json")
        if evaluation.already_champion and self.lake.storage.exists(key):  # keep the report it was promoted on
            uri = self.lake.storage.uri(key)
        else:
            uri = self.lake.write_json(key, report)
        self.link_model_version(cfg.model.name, version)
        self.link_report(key)
        d = evaluation.decision
        self.outcome(
            "%s version %s vs champion %s: %s (report %s)",
            "BLESSED" if d.promote else "REJECTED",
            version,
            evaluation.champion_version or "none",
            d.reason,
            uri,
        )
        return {
            "model_name": evaluation.model_name,
            "challenger_version": version,
            "champion_version": evaluation.champion_version,
            "promote": d.promote,
            "reason": d.reason,
            "primary_metric": d.primary_metric,
            "challenger_value": report["decision"]["challenger_value"],
            "champion_value": report["decision"]["champion_value"],
            "report_uri": uri,
        }


class PromoteChallengerOperator(MlopsOperator):
    """Point the ``champion`` alias at the challenger when the evaluation blessed it.

    Compare-and-set against the champion seen at evaluation; run it in a one-slot pool so promotions
    are serialized. A rejected challenger or a dry run ends the task as skipped, with the reason."""

    template_fields: Sequence[str] = ("evaluation", "dry_run")
    ui_color = "#f3e6ff"
    operator_extra_links = (links.MlflowModelVersionLink(),)

    def __init__(self, *, evaluation: Any, dry_run: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation = evaluation
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.exceptions import PromotionConflict, PromotionRejected
        from include.mlops.registry import promote

        ev = self.evaluation
        name, version, expected = ev["model_name"], str(ev["challenger_version"]), ev["champion_version"]
        self.begin("promote %s version %s (champion at evaluation: %s)", name, version, expected or "none")
        self.link_model_version(name, version)
        if str(self.dry_run).lower() in ("true", "1"):
            self.outcome(
                "DRY RUN: would have %s version %s: %s",
                "promoted" if ev["promote"] else "rejected",
                version,
                ev["reason"],
            )
            raise AirflowSkipException(f"dry run: champion untouched ({ev['reason']})")
        actor = f"{context['dag'].dag_id}/{context['run_id']}"
        try:
            result = promote(
                self.mlflow_hook.client(),
                name,
                version,
                expected,
                promote_decision=bool(ev["promote"]),
                reason=ev["reason"],
                actor=actor,
            )
        except PromotionRejected as exc:
            self.outcome("REJECTED %s", exc)
            raise AirflowSkipException(str(exc)) from None
        except PromotionConflict as exc:
            raise ChampionMoved(str(exc)) from None
        self.outcome(
            "CHAMPION of %s is now version %s (previous: %s)",
            name,
            result.champion_version,
            result.previous_champion or "none",
        )
        return result.as_dict()


class RollbackChampionOperator(MlopsOperator):
    """Move the ``champion`` alias back to an earlier blessed version (default: the previous champion).

    Runs in the same one-slot pool as promotions. Who, why and when are recorded as version tags."""

    template_fields: Sequence[str] = ("target_version", "reason")
    ui_color = "#ffd6d6"
    operator_extra_links = (links.MlflowModelVersionLink(),)

    def __init__(self, *, target_version: Any = None, reason: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_version = target_version
        self.reason = reason

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.exceptions import PromotionRejected
        from include.mlops.registry import rollback

        name = self.config.model.name
        target = str(self.target_version) if self.target_version not in (None, "", "None") else None
        run = context["dag_run"]
        user = getattr(run, "triggering_user_name", None) or "unknown"
        actor = f"{user} via {context['dag'].dag_id}/{context['run_id']}"
        self.begin("roll back the champion of %s to %s (%s)", name, target or "the previous champion", self.reason)
        try:
            result = rollback(self.mlflow_hook.client(), name, target, actor=actor, reason=str(self.reason))
        except PromotionRejected as exc:
            raise ChampionMoved(str(exc)) from None
        self.link_model_version(name, result.champion_version)
        self.outcome(
            "CHAMPION of %s is now version %s (was %s)", name, result.champion_version, result.previous_champion
        )
        return result.as_dict()
