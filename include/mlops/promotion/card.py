"""The evaluation card: figures and one self-contained HTML page explaining a champion/challenger decision.

``build_card`` is plain computation over a holdout, the two models and the evaluation report (the
``EvaluationRecord.report`` dict): classification gets precision-recall, ROC and calibration curves,
regression residuals and a binned calibration; both get permutation feature importance of the challenger (a
seeded sample of at most ``IMPORTANCE_ROWS`` rows, scored on the primary metric) and the segment table of the
decision (``report["decision"]["segments"]``). ``log_card`` puts the figures and the HTML in the challenger's
MLflow run (``evaluation/card_v<N>/<name>.png``, ``evaluation/card_v<N>.html``) and the two-line summary into the
model version's description; ``record_card`` does all of it for an evaluation the evaluate task just recorded,
and writes the HTML to the lake beside the decision (``reports/promotion/<dataset>/ds=<end>/card_v<N>.html``).

matplotlib draws on ``matplotlib.figure.Figure`` objects (the Agg canvas, no pyplot, no display), imported inside
the functions like every heavy library here.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.exceptions import CardFailed

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

    from include.mlops.core.config import PipelineConfig
    from include.mlops.data.lake import Lake

log = logging.getLogger(__name__)

IMPORTANCE_ROWS = 5000  # permutation importance runs on a seeded sample of at most this many holdout rows
IMPORTANCE_REPEATS = 3
TOP_FEATURES = 15
SCATTER_ROWS = 5000  # residual scatter: a seeded sample, the histogram uses every row
CALIBRATION_BINS = 10
SEGMENT_FIGURE_ROWS = 30  # the figure shows the worst segments; the HTML table lists them all
REASON_CHARS = 300  # the description's second line: the decision's reason, cut to this many characters
DPI = 90

# the sklearn scorer of each metric the evaluation computes (include.mlops.model.metrics.compute_metrics)
SCORERS = {
    "average_precision": "average_precision",
    "roc_auc": "roc_auc",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
    "log_loss": "neg_log_loss",
    "brier": "neg_brier_score",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}
CHALLENGER_COLOR, CHAMPION_COLOR, FAIL_COLOR, MUTED_COLOR = "#1f77b4", "#ff7f0e", "#d62728", "#9e9e9e"


@dataclass
class Card:
    """Figures (matplotlib ``Figure`` objects by name), the HTML page with them embedded, the description."""

    version: str
    figures: dict[str, Figure]
    html: str
    description: str
    notes: list[str] = field(default_factory=list)  # what was left out and why (e.g. one class in the holdout)

    def figure_path(self, name: str) -> str:
        return f"{card_dir(self.version)}/{name}.png"

    @property
    def html_path(self) -> str:
        return f"{card_dir(self.version)}.html"


@dataclass(frozen=True)
class CardResult:
    """Where a card went. ``kept``: the version was already champion, its existing card was left as it was."""

    version: str
    key: str | None  # lake key of the HTML (None: no card in the lake)
    uri: str | None
    artifacts: list[str]
    kept: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


def card_dir(version: Any) -> str:
    return f"evaluation/card_v{version}"


def card_key(lake: Lake, dataset: str, window_end: Any, version: Any) -> str:
    """The card's lake key: beside the decision JSON (``reports/promotion/...``), served by the reports app."""
    return lake.report_key("promotion", dataset, window_end, f"card_v{version}.html")


