"""Train ``model.candidates`` in parallel and register the best as the challenger (``train_and_promote``).

``PlanCandidatesOperator`` expands the candidates at run time and, with several, opens the DAG run's parent MLflow
run and cuts the validation days; ``TrainCandidateOperator`` is mapped over its result (``.expand()``), one child
run per candidate; ``TrainChallengerOperator`` picks the best, refits it on the whole training part and registers
it. One candidate (no ``model.candidates``): nothing is fitted in the mapped task and the challenger trains exactly
as a single model always has. Library: ``include.mlops.model.candidates`` and ``include.mlops.model.training``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops_airflow import links
from mlops_airflow.errors import (  # noqa: F401 (re-exported by their old path)
    CandidateRejected,
    NoCandidateLeft,
    PipelineConfigBroken,
)
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.operators.training import _text, _window_from
from mlops_airflow.params import InvalidRunParams
from mlops_airflow.runtime import airflow_tags, run_key

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.mlops.model.candidates import CandidateSpec, ValidationSplit


def _assignment(value: Any) -> tuple[CandidateSpec, str | None, ValidationSplit | None]:
    """A ``plan_candidates`` item: the candidate, the parent run id and the validation split (None: one candidate)."""
    from include.mlops.model.candidates import CandidateSpec, ValidationSplit

    try:
        spec = CandidateSpec.from_dict(value)
        parent, split = value.get("parent_run_id"), value.get("split")
        if parent is not None and not isinstance(parent, str):
            raise ValueError(f"parent_run_id must be a string, got {parent!r}")
        return spec, parent, None if split is None else ValidationSplit(**split)
    except (ValueError, TypeError) as exc:
        raise InvalidRunParams(f"candidate must be an item of plan_candidates' result: {exc}") from None


class PlanCandidatesOperator(MlopsOperator):
    """The candidates to train (``expand_candidates`` of the config, at run time), one item each for the mapped
    ``TrainCandidateOperator``. With several: the validation days (``validation_split``: the newest curated training
    days, never the holdout) and the DAG run's parent MLflow run (created, or reused by run key), in every item.

    Returns a list (what ``.expand()`` maps over) of ``{name, estimator, params, parent_run_id, split}``."""

    template_fields: Sequence[str] = ("window_check",)
    operator_extra_links = (links.MlflowRunLink(),)

    def __init__(self, *, window_check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window_check = window_check

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from include.mlops.model.candidates import expand_candidates, validation_split
        from include.mlops.model.training import open_parent_run

        cfg = self.config
        window = _window_from(self.window_check)
        try:
            specs = expand_candidates(cfg.model)
        except ValueError as exc:  # config validation refuses these; a hand-built config may not
            raise PipelineConfigBroken(str(exc)) from None
        key = run_key(context)
        self.begin("plan %d candidates of %s for run key %s", len(specs), cfg.model.name, key)
        if len(specs) == 1:
            self.outcome(
                "ONE candidate %s (%s): nothing to choose between; train_challenger fits it on the whole training part",
                specs[0].name,
                specs[0].estimator,
            )
            return [{**specs[0].as_dict(), "parent_run_id": None, "split": None}]
        partitions = self.window_check.get("partitions") or {}
        split = validation_split(list(partitions), window.holdout_start.isoformat(), cfg.training.validation_days)
        parent = open_parent_run(self.mlflow_hook.client(), cfg, window, key, airflow_tags(context), specs, split)
        self.link_mlflow_run(parent)
        self.outcome(
            "%d candidates (%s) fit on %d days to %s, scored on %s; parent run %s",
            len(specs),
            ", ".join(s.name for s in specs),
            len(split.fit_days),
            split.fit_days[-1],
            ", ".join(split.validation_days),
            parent,
        )
        return [{**s.as_dict(), "parent_run_id": parent, "split": split.as_dict()} for s in specs]


class TrainCandidateOperator(MlopsOperator):
    """Fit one candidate on the fit days and score it on the validation days, as a child run of the parent run
    (``include.mlops.model.training.train_candidate``). Mapped over ``PlanCandidatesOperator``'s result.

    A candidate whose estimator refuses its params fails at once (``CandidateRejected``, its error recorded in the
    parent run); MLflow being unreachable is retried. One candidate: fits nothing, returns its spec."""

    template_fields: Sequence[str] = ("window_check",)
    ui_color = "#e6f7e6"
    operator_extra_links = (links.MlflowRunLink(),)

    def __init__(self, *, candidate: Any, window_check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.candidate = candidate  # one item of plan_candidates' result (the expand() argument)
        self.window_check = window_check

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.core.jsonsafe import json_safe
        from include.mlops.model.candidates import expand_candidates
        from include.mlops.model.training import CandidateResult, candidate_threads, train_candidate

        cfg = self.config
        spec, parent, split = _assignment(self.candidate)
        check = self.window_check
        _window_from(check)
        key = run_key(context)
        self.begin("candidate %s: %s with %s for run key %s", spec.name, spec.estimator, spec.params, key)
        if split is None or parent is None:
            result = CandidateResult(spec.name, spec.estimator, dict(spec.params), None, None)
            self.outcome("ONE candidate %s: not fitted here; train_challenger trains it", spec.name)
            return json_safe(result.as_dict())
        threads = candidate_threads(len(expand_candidates(cfg.model)))  # the mapped tasks run side by side
        result = train_candidate(
            self.mlflow_hook.client(),
            cfg,
            self.lake,
            check,
            spec,
            split,
            parent,
            key,
            airflow_tags(context),
            threads=threads,
        )
        self.link_mlflow_run(result.run_id)
        primary = cfg.evaluation.primary_metric
        self.outcome(
            "%s candidate %s (run %s): validation %s=%s on %d rows",
            "REUSED" if result.reused else "SCORED",
            spec.name,
            result.run_id,
            primary,
            (result.validation or {}).get(primary),
            result.rows_validation,
        )
        return json_safe(result.as_dict())


class TrainChallengerOperator(MlopsOperator):
    """Pick the best candidate by its validation primary metric (``select_best``), refit it on the whole training
    part, log it into the parent run (with ``candidates/leaderboard.json``) and register a version with alias
    ``challenger``. Idempotent per DAG run, as training always was (``include.mlops.model.training``).

    ``results`` are the mapped candidates' results (a failed one has none); run it with trigger rule
    ``all_done_min_one_success`` so a failed candidate does not stop the others. ``reason`` is tagged
    ``trigger_reason`` verbatim; ``drift_summary`` is logged as ``trigger/drift_summary.json``."""

    template_fields: Sequence[str] = (
        "window_check",
        "candidates",
        "results",
        "reason",
        "monitoring_run_id",
        "drift_summary",
    )
    ui_color = "#e6f7e6"
    operator_extra_links = (links.MlflowRunLink(), links.MlflowModelVersionLink())

    def __init__(
        self,
        *,
        window_check: Any,
        candidates: Any,
        results: Any,
        reason: Any = None,
        monitoring_run_id: Any = None,
        drift_summary: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window_check = window_check
        self.candidates = candidates  # plan_candidates' result; None when that task failed
        self.results = results  # train_candidate's results: a lazy sequence, failed map indexes absent
        self.reason = reason
        self.monitoring_run_id = monitoring_run_id
        self.drift_summary = drift_summary

    def execute(self, context: Context) -> dict[str, Any]:
        from include.mlops.core.jsonsafe import json_safe
        from include.mlops.model.training import train_best

        cfg = self.config
        check = self.window_check
        window = _window_from(check)
        reason = _text(self.reason, "reason")
        monitoring_run_id = _text(self.monitoring_run_id, "monitoring_run_id")
        if self.drift_summary is not None and not isinstance(self.drift_summary, dict):
            raise InvalidRunParams(f"drift_summary must be an object, got {self.drift_summary!r}")
        if not self.candidates:
            raise NoCandidateLeft(
                "plan_candidates left no candidates (it failed or was cleared): see its log, then clear it"
            )
        plan = [_assignment(item) for item in self.candidates]
        specs, parent = [p[0] for p in plan], plan[0][1]
        results = [r for r in (self.results or []) if r is not None]
        key = run_key(context)
        self.begin(
            "train %s: best of %d candidates (%d scored) on %s..%s (%d partitions, hash %s) for run key %s; reason: %s",
            cfg.model.name,
            len(specs),
            len(results),
            window.start,
            window.end,
            len(check["partitions"]),
            check["content_hash"][:12],
            key,
            reason,
        )
        tags = airflow_tags(context) | {"trigger_reason": reason}
        if monitoring_run_id:
            tags["triggered_by_monitoring_run"] = monitoring_run_id
        result = train_best(
            self.mlflow_hook.client(),
            cfg,
            self.lake,
            check,
            specs,
            results,
            parent,
            key,
            tags,
            drift_summary=self.drift_summary,
        )
        self.link_mlflow_run(result.run_id)
        self.link_model_version(result.model_name, result.version)
        primary = f"holdout_{cfg.evaluation.primary_metric}"
        self.outcome(
            "%s %s version %s (run %s, candidate %s of %d), %s=%s",
            "REUSED" if result.reused else "REGISTERED",
            result.model_name,
            result.version,
            result.run_id,
            result.candidate,
            len(specs),
            primary,
            result.metrics.get(primary),
        )
        return json_safe(result.as_dict())
