"""A human in the loop before the champion moves: when to ask, what the reviewer reads, what is recorded.

``promotion.approval`` (``include.mlops.core.config.PromotionConfig``) says when ``train_and_promote`` waits for a
person between ``evaluate_challenger`` and ``promote_challenger``: ``never``, ``always`` or ``on_drift`` (only
runs ``drift_monitor`` triggered). ``wait_reason`` is the rule: only a blessed challenger of a real (not dry) run
ever waits, so a rejected challenger never pages anyone. ``body`` is the Markdown the reviewer reads (decision,
metrics side by side, window and hash, trigger, links). ``record`` writes the answer on the version (tags
``promotion.approval``, ``promotion.approved_by`` / ``promotion.approved_at`` / ``promotion.approval_comment``,
or the ``rejected_*`` ones) and into the decision JSON in the lake. ``verdict`` is what the answer means for the
promotion (go ahead, and who moves the champion; or skip, and why). Airflow-free: the operator in
``mlops_airflow.operators.approval`` does the waiting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import InvalidApproval

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from include.mlops.data.lake import Lake

APPROVE, REJECT = "Approve", "Reject"
TIMEOUT_ACTOR = "timeout"  # who "answered" when nobody did before promotion.approval_timeout


def wait_reason(
    cfg: PipelineConfig, evaluation: Mapping[str, Any], *, dry_run: bool, triggered_by_drift: bool
) -> tuple[bool, str]:
    """(wait for a human?, why or why not)."""
    mode = cfg.promotion.approval
    version = evaluation.get("challenger_version")
    if mode == "never":
        return False, "promotion.approval is never: the promotion is unattended"
    if not evaluation.get("promote"):
        return (
            False,
            f"version {version} was rejected by the evaluation, nothing to approve: {evaluation.get('reason')}",
        )
    if dry_run:
        return False, "dry run: the champion is not moved, nothing to approve"
    if mode == "on_drift" and not triggered_by_drift:
        return False, "promotion.approval is on_drift and drift_monitor did not trigger this run"
    why = "every promotion" if mode == "always" else "a drift-triggered promotion"
    return True, f"promotion.approval is {mode}: {why} of {evaluation.get('model_name')} waits for a human"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "NaN" if not math.isfinite(value) else f"{value:.4f}"
    return str(value)


def _cell(text: Any) -> str:
    """Free text in a Markdown table cell: kept verbatim but for the characters that would break the table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def body(
    evaluation: Mapping[str, Any],
    report: Mapping[str, Any] | None,
    check: Mapping[str, Any] | None,
    trigger: Mapping[str, Any],
    links: Mapping[str, str],
    *,
    timeout: str,
) -> str:
    """The Markdown the reviewer reads on Required Actions (and the notifier's message links to)."""
    name, version = evaluation["model_name"], evaluation["challenger_version"]
    champion = evaluation.get("champion_version")
    decision = (report or {}).get("decision") or {}
    metric = evaluation.get("primary_metric") or decision.get("primary_metric")
    lines = [
        f"### Promote {name} version {version} to champion?",
        "",
        f"The evaluation **blessed** version {version} against champion {champion or '(none yet)'}:",
        "",
        f"> {evaluation.get('reason', '')}",
        "",
        f"Primary metric **{metric}**: challenger {_fmt(evaluation.get('challenger_value'))}, champion "
        f"{_fmt(evaluation.get('champion_value'))} (min improvement {_fmt(decision.get('min_improvement'))}, "
        f"floor {_fmt(decision.get('floor'))}).",
        "",
    ]
    challenger_m = (report or {}).get("challenger_metrics") or {}
    champion_m = (report or {}).get("champion_metrics") or {}
    if challenger_m:
        guards = {g.get("metric"): g for g in decision.get("guardrails") or []}
        lines += ["| metric | challenger | champion | guardrail |", "|---|---|---|---|"]
        for key in sorted(challenger_m):
            guard = guards.get(key)
            rule = (
                f"max regression {_fmt(guard.get('max_regression'))}: {'holds' if guard.get('passed') else 'BROKEN'}"
                if guard
                else ("primary" if key == metric else "")
            )
            lines.append(f"| {key} | {_fmt(challenger_m.get(key))} | {_fmt(champion_m.get(key))} | {rule} |")
        lines.append("")
    if report and report.get("holdout_rows") is not None:
        lines.append(f"Holdout: {report['holdout_rows']} rows.")
    if check:
        window = check.get("window") or {}
        lines += [
            f"Training window {window.get('start')} .. {window.get('end')} (exclusive; holdout from "
            f"{window.get('holdout_start')}), {len(check.get('partitions') or {})} curated partitions, content "
            f"hash `{str(check.get('content_hash', ''))[:16]}`.",
            "",
        ]
    lines.append(f"Triggered by: {_cell(trigger.get('run_key', ''))}; reason: {_cell(trigger.get('reason', ''))}")
    drift = trigger.get("drift_summary")
    if isinstance(drift, Mapping) and drift:
        shown = {k: drift[k] for k in ("ds", "reason", "drift_share", "drifted_columns", "signals") if k in drift}
        lines += ["", "Drift that started this run:", ""]
        lines += [f"- {k}: {_cell(v)}" for k, v in shown.items()] or [f"- {_cell(drift)}"]
    if links:
        lines += ["", "Links: " + " · ".join(f"[{label}]({url})" for label, url in links.items())]
    lines += [
        "",
        f"**Approve** moves `champion` to version {version} (compare-and-set: if the champion moved meanwhile, "
        f"nothing moves and the run asks for a re-evaluation). **Reject** keeps champion {champion or '(none)'}. "
        f"No answer within {timeout} rejects. Your comment is recorded on the version.",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Answer:
    approved: bool
    by: str  # the user name, or TIMEOUT_ACTOR
    at: str  # ISO time of the answer
    comment: str = ""
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        if self.timed_out:
            return "rejected: no answer before the approval timeout"
        verb = "approved" if self.approved else "rejected"
        return f"{verb} by {self.by}" + (f": {self.comment}" if self.comment else "")


def answer_from_event(event: Mapping[str, Any]) -> Answer:
    """An ``Answer`` from the HITL resume event (chosen options, params input, who and when)."""
    import datetime as dt

    chosen = list(event.get("chosen_options") or [])
    user = event.get("responded_by_user")
    at = event.get("responded_at")
    at_text = at.isoformat() if isinstance(at, dt.datetime) else str(at or "")
    comment = (event.get("params_input") or {}).get("comment") or ""
    if not isinstance(comment, str):
        comment = str(comment)
    if not user:  # the scheduler applied the defaults (Reject) when the wait timed out
        return Answer(False, TIMEOUT_ACTOR, at_text, comment, timed_out=True)
    name = (user.get("name") or user.get("id")) if isinstance(user, Mapping) else user
    return Answer(chosen == [APPROVE], str(name), at_text, comment)


@dataclass(frozen=True)
class Verdict:
    """What the approval task's answer means for the promotion."""

    approved: bool  # False: the promotion is skipped, nothing moves
    actor: str  # who moves the champion: the run key, with the approver when a human approved
    why: str  # a rejection: why (the skip's reason); an approval: who approved, when, and the comment; else ""


def verdict(answer: Any, run_key: str) -> Verdict:
    """The promotion's reading of ``answer``: the approval task's result (``Answer.as_dict()``), or None when that
    task was skipped (no human needed). Anything else is a wiring mistake: ``InvalidApproval``."""
    if answer is None:
        return Verdict(True, run_key, "")
    if not isinstance(answer, Mapping) or "approved" not in answer:
        raise InvalidApproval(f"approval must be the approval task's answer, got {answer!r}")
    by = answer.get("by")
    if not answer["approved"]:
        why = (
            "no answer before promotion.approval_timeout"
            if answer.get("timed_out")
            else f"rejected by {by}: {answer.get('comment') or '(no comment)'}"
        )
        return Verdict(False, run_key, why)
    return Verdict(
        True, f"{run_key} (approved by {by})", f"approved by {by} at {answer.get('at')}: {answer.get('comment') or ''}"
    )


def record(
    client: MlflowClient,
    lake: Lake | None,
    evaluation: Mapping[str, Any],
    answer: Answer,
) -> None:
    """The answer as version tags and in the decision JSON (lake and the challenger's MLflow run)."""
    name, version = evaluation["model_name"], evaluation["challenger_version"]
    if answer.approved:
        tags = {
            "promotion.approval": "approved",
            "promotion.approved_by": answer.by,
            "promotion.approved_at": answer.at,
            "promotion.approval_comment": answer.comment[:4000],
        }
    else:
        tags = {
            "promotion.approval": "timed out" if answer.timed_out else "rejected",
            "promotion.rejected_by": answer.by,
            "promotion.rejected_at": answer.at,
            "promotion.approval_comment": answer.comment[:4000],
            "promotion.status": "rejected by a human" if not answer.timed_out else "rejected (approval timed out)",
        }
    for tag, value in tags.items():
        client.set_model_version_tag(name, version, tag, value)
    report_key = evaluation.get("report_key")
    if lake is not None and report_key and lake.storage.exists(report_key):
        document = lake.read_json(report_key)
        lake.write_json(report_key, {**document, "approval": answer.as_dict()})
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        client.log_dict(run_id, answer.as_dict(), f"evaluation/approval_v{version}.json")


__all__ = [
    "APPROVE",
    "REJECT",
    "TIMEOUT_ACTOR",
    "Answer",
    "Verdict",
    "answer_from_event",
    "body",
    "record",
    "verdict",
    "wait_reason",
]