# -- numbers and text ---------------------------------------------------------------------------------------
def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _signed(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{round(value, 4) + 0.0:+.4f}"  # + 0.0: no "-0.0000" for a zero or a rounding speck


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _by(improvement: Any) -> str:
    """How the challenger compares, in the metric's good direction (``improvement`` of the decision)."""
    if isinstance(improvement, bool) or not isinstance(improvement, int | float) or not math.isfinite(improvement):
        return ""
    if improvement == 0:
        return " (a tie)"
    return f" ({'better' if improvement > 0 else 'worse'} by {abs(improvement):.4f})"


def describe(report: Mapping[str, Any]) -> str:
    """The model version's description: line 1 the verdict and the primary metric challenger vs champion,
    line 2 the decision's reason (as recorded, on one line and cut to ``REASON_CHARS``)."""
    d = report["decision"]
    verdict = "BLESSED" if d.get("promote") else "REJECTED"
    metric = d.get("primary_metric", "?")
    champion = report.get("champion_version")
    against = (
        f"vs champion v{champion} {_num(d.get('champion_value'))}{_by(d.get('improvement'))}"
        if champion
        else "(no champion)"
    )
    first = f"{verdict}: {metric} {_num(d.get('challenger_value'))} {against}"
    return f"{first}\n{_one_line(d.get('reason', ''), REASON_CHARS)}"


# -- figures ------------------------------------------------------------------------------------------------
def _figure(width: float = 6.0, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _label(role: str, version: Any) -> str:
    return f"{role} v{version}" if version else role


def _curves(
    y: np.ndarray, scores: Mapping[str, np.ndarray], kind: str, chance: float
) -> Figure:  # precision-recall or ROC, one line per model
    from sklearn import metrics as skm

    fig = _figure()
    ax = fig.add_subplot()
    for (label, s), color in zip(scores.items(), (CHALLENGER_COLOR, CHAMPION_COLOR), strict=False):
        if kind == "precision_recall":
            precision, recall, _ = skm.precision_recall_curve(y, s)
            ax.step(
                recall,
                precision,
                where="post",
                color=color,
                label=f"{label} (AP {skm.average_precision_score(y, s):.3f})",
            )
        else:
            fpr, tpr, _ = skm.roc_curve(y, s)
            ax.plot(fpr, tpr, color=color, label=f"{label} (AUC {skm.roc_auc_score(y, s):.3f})")
    if kind == "precision_recall":
        ax.axhline(chance, color=MUTED_COLOR, linestyle="--", linewidth=1, label=f"base rate {chance:.3f}")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the holdout")
    else:
        ax.plot([0, 1], [0, 1], color=MUTED_COLOR, linestyle="--", linewidth=1, label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the holdout")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="best", fontsize=8)
    return fig


def _classification_calibration(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    from sklearn.calibration import calibration_curve

    fig = _figure()
    ax = fig.add_subplot()
    top = 0.05
    for (label, s), color in zip(scores.items(), (CHALLENGER_COLOR, CHAMPION_COLOR), strict=False):
        observed, predicted = calibration_curve(y, s, n_bins=CALIBRATION_BINS, strategy="quantile")
        ax.plot(predicted, observed, marker="o", color=color, label=label)
        top = max(top, float(observed.max()), float(predicted.max()))
    top = min(1.0, top * 1.1)  # zoomed on the bins: with a rare positive class they all sit near 0
    ax.plot([0, top], [0, top], color=MUTED_COLOR, linestyle="--", linewidth=1, label="perfectly calibrated")
    ax.set(xlim=(0, top), ylim=(0, top))
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", title="Calibration (quantile bins)")
    ax.legend(loc="best", fontsize=8)
    return fig


def _binned(y: np.ndarray, predicted: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean prediction and mean actual per quantile bin of the prediction."""
    import numpy as np

    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, max(len(edges) - 2, 0))
    means_p, means_y = [], []
    for b in np.unique(which):
        mask = which == b
        means_p.append(float(predicted[mask].mean()))
        means_y.append(float(y[mask].mean()))
    return np.asarray(means_p), np.asarray(means_y)


def _regression_calibration(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    low = min(float(y.min()), *(float(s.min()) for s in scores.values()))
    high = max(float(y.max()), *(float(s.max()) for s in scores.values()))
    for (label, s), color in zip(scores.items(), (CHALLENGER_COLOR, CHAMPION_COLOR), strict=False):
        mean_p, mean_y = _binned(y, s, CALIBRATION_BINS)
        ax.plot(mean_p, mean_y, marker="o", color=color, label=label)
        low, high = min(low, mean_p.min(), mean_y.min()), max(high, mean_p.max(), mean_y.max())
    ax.plot([low, high], [low, high], color=MUTED_COLOR, linestyle="--", linewidth=1, label="predicted = actual")
    ax.set(xlabel="mean prediction", ylabel="mean actual", title="Calibration (quantile bins of the prediction)")
    ax.legend(loc="best", fontsize=8)
    return fig


def _residuals(y: np.ndarray, scores: Mapping[str, np.ndarray], seed: int) -> Figure:
    import numpy as np

    fig = _figure(10.0, 4.5)
    scatter, hist = fig.subplots(1, 2)
    label, challenger = next(iter(scores.items()))
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), size=min(len(y), SCATTER_ROWS), replace=False)
    scatter.scatter(challenger[idx], (y - challenger)[idx], s=4, alpha=0.35, color=CHALLENGER_COLOR)
    scatter.axhline(0, color=MUTED_COLOR, linestyle="--", linewidth=1)
    title = f"Residuals of {label}" + (f" ({len(idx)} of {len(y)} rows)" if len(idx) < len(y) else "")
    scatter.set(xlabel="prediction", ylabel="actual - prediction", title=title)
    residuals = {name: y - s for name, s in scores.items()}
    both = np.concatenate(list(residuals.values()))
    edges = np.histogram_bin_edges(both[np.isfinite(both)], bins=50)
    for (name, r), color in zip(residuals.items(), (CHALLENGER_COLOR, CHAMPION_COLOR), strict=False):
        hist.hist(r, bins=edges, histtype="step", linewidth=1.5, color=color, label=f"{name} (mean {r.mean():+.3g})")
    hist.axvline(0, color=MUTED_COLOR, linestyle="--", linewidth=1)
    hist.set(xlabel="actual - prediction", ylabel="rows", title="Residual distribution")
    hist.legend(loc="best", fontsize=8)
    return fig


def permutation_importances(
    model: Any, frame: pd.DataFrame, y: np.ndarray, metric: str, features: Sequence[str], seed: int
) -> list[tuple[str, float, float]]:
    """(feature, mean drop of the primary metric's score, std) for each feature, largest drop first, on a seeded
    sample of at most ``IMPORTANCE_ROWS`` rows."""
    import numpy as np
    from sklearn.inspection import permutation_importance

    rows = min(len(frame), IMPORTANCE_ROWS)
    idx = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    x = frame.iloc[idx][list(features)]
    result = permutation_importance(
        model, x, y[idx], scoring=SCORERS[metric], n_repeats=IMPORTANCE_REPEATS, random_state=seed, n_jobs=1
    )
    ranked = sorted(
        zip(features, result.importances_mean, result.importances_std, strict=True), key=lambda t: -float(t[1])
    )
    return [(str(f), float(m), float(s)) for f, m, s in ranked]


def _importance_figure(importances: list[tuple[str, float, float]], metric: str, rows: int, label: str) -> Figure:
    shown = importances[:TOP_FEATURES][::-1]
    fig = _figure(6.5, max(2.5, 0.32 * len(shown) + 1.2))
    ax = fig.add_subplot()
    ax.barh([f for f, _, _ in shown], [m for _, m, _ in shown], xerr=[s for _, _, s in shown], color=CHALLENGER_COLOR)
    ax.axvline(0, color=MUTED_COLOR, linewidth=1)
    ax.set_xlabel(f"drop in {metric} score when the feature is shuffled")
    ax.set_title(f"Permutation importance of {label}\n({rows} rows, {IMPORTANCE_REPEATS} repeats)", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    return fig


def _segment_name(seg: Mapping[str, Any]) -> str:
    return f"{seg.get('column')}={seg.get('value')}"


def _segment_failed(seg: Mapping[str, Any]) -> bool:
    return bool(seg.get("judged")) and not seg.get("passed", True)


def _segments_figure(segments: list[Mapping[str, Any]], metric: str) -> Figure:
    import numpy as np

    def worst_first(seg: Mapping[str, Any]) -> tuple[int, float]:
        regression = seg.get("regression")
        return (0 if _segment_failed(seg) else 1, -(regression if isinstance(regression, int | float) else -math.inf))

    shown = sorted(segments, key=worst_first)[:SEGMENT_FIGURE_ROWS][::-1]
    fig = _figure(7.0, max(2.5, 0.36 * len(shown) + 1.4))
    ax = fig.add_subplot()
    pos = np.arange(len(shown))

    def values(key: str) -> list[float]:
        return [float(s[key]) if isinstance(s.get(key), int | float) else float("nan") for s in shown]

    ax.barh(pos + 0.2, values("challenger"), height=0.4, color=CHALLENGER_COLOR, label="challenger")
    ax.barh(pos - 0.2, values("champion"), height=0.4, color=CHAMPION_COLOR, label="champion")
    labels = [f"{_segment_name(s)} ({s.get('rows')} rows)" for s in shown]
    ax.set_yticks(pos, labels, fontsize=8)
    for tick, seg in zip(ax.get_yticklabels(), shown, strict=True):
        if _segment_failed(seg):
            tick.set_color(FAIL_COLOR)
            tick.set_fontweight("bold")
        elif not seg.get("judged"):
            tick.set_color(MUTED_COLOR)
    more = f" (worst {len(shown)} of {len(segments)})" if len(shown) < len(segments) else ""
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} per segment{more}\nred: regressed beyond the bound, grey: too small to judge", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


# -- the card -----------------------------------------------------------------------------------------------
def model_features(model: Any, frame: pd.DataFrame, target: str) -> list[str]:
    """The columns ``model`` was fitted on (``feature_names_in_``), else every column but the target."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(c) for c in names if c in frame.columns]
    return [c for c in frame.columns if c != target]


def build_card(
    *,
    task: str,
    target: str,
    holdout: pd.DataFrame,
    challenger: Any,
    champion: Any | None,
    report: Mapping[str, Any],
    window: Mapping[str, Any] | None = None,
    content_hash: str | None = None,
    features: Sequence[str] | None = None,
    seed: int = 0,
) -> Card:
    """The card of the evaluation ``report`` (an ``EvaluationRecord.report``: the evaluation as a dict plus its
    trigger), drawn from the models scored again on ``holdout``. ``champion`` None: the challenger alone.

    The models predict on one thread: the ~50 small predictions of the permutation importance are about ten times
    faster so than with OpenMP's threads on cores other tasks share (hist gradient boosting, measured)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _draw_card(
            task=task,
            target=target,
            holdout=holdout,
            challenger=challenger,
            champion=champion,
            report=report,
            window=window,
            content_hash=content_hash,
            features=features,
            seed=seed,
        )


def _draw_card(
    *,
    task: str,
    target: str,
    holdout: pd.DataFrame,
    challenger: Any,
    champion: Any | None,
    report: Mapping[str, Any],
    window: Mapping[str, Any] | None,
    content_hash: str | None,
    features: Sequence[str] | None,
    seed: int,
) -> Card:
    import numpy as np

    from include.mlops.model.metrics import score

    decision = report["decision"]
    version = str(report["challenger_version"])
    metric = str(decision["primary_metric"])
    y = holdout[target].to_numpy()
    chal_label = _label("challenger", version)
    scores = {chal_label: np.asarray(score(challenger, holdout, task), dtype="float64")}
    if champion is not None:
        scores[_label("champion", report.get("champion_version"))] = np.asarray(
            score(champion, holdout, task), dtype="float64"
        )
    figures: dict[str, Figure] = {}
    notes: list[str] = []
    if task == "classification":
        y = y.astype(int)
        if len(np.unique(y)) == 2:
            figures["precision_recall"] = _curves(y, scores, "precision_recall", float(y.mean()))
            figures["roc"] = _curves(y, scores, "roc", 0.5)
        else:
            notes.append("precision-recall and ROC curves left out: the holdout has one class only")
        figures["calibration"] = _classification_calibration(y, scores)
    else:
        y = y.astype("float64")
        figures["residuals"] = _residuals(y, scores, seed)
        figures["calibration"] = _regression_calibration(y, scores)
    names = list(features) if features is not None else model_features(challenger, holdout, target)
    importances: list[tuple[str, float, float]] = []
    if task == "classification" and len(np.unique(y)) < 2:
        notes.append("permutation importance left out: the holdout has one class only")
    elif metric in SCORERS and names:
        importances = permutation_importances(challenger, holdout, y, metric, names, seed)
        figures["permutation_importance"] = _importance_figure(
            importances, metric, min(len(holdout), IMPORTANCE_ROWS), chal_label
        )
    else:
        notes.append(f"permutation importance left out: no scorer for {metric!r} or no features")
    segments = list(decision.get("segments") or [])
    if segments:
        figures["segments"] = _segments_figure(segments, metric)
    page = render_html(
        report, {name: _png(fig) for name, fig in figures.items()}, importances, window, content_hash, notes
    )
    return Card(version, figures, page, describe(report), notes)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:.9em} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5} td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;color:#fff;font-weight:bold}
.promote{background:#2e7d32} .reject{background:#c62828} .fail td{background:#fdecea} .muted td{color:#888}
.reason{white-space:pre-wrap;background:#fafafa;border-left:4px solid #bbb;padding:8px 12px}
figure{margin:12px 0} img{max-width:100%;border:1px solid #eee} .notes{color:#8a6d3b}
"""


_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _numeric(cell: Any) -> bool:
    """A number, or a number the card formatted (right-aligned in its tables)."""
    if isinstance(cell, bool):
        return False
    return isinstance(cell, int | float) or (isinstance(cell, str) and bool(_NUMBER.fullmatch(cell)))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], row_classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="n">{html.escape(str(c))}</td>' if _numeric(c) else f"<td>{html.escape(str(c))}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def segment_rows(segments: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The segment table's rows as the card shows them (column, value, rows, positives, challenger, champion,
    regression, judged, verdict)."""
    rows = []
    for s in segments:
        verdict = ("BLOCKS" if _segment_failed(s) else "ok") if s.get("judged") else "not judged (too small)"
        positives = s.get("positives")
        rows.append(
            [
                s.get("column", ""),
                s.get("value", ""),
                s.get("rows", ""),
                "" if positives is None else positives,
                _num(s.get("challenger")),
                _num(s.get("champion")),
                _signed(s.get("regression")),
                "yes" if s.get("judged") else "no",
                verdict,
            ]
        )
    return rows


def render_html(
    report: Mapping[str, Any],
    pngs: Mapping[str, bytes],
    importances: Sequence[tuple[str, float, float]],
    window: Mapping[str, Any] | None,
    content_hash: str | None,
    notes: Sequence[str],
) -> str:
    """One self-contained page: inline CSS, PNGs as ``data:`` URIs, no script, no external reference."""
    d = report["decision"]
    e = html.escape
    model, version = str(report.get("model_name", "")), str(report["challenger_version"])
    champion = report.get("champion_version")
    promote = bool(d.get("promote"))
    verdict = (
        '<span class="verdict promote">BLESSED</span>' if promote else '<span class="verdict reject">REJECTED</span>'
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evaluation card: {e(model)} v{e(version)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Evaluation card: {e(model)} version {e(version)}</h1>",
        f"<p>{verdict} against {'champion version ' + e(str(champion)) if champion else 'no champion'}"
        f" &middot; evaluated {e(str(report.get('evaluated_at', '')))}</p>",
        f'<h2>Decision</h2><div class="reason">{e(str(d.get("reason", "")))}</div>',
    ]
    facts = [
        ["primary metric", f"{d.get('primary_metric')} ({d.get('direction')})"],
        ["challenger", _num(d.get("challenger_value"))],
        ["champion", _num(d.get("champion_value"))],
        ["improvement", _signed(d.get("improvement"))],
        ["min improvement", _num(d.get("min_improvement"))],
        ["floor", "none" if d.get("floor") is None else _num(d.get("floor"))],
        ["holdout rows", report.get("holdout_rows", "")],
    ]
    if window:
        facts.append(["window", f"{window.get('start')} .. {window.get('end')} (exclusive)"])
        facts.append(["holdout", f"{window.get('holdout_start')} .. {window.get('end')} (exclusive)"])
    if content_hash:
        facts.append(["data content hash", content_hash])
    trigger = report.get("trigger") or {}
    if trigger.get("run_key"):
        facts.append(["run", trigger["run_key"]])
    if trigger.get("reason"):
        facts.append(["trigger reason", trigger["reason"]])
    parts.append(_table(["", ""], facts))
    chal_m = report.get("challenger_metrics") or {}
    champ_m = report.get("champion_metrics") or {}
    metric_rows = [
        [k, _num(chal_m.get(k)), _num(champ_m.get(k)) if champ_m else "n/a"] for k in sorted(set(chal_m) | set(champ_m))
    ]
    parts.append("<h2>Metrics on the holdout</h2>")
    parts.append(
        _table(["metric", f"challenger v{version}", f"champion v{champion}" if champion else "champion"], metric_rows)
    )
    guards = d.get("guardrails") or []
    parts.append("<h2>Guardrails</h2>")
    if guards:
        parts.append(
            _table(
                ["metric", "challenger", "champion", "regression", "max regression", "verdict"],
                [
                    [
                        g.get("metric"),
                        _num(g.get("challenger")),
                        _num(g.get("champion")),
                        _signed(g.get("regression")),
                        _num(g.get("max_regression")),
                        "ok" if g.get("passed") else "BLOCKS",
                    ]
                    for g in guards
                ],
                ["" if g.get("passed") else "fail" for g in guards],
            )
        )
    else:
        parts.append("<p>None checked (no champion to compare with, or the decision came before them).</p>")
    segments = d.get("segments") or []
    parts.append("<h2>Segments</h2>")
    if segments:
        classes = ["fail" if _segment_failed(s) else ("" if s.get("judged") else "muted") for s in segments]
        parts.append(
            _table(
                ["column", "value", "rows", "positives", "challenger", "champion", "regression", "judged", "verdict"],
                segment_rows(segments),
                classes,
            )
        )
    else:
        parts.append("<p>No segment table in this decision (evaluation.segments not configured).</p>")
    titles = {
        "precision_recall": "Precision-recall",
        "roc": "ROC",
        "calibration": "Calibration",
        "residuals": "Residuals",
        "permutation_importance": "Permutation feature importance",
        "segments": "Primary metric per segment",
    }
    parts.append("<h2>Figures</h2>")
    for name, png in pngs.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<figure><figcaption>{e(titles.get(name, name))}</figcaption>"
            f'<img alt="{e(name)}" src="data:image/png;base64,{data}"></figure>'
        )
    if importances:
        parts.append("<h2>Permutation importance (challenger)</h2>")
        parts.append(_table(["feature", "mean score drop", "std"], [[f, _num(m), _num(s)] for f, m, s in importances]))
    if notes:
        parts.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def log_card(client: MlflowClient, model_name: str, run_id: str | None, card: Card) -> list[str]:
    """The figures and the HTML into ``run_id`` (the challenger's run), the description onto the version.
    Returns the artifact paths logged."""
    paths = []
    if run_id:
        for name, fig in card.figures.items():
            path = card.figure_path(name)
            client.log_figure(run_id, fig, path, save_kwargs={"dpi": DPI})
            paths.append(path)
        client.log_text(run_id, card.html, card.html_path)
        paths.append(card.html_path)
    client.update_model_version(model_name, card.version, description=card.description)
    return paths


class _Stages:
    """Times the card's steps and names the one that failed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, stage: str, fn: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return fn()
        except Exception as exc:
            raise CardFailed(stage, exc) from exc
        finally:
            self.seconds[stage] = round(time.perf_counter() - began, 3)


def record_card(
    client: MlflowClient,
    lake: Lake,
    cfg: PipelineConfig,
    check: Mapping[str, Any],
    record: Any,
    *,
    holdout: pd.DataFrame | None = None,
    load_model: Callable[[str, str], Any] | None = None,
) -> CardResult:
    """Build and record the card of ``record`` (an ``EvaluationRecord`` of ``evaluate_and_record`` on ``check``).

    Reads the holdout again exactly as the evaluation did (the checked partitions), unless given; loads both
    models from the registry (``load_model(name, version)``, default ``registry.load_version`` through ``client``).
    A version that was already champion keeps the card and description recorded when it was evaluated. Raises
    ``CardFailed`` naming the step that failed."""
    from include.mlops.model.registry import load_version
    from include.mlops.model.window import assemble_window, window_from_check

    evaluation, report = record.evaluation, record.report
    name, version = evaluation.model_name, str(evaluation.challenger_version)
    stages = _Stages()
    window = window_from_check(dict(check))
    key = card_key(lake, cfg.dataset.name, window.end, version)
    if evaluation.already_champion:
        exists = lake.storage.exists(key)
        log.info(
            "%s version %s is already the champion: its card%s kept", name, version, "" if exists else " (none) is"
        )
        return CardResult(version, key if exists else None, lake.storage.uri(key) if exists else None, [], kept=True)
    load = load_model or (lambda model_name, v: load_version(client, model_name, v))
    if holdout is None:
        holdout = stages.run(
            "reading the holdout",
            lambda: (
                assemble_window(
                    lake,
                    cfg,
                    window,
                    expected=check["partitions"],
                    holdout_only=True,
                    expected_labels=check.get("label_partitions") or None,
                ).holdout
            ),
        )
    challenger = stages.run(f"loading challenger version {version}", lambda: load(name, version))
    champ_version = evaluation.champion_version
    champion = (
        stages.run(f"loading champion version {champ_version}", lambda: load(name, str(champ_version)))
        if champ_version
        else None
    )
    card: Card = stages.run(
        "drawing the card",
        lambda: build_card(
            task=cfg.dataset.task,
            target=cfg.dataset.target,
            holdout=holdout,
            challenger=challenger,
            champion=champion,
            report=report,
            window=check.get("window"),
            content_hash=check.get("content_hash"),
            seed=cfg.training.random_state,
        ),
    )
    run_id = stages.run("reading the version's run", lambda: client.get_model_version(name, version).run_id)
    artifacts = stages.run("logging the card to MLflow", lambda: log_card(client, name, run_id, card))
    uri = stages.run("writing the card to the lake", lambda: _write_html(lake, key, card.html))
    log.info(
        "evaluation card of %s version %s: %d figures, %s; steps (s): %s",
        name,
        version,
        len(card.figures),
        uri,
        stages.seconds,
    )
    return CardResult(version, key, uri, artifacts, seconds=stages.seconds)


def _write_html(lake: Lake, key: str, page: str) -> str:
    lake.storage.write_bytes(key, page.encode("utf-8"))
    return lake.storage.uri(key)
