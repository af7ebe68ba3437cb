"""Daily drift monitoring with Evidently 0.7 on the prediction log, and the decision to retrain.

Nothing is re-scored here: what the champion predicted is read from the prediction log
(``predictions/<dataset>/ds=D``, written by ``score_batch``; see ``include.mlops.data.outcomes``).

- **Feature drift.** The reference is the data the current champion was trained on, found through its
  MLflow run's lineage (``lineage/training_data.json``), not "whatever is newest"; the current window
  is the ``drift.window_days`` days before the run's data interval end, so a backfill checks the days it
  names. Both sides are a seeded sample, capped per side, of only the feature columns the model uses,
  typed as the model typed them, stratified by the target where the curated batch has it (with
  ``dataset.label_delay_days`` > 0 it has not: the labels arrive later in ``labels/``).
- **Prediction drift.** The ``score`` the champion version logged on the current window's days against
  the scores the same version logged on the ``drift.prediction_reference_days`` days before the window:
  out-of-sample scores of the same model, what it "normally" predicted just before. Rows of other
  versions are left out; window days not scored (or scored by another version) are listed in the
  summary. A champion with no logged scores before the window (just promoted) has no prediction-drift
  signal that day, with the reason in ``notes``: the alternative, scoring its training sample, would
  compare in-sample scores (sharper than any out-of-sample ones) with logged ones and call that drift.
  No prediction partition at all in the window: no prediction-drift signal that day (the reason in ``notes``).
- **Realized metric.** The champion's logged predictions joined by key with the labels that have
  matured by the window end (day + ``dataset.label_delay_days`` < end), on the
  ``drift.performance_window_days`` newest matured days, per day and pooled; against its evaluation
  value (``evaluation.challenger_value``): degraded when worse by more than ``drift.performance_tolerance``.
  The summary lists ``labelled_days`` and ``unlabelled_days`` (scored, labels not in yet).
- ``decide_trigger`` is pure: cooldown counted in logical days, N-of-M drifted days, no trigger while
  a training run is queued or running. Its history comes from the lake (one summary per day), so a
  backfill behaves like live days.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import DriftConfig, PipelineConfig, direction_of
from include.mlops.core.exceptions import InsufficientData
from include.mlops.core.memory import give_back_memory
from include.mlops.data.lake import Lake

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

REPORT_KIND = "drift"


# -- sampling ---------------------------------------------------------------------------------
def sample(frame: pd.DataFrame, cap: int, seed: int, stratify: str | None = None) -> pd.DataFrame:
    """At most ``cap`` rows, seeded; stratified by ``stratify`` so a rare label keeps its share."""
    if len(frame) <= cap:
        return frame
    return sample_fraction(frame, cap / len(frame), seed, stratify)


def sample_fraction(frame: pd.DataFrame, fraction: float, seed: int, stratify: str | None = None) -> pd.DataFrame:
    """``fraction`` of the rows, seeded; per stratum of ``stratify`` (each keeps at least one row)."""
    if fraction >= 1:
        return frame
    if stratify is None or stratify not in frame.columns or frame[stratify].nunique() > 50:
        return frame.sample(n=max(1, round(len(frame) * fraction)), random_state=seed)
    parts = [
        group.sample(n=max(1, round(len(group) * fraction)), random_state=seed)
        for _, group in frame.groupby(stratify, sort=True, dropna=False)
    ]
    import pandas as pd

    return pd.concat(parts).sort_index()


def read_sampled(
    lake: Lake, dataset: str, days: list[str], columns: list[str], cap: int, seed: int, stratify: str | None = None
) -> tuple[pd.DataFrame, list[str], int]:
    """A seeded sample of at most about ``cap`` rows of the curated ``days``, read one partition at a time.

    Only ``columns`` are decoded, and each partition is sampled as it is read (the same fraction everywhere,
    from the row counts in the Parquet footers, read first one file at a time), so memory holds one compressed
    file, one record batch and the sample, whatever the day's rows: the rows to keep are drawn from the
    ``stratify`` column alone, then only those rows of the other columns are kept, batch by batch.
    ``stratify`` not among ``columns`` is read too where the partition has it (with late labels the curated
    batch has no target), used, and dropped. Returns (sample, days read, rows in those days).
    """
    import pandas as pd

    available = set(lake.list_partitions("curated", dataset))
    present = [d for d in days if d in available]
    if not present:
        raise InsufficientData(f"none of the days {days[0]}..{days[-1]} is curated")
    rows = {}
    for d in present:
        with lake.partition_file("curated", dataset, d) as file:
            rows[d] = _parquet(file).metadata.num_rows
    total = sum(rows.values())
    fraction = min(1.0, cap / total) if total else 1.0
    parts = []
    for i, d in enumerate(present):
        with lake.partition_file("curated", dataset, d) as file:  # decoded in place, never held whole
            pf = _parquet(file)
            strata = stratify if stratify and stratify in pf.schema_arrow.names else None
            positions = _sample_positions(pf, rows[d], fraction, seed + i, strata)
            parts.append(_read_rows(pf, columns, positions))
            del pf, positions
        give_back_memory()
    return pd.concat(parts, ignore_index=True), present, total


def _parquet(file: Any) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetFile(file)


def _sample_positions(pf: Any, rows: int, fraction: float, seed: int, stratify: str | None) -> Any:
    """The row positions ``sample_fraction`` draws from the partition, the same draws in the same order, reading
    only ``stratify`` into one array (no frame, no groupby: at 3M rows a fifth of the memory); None: every row."""
    import numpy as np
    import pandas as pd

    if fraction >= 1:
        return None

    def draw(count: int) -> Any:  # what DataFrame.sample(n=..., random_state=seed) draws from ``count`` rows
        return np.random.RandomState(seed).choice(count, size=max(1, round(count * fraction)), replace=False)

    if stratify is None:
        return draw(rows)
    codes, uniques = pd.factorize(pf.read(columns=[stratify]).column(0).to_pandas(), sort=True, use_na_sentinel=False)
    if pd.Series(uniques).nunique() > 50:
        return draw(rows)
    picked = []
    for code in range(len(uniques)):  # sample_fraction's groups, each sampled with its own fresh seed
        where = np.flatnonzero(codes == code)
        if len(where):
            picked.append(where[draw(len(where))])
    del codes
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.intp)


def _read_rows(pf: Any, columns: list[str], positions: Any, batch_rows: int = 65_536) -> pd.DataFrame:
    """``columns`` of the rows at ``positions`` (in that order; None: every row), decoding a batch at a time."""
    import numpy as np
    import pyarrow as pa

    if positions is None:
        return pf.read(columns=columns).to_pandas()
    order = np.argsort(positions, kind="stable")
    wanted = positions[order]
    pieces, start = [], 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        end = start + batch.num_rows
        lo, hi = np.searchsorted(wanted, [start, end])
        if hi > lo:
            pieces.append(batch.take(pa.array(wanted[lo:hi] - start)))
        start = end
    if not pieces:
        return pf.schema_arrow.empty_table().select(columns).to_pandas()
    frame = pa.Table.from_batches(pieces).to_pandas()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return frame.iloc[inverse].reset_index(drop=True)


# -- drift ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    columns: list[ColumnDrift]
    share: float
    dataset_drift: bool
    prediction: ColumnDrift | None
    rows_reference: int
    rows_current: int

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def top(self, n: int = 5) -> list[ColumnDrift]:
        """Most drifted columns first: drifted ones, then by how far past their threshold they are."""

        def key(c: ColumnDrift) -> tuple[bool, float]:
            p_value = "p_value" in c.method
            excess = (c.threshold - c.score) if p_value else (c.score - c.threshold)
            return (c.drifted, excess)

        return sorted(self.columns, key=key, reverse=True)[:n]


def _is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's convention: p-value tests drift below the threshold, distances at or above it."""
    if score is None or not math.isfinite(score):
        return False
    return score < threshold if "p_value" in method else score >= threshold


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    cfg: DriftConfig,
    prediction: str | None = None,
):
    """Run Evidently's ``DataDriftPreset`` and read a verdict out of it. Returns (DriftResult, snapshot)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in numeric if c not in cfg.exclude_columns]
    categorical = [c for c in categorical if c not in cfg.exclude_columns]
    columns = numeric + categorical + ([prediction] if prediction else [])
    definition = DataDefinition(
        numerical_columns=numeric + ([prediction] if prediction else []), categorical_columns=categorical
    )
    preset = DataDriftPreset(
        columns=columns,
        drift_share=cfg.drift_share,
        method=cfg.method,
        threshold=cfg.threshold,
        per_column_method={c: r.method for c, r in cfg.per_column.items() if r.method and c in columns} or None,
        per_column_threshold={
            c: r.threshold for c, r in cfg.per_column.items() if r.threshold is not None and c in columns
        }
        or None,
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    per_column: dict[str, ColumnDrift] = {}
    for metric in snapshot.dict()["metrics"]:
        conf = metric.get("config", {})
        if not conf.get("type", "").endswith("ValueDrift"):
            continue
        score = float(metric["value"])
        method, threshold = str(conf["method"]), float(conf["threshold"])
        per_column[conf["column"]] = ColumnDrift(
            conf["column"], method, threshold, score, _is_drifted(method, score, threshold)
        )
    features = [per_column[c] for c in numeric + categorical if c in per_column]
    drifted = sum(c.drifted for c in features)
    share = drifted / len(features) if features else 0.0
    return (
        DriftResult(
            columns=features,
            share=share,
            dataset_drift=share >= cfg.drift_share,
            prediction=per_column.get(prediction) if prediction else None,
            rows_reference=len(reference),
            rows_current=len(current),
        ),
        snapshot,
    )


# -- the decision to retrain -----------------------------------------------------------------
@dataclass(frozen=True)
class TriggerDecision:
    trigger: bool
    reason: str


def min_drifted_training_days(cfg: DriftConfig, label_delay_days: int) -> int:
    """``drift.min_drifted_training_days``: a retrain waits until its training days hold this many changed days.
    None (the default): 1 with late labels (``dataset.label_delay_days`` > 0), else 0 (off)."""
    value = cfg.min_drifted_training_days
    if value is None:
        return 1 if label_delay_days > 0 else 0
    return int(value)


def decide_trigger(
    *,
    today: dt.date,
    drifted_today: bool,
    history: dict[str, dict[str, Any]],
    cfg: DriftConfig,
    training_active: bool,
    training_days: list[str] | None = None,
    degraded_days: frozenset[str] | set[str] = frozenset(),
    label_delay_days: int = 0,
) -> TriggerDecision:
    """Should today's drift check trigger retraining?

    ``history`` maps ISO day -> earlier daily summary (``drifted``, ``triggered``), read from the
    lake; today's own earlier summary (a re-run) is ignored.

    ``training_days``: the days the retrain would train on (its window before the holdout, labels
    matured). With ``drift.min_drifted_training_days`` = N > 0 (None: 1 when ``label_delay_days`` > 0,
    else 0) the trigger waits until at least N of
    them are *changed days*: days the monitor flagged as drifted (``history``), or labelled days whose
    realized metric is degraded today (``degraded_days``). Feature drift is seen on the day the data
    changes, its labels only ``dataset.label_delay_days`` later: a retrain before then learns the old
    regime again and loses to the champion on the holdout. Waiting costs no cooldown (nothing fired).
    """
    if not drifted_today:
        return TriggerDecision(False, "no drift today")
    window = [today - dt.timedelta(days=i) for i in range(cfg.lookback_days)]
    drifted_days = sum(1 for d in window if (d == today) or history.get(d.isoformat(), {}).get("drifted", False))
    if drifted_days < cfg.min_drifted_days:
        return TriggerDecision(
            False, f"drift on {drifted_days} of the last {cfg.lookback_days} days; needs {cfg.min_drifted_days}"
        )
    needed = min_drifted_training_days(cfg, label_delay_days)
    if needed and training_days is not None:
        changed = [
            d
            for d in training_days
            if d in degraded_days or (d != today.isoformat() and history.get(d, {}).get("drifted", False))
        ]
        if len(changed) < needed:
            span = f"{training_days[0]}..{training_days[-1]}" if training_days else "none"
            return TriggerDecision(
                False,
                f"waiting for labels: the retrain would train on {span}, which holds {len(changed)} drifted or "
                f"degraded day(s) ({', '.join(changed) or 'none'}); needs {needed} "
                "(drift.min_drifted_training_days)",
            )
    recent = sorted(
        day
        for day, summary in history.items()
        if summary.get("triggered")
        and day != today.isoformat()
        and 0 < (today - dt.date.fromisoformat(day)).days < max(cfg.cooldown_days, 1)
    )
    if cfg.cooldown_days and recent:
        until = dt.date.fromisoformat(recent[-1]) + dt.timedelta(days=cfg.cooldown_days)
        return TriggerDecision(False, f"in cooldown: retraining was triggered on {recent[-1]} (until {until})")
    if training_active:
        return TriggerDecision(False, "a train_and_promote run is already queued or running")
    return TriggerDecision(True, f"drift on {drifted_days} of the last {cfg.lookback_days} days")


# -- the prediction log and the labels -------------------------------------------------------
def days_between(start: dt.date, end: dt.date) -> list[str]:
    """ISO days from ``start`` (inclusive) to ``end`` (exclusive)."""
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days)]


@dataclass(frozen=True)
class LoggedScores:
    """The logged ``score`` of ``version`` on some days, and what the log said about the others."""

    scores: Any  # numpy array, seeded sample of at most the cap
    days: list[str]  # days scored by the version
    unscored_days: list[str]  # days without a prediction partition
    other_version_days: dict[str, list[str]]  # day -> the versions that scored it instead


def logged_scores(
    lake: Lake, cfg: PipelineConfig, days: list[str], version: str, cap: int, seed: int, logged: set[str] | None = None
) -> LoggedScores:
    """The scores ``version`` logged on ``days`` (rows of other versions are left out), read one partition at
    a time, columns ``score`` and ``model_version`` only; a seeded sample of at most ``cap`` scores.
    ``logged``: the days with a prediction partition (one listing), read from the lake when None."""
    import numpy as np

    from include.mlops.data import outcomes

    if logged is None:
        logged = set(lake.list_partitions(outcomes.PREDICTIONS, cfg.dataset.name))
    parts, scored, unscored, other = [], [], [], {}
    for d in days:
        if d not in logged:
            unscored.append(d)
            continue
        frame = outcomes.read_predictions(lake, cfg, d, columns=[outcomes.SCORE, outcomes.MODEL_VERSION])
        versions = frame[outcomes.MODEL_VERSION].astype(str)
        mine = frame.loc[versions == str(version), outcomes.SCORE].to_numpy(dtype="float64")
        if len(mine):
            scored.append(d)
            parts.append(mine)
        if len(mine) < len(frame):
            other[d] = sorted(set(versions[versions != str(version)]))
    scores = np.concatenate(parts) if parts else np.empty(0)
    if len(scores) > cap:
        scores = np.random.default_rng(seed).choice(scores, size=cap, replace=False)
    return LoggedScores(scores, scored, unscored, other)


@dataclass(frozen=True)
class Realized:
    """The champion's realized primary metric: its logged predictions joined with matured labels."""

    metric: str
    window: dict[str, str]  # the performance window: the matured days [start, end)
    per_day: dict[str, dict[str, Any]]  # labelled day -> {value, rows, unlabelled_rows}
    pooled: float | None  # over every labelled day's rows together
    rows: int
    labelled_days: list[str]
    unlabelled_days: list[str]  # scored by the champion, labels not in (yet)
    unscored_days: list[str]  # matured days of the window the champion did not score
    last_matured_day: str
    label_delay_days: int


def realized_metric(
    lake: Lake, cfg: PipelineConfig, version: str, window_end: dt.date, logged: set[str] | None = None
) -> Realized:
    """The champion's primary metric on the ``drift.performance_window_days`` newest days whose labels have
    matured by ``window_end`` (exclusive): day + ``dataset.label_delay_days`` < window_end. Per day, and pooled
    over the rows of all those days. A day counts when ``version`` scored it and its labels are in the lake;
    the champion-scored days up to the window end whose labels are not in (not matured yet, or late) are
    ``unlabelled_days``. Metrics at the evaluation's threshold (``compute_metrics``' default), so the value is
    comparable with the champion's ``evaluation.challenger_value``."""
    import numpy as np
    import pandas as pd

    from include.mlops.data import outcomes
    from include.mlops.model.metrics import compute_metrics

    ds_cfg, metric, task = cfg.dataset, cfg.evaluation.primary_metric, cfg.dataset.task
    key, target = outcomes.key_of(cfg), ds_cfg.target
    last = outcomes.last_matured_day(window_end, ds_cfg.label_delay_days)
    start = last - dt.timedelta(days=cfg.drift.performance_window_days - 1)
    if logged is None:
        logged = set(lake.list_partitions(outcomes.PREDICTIONS, ds_cfg.name))
    per_day: dict[str, dict[str, Any]] = {}
    labelled, unlabelled, unscored, pooled_y, pooled_s = [], [], [], [], []
    for d in days_between(start, window_end):
        matured = outcomes.matured(dt.date.fromisoformat(d), window_end, ds_cfg.label_delay_days)
        if d not in logged:
            if matured:
                unscored.append(d)
            continue
        columns = [key, outcomes.SCORE, outcomes.MODEL_VERSION] if matured else [outcomes.MODEL_VERSION]
        frame = outcomes.read_predictions(lake, cfg, d, columns=columns)
        frame = frame[frame[outcomes.MODEL_VERSION].astype(str) == str(version)]
        if frame.empty:
            if matured:
                unscored.append(d)
            continue
        labels = outcomes.read_labels(lake, cfg, d) if matured else None
        if labels is None:
            unlabelled.append(d)
            continue
        joined, missing = outcomes.join_labels(frame[[key, outcomes.SCORE]], labels, key, target)
        if joined.empty:
            unlabelled.append(d)
            continue
        y, s = joined[target].to_numpy(), joined[outcomes.SCORE].to_numpy(dtype="float64")
        value = compute_metrics(task, y, s)[metric]
        per_day[d] = {"value": value, "rows": len(joined), "unlabelled_rows": missing}
        labelled.append(d)
        pooled_y.append(pd.Series(y))
        pooled_s.append(s)
    pooled = None
    if labelled:
        y_all, s_all = pd.concat(pooled_y, ignore_index=True).to_numpy(), np.concatenate(pooled_s)
        value = compute_metrics(task, y_all, s_all)[metric]
        pooled = value if math.isfinite(value) else None
    return Realized(
        metric=metric,
        window={"start": start.isoformat(), "end": (last + dt.timedelta(days=1)).isoformat()},
        per_day=per_day,
        pooled=pooled,
        rows=sum(p["rows"] for p in per_day.values()),
        labelled_days=labelled,
        unlabelled_days=unlabelled,
        unscored_days=unscored,
        last_matured_day=last.isoformat(),
        label_delay_days=ds_cfg.label_delay_days,
    )


def performance_verdict(
    realized: Realized, at_evaluation: float | None, direction: str, tolerance: float | None
) -> dict[str, Any]:
    """The realized metric against the value at evaluation: ``degraded`` when worse by more than ``tolerance``."""
    value = realized.pooled
    drop = None
    if value is not None and at_evaluation is not None:
        drop = (at_evaluation - value) if direction == "maximize" else (value - at_evaluation)
    return {
        "metric": realized.metric,
        "current": value,  # the pooled realized value (the name health and older summaries read)
        "realized": value,
        "per_day": {d: p["value"] for d, p in realized.per_day.items()},
        "rows": realized.rows,
        "window": realized.window,
        "at_evaluation": at_evaluation,
        "drop": drop,
        "tolerance": tolerance,
        "degraded": bool(tolerance is not None and drop is not None and math.isfinite(drop) and drop > tolerance),
    }


# -- the whole daily check -------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    champion_version: str
    champion_run_id: str
    days: list[str]
    numeric: list[str]
    categorical: list[str]
    evaluation_value: float | None


def champion_reference(client: MlflowClient, model_name: str, version: str) -> Reference:
    """The champion's training days and feature typing, from its run's lineage artifact."""
    mv = client.get_model_version(model_name, version)
    if not mv.run_id:
        raise InsufficientData(f"{model_name} version {version} has no MLflow run; its training data is unknown")
    import mlflow.artifacts

    lineage = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/lineage/training_data.json")
    holdout_start = (lineage.get("window") or {}).get("holdout_start") or client.get_run(mv.run_id).data.params.get(
        "holdout_start"
    )
    days = [p["ds"] for p in lineage["partitions"] if not holdout_start or p["ds"] < holdout_start]
    value = mv.tags.get("evaluation.challenger_value")
    return Reference(
        champion_version=str(version),
        champion_run_id=mv.run_id,
        days=days,
        numeric=list(lineage["features"]["numeric"]),
        categorical=list(lineage["features"]["categorical"]),
        evaluation_value=float(value) if value not in (None, "none") else None,
    )


@dataclass
class MonitorResult:
    ds: str
    model_name: str
    champion_version: str | None
    window: dict[str, str]
    reference_days: list[str] = field(default_factory=list)
    current_days: list[str] = field(default_factory=list)
    rows_reference: int = 0
    rows_current: int = 0
    drift_share: float = 0.0
    dataset_drift: bool = False
    drifted_columns: list[str] = field(default_factory=list)
    top_columns: list[dict[str, Any]] = field(default_factory=list)
    prediction_drift: bool | None = None  # None: no signal today (the reason is in ``notes``)
    prediction_score: float | None = None
    scored_days: list[str] = field(default_factory=list)  # window days the champion's logged scores cover
    unscored_days: list[str] = field(default_factory=list)  # window days without a prediction partition
    other_version_days: dict[str, list[str]] = field(default_factory=dict)  # window days scored by other versions
    prediction_reference_days: list[str] = field(default_factory=list)  # the champion's logged days before
    performance: dict[str, Any] | None = None  # the realized metric against the evaluation value
    labelled_days: list[str] = field(default_factory=list)  # in the realized metric
    unlabelled_days: list[str] = field(default_factory=list)  # scored by the champion, labels not in yet
    notes: list[str] = field(default_factory=list)  # why a signal is missing today
    drifted: bool = False
    triggered: bool = False
    reason: str = ""
    report_uri: str | None = None
    prediction_report_uri: str | None = None
    summary_uri: str | None = None
    monitoring_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def retrain_conf(self, drift: DriftConfig) -> dict[str, Any]:
        """The conf of the ``train_and_promote`` run this check triggers (when ``triggered``)."""
        return {
            "reason": f"drift_monitor {self.ds}: {self.reason}"[:500],
            "window_end": self.window["end"],
            "drift_summary": {
                "ds": self.ds,
                "drift_share": round(self.drift_share, 4),
                "drifted_columns": self.drifted_columns[:20],
                "prediction_drift": self.prediction_drift,
                "performance": self.performance,
                "labelled_days": self.labelled_days,
                "unlabelled_days": self.unlabelled_days,
                "unscored_days": self.unscored_days,
                "report_uri": self.report_uri,
            },
            "monitoring_run_id": self.monitoring_run_id,
            **({"window_days": drift.retrain_window_days} if drift.retrain_window_days else {}),
            **({"holdout_days": drift.retrain_holdout_days} if drift.retrain_holdout_days else {}),
        }

    def summary(self, drift: DriftConfig) -> dict[str, Any]:
        """Small and JSON-safe (the drift task's XCom): the outcome, and ``conf`` for the retraining trigger."""
        from include.mlops.core.jsonsafe import json_safe

        performance = self.performance or {}
        return json_safe(
            {
                "ds": self.ds,
                "champion_version": self.champion_version,
                "drifted": self.drifted,
                "trigger": self.triggered,
                "reason": self.reason,
                "drift_share": round(self.drift_share, 4),
                "drifted_columns": self.drifted_columns[:20],
                "prediction_drift": self.prediction_drift,
                "prediction_score": self.prediction_score,
                "scored_days": self.scored_days,
                "unscored_days": self.unscored_days,
                "realized": performance.get("realized"),
                "realized_per_day": performance.get("per_day"),
                "labelled_days": self.labelled_days,
                "unlabelled_days": self.unlabelled_days,
                "notes": self.notes,
                "report_uri": self.report_uri,
                "monitoring_run_id": self.monitoring_run_id,
                "conf": self.retrain_conf(drift),
            }
        )


def retrain_training_days(cfg: PipelineConfig, window_end: dt.date) -> list[str] | None:
    """The days a retrain triggered for ``window_end`` would train on (``resolve_window`` with the retrain's
    window and holdout: matured labels, before the holdout); None when the window is invalid (the retrain
    itself reports that)."""
    from include.mlops.core.exceptions import WindowInvalid
    from include.mlops.model.window import resolve_window

    try:
        window = resolve_window(window_end, cfg.drift.retrain_window_days, cfg.drift.retrain_holdout_days, cfg)
    except WindowInvalid:
        return None
    return days_between(window.start, window.holdout_start)


def degraded_days(performance: dict[str, Any] | None) -> frozenset[str]:
    """Labelled days whose realized metric is worse than at evaluation by more than the tolerance (when the
    pooled verdict is degraded): the days whose labels already show the change."""
    if not performance or not performance.get("degraded"):
        return frozenset()
    at, tolerance = performance.get("at_evaluation"), performance.get("tolerance") or 0.0
    if at is None:
        return frozenset()
    sign = 1 if direction_of(performance["metric"]) == "maximize" else -1
    return frozenset(
        d
        for d, v in (performance.get("per_day") or {}).items()
        if v is not None and math.isfinite(v) and sign * (at - v) > tolerance
    )


def history_from_lake(lake: Lake, dataset: str, today: dt.date, days: int) -> dict[str, dict[str, Any]]:
    out = {}
    for i in range(1, days + 1):
        day = today - dt.timedelta(days=i)
        key = lake.report_key(REPORT_KIND, dataset, day, "summary.json")
        if lake.storage.exists(key):
            out[day.isoformat()] = lake.read_json(key)
    return out


def _prediction_drift(
    lake: Lake, cfg: PipelineConfig, version: str, start: dt.date, window_end: dt.date, result: MonitorResult
):
    """Prediction drift from the log: the champion's logged scores on the current window against its own
    logged scores on the ``drift.prediction_reference_days`` days before it. Fills the result's day lists;
    returns the Evidently snapshot, or None (no signal today, the reason appended to ``notes``)."""
    from include.mlops.data import outcomes

    dcfg, name = cfg.drift, cfg.dataset.name
    logged = set(lake.list_partitions(outcomes.PREDICTIONS, name))
    current_days = days_between(start, window_end)
    if not logged & set(current_days):
        # Not a failure: a champion promoted today has scored nothing yet, and feature drift and the realized
        # metric need no prediction log. The summary says what to run.
        result.unscored_days = list(current_days)
        result.notes.append(
            f"prediction drift: no predictions are logged for {name} on {current_days[0]}..{current_days[-1]} "
            f"(predictions/{name}/ds=...): no prediction-drift signal today; run or backfill score_batch for "
            "those days"
        )
        return None
    current = logged_scores(lake, cfg, current_days, version, dcfg.sample_cap, dcfg.seed, logged)
    result.scored_days, result.unscored_days = current.days, current.unscored_days
    result.other_version_days = current.other_version_days
    ref_start = start - dt.timedelta(days=dcfg.prediction_reference_days)
    reference = logged_scores(
        lake, cfg, days_between(ref_start, start), version, dcfg.sample_cap, dcfg.seed + 1, logged
    )
    result.prediction_reference_days = reference.days
    if not current.days:
        result.notes.append(
            f"prediction drift: version {version} scored no day of the window {current_days[0]}..{current_days[-1]}"
            f" (unscored: {current.unscored_days or 'none'}; other versions: {current.other_version_days or 'none'})"
        )
        return None
    if not reference.days:
        result.notes.append(
            f"prediction drift: version {version} logged no scores on the {dcfg.prediction_reference_days} days "
            f"before the window ({ref_start}..{start - dt.timedelta(days=1)}; just promoted, or those days were "
            "not scored): no prediction-drift signal today"
        )
        return None
    import pandas as pd

    drift, snapshot = compute_drift(
        pd.DataFrame({outcomes.SCORE: reference.scores}),
        pd.DataFrame({outcomes.SCORE: current.scores}),
        [],
        [],
        dcfg,
        prediction=outcomes.SCORE,
    )
    if drift.prediction is not None:
        result.prediction_drift, result.prediction_score = drift.prediction.drifted, drift.prediction.score
    return snapshot


def monitor(
    client: MlflowClient,
    tracking_uri: str,
    cfg: PipelineConfig,
    lake: Lake,
    window_end: dt.date,
    training_active: bool,
    tags: dict[str, str] | None = None,
) -> MonitorResult:
    """The daily check for the window ending (exclusive) at ``window_end``. Nothing is re-scored: prediction
    drift and the realized metric come from the prediction log (and the matured labels)."""
    from include.mlops.model.registry import champion_version

    dcfg, ds = cfg.drift, window_end - dt.timedelta(days=1)
    start = window_end - dt.timedelta(days=dcfg.window_days)
    result = MonitorResult(
        ds=ds.isoformat(),
        model_name=cfg.model.name,
        champion_version=None,
        window={"start": start.isoformat(), "end": window_end.isoformat()},
    )
    version = champion_version(client, cfg.model.name)
    if version is None:
        result.reason = f"no champion for {cfg.model.name} yet: nothing to monitor"
        return result
    ref = champion_reference(client, cfg.model.name, version)
    result.champion_version = version
    features = ref.numeric + ref.categorical
    target, name = cfg.dataset.target, cfg.dataset.name
    # features only; the target (absent from curated when labels arrive late) only stratifies where present
    current, result.current_days, _ = read_sampled(
        lake, name, days_between(start, window_end), features, dcfg.sample_cap, dcfg.seed, target
    )
    reference, result.reference_days, _ = read_sampled(
        lake, name, ref.days, features, dcfg.sample_cap, dcfg.seed, target
    )
    drift, snapshot = compute_drift(reference, current, ref.numeric, ref.categorical, dcfg)
    prediction_snapshot = (
        _prediction_drift(lake, cfg, version, start, window_end, result) if dcfg.prediction_drift else None
    )

    realized = realized_metric(lake, cfg, version, window_end)
    result.labelled_days, result.unlabelled_days = realized.labelled_days, realized.unlabelled_days
    if realized.labelled_days:
        result.performance = performance_verdict(
            realized, ref.evaluation_value, cfg.evaluation.direction, dcfg.performance_tolerance
        )
        if realized.pooled is None:
            result.notes.append(f"realized {realized.metric}: undefined on the labelled days (one class only?)")
    else:
        result.notes.append(
            f"realized {realized.metric}: no day of {realized.window['start']}..{realized.last_matured_day} has "
            f"both version {version}'s predictions and matured labels (labels arrive "
            f"{realized.label_delay_days} days late; unscored: {realized.unscored_days or 'none'}; "
            f"labels not in: {realized.unlabelled_days or 'none'})"
        )

    result.rows_reference, result.rows_current = drift.rows_reference, drift.rows_current
    result.drift_share, result.dataset_drift = drift.share, drift.dataset_drift
    result.drifted_columns = drift.drifted_columns
    result.top_columns = [asdict(c) for c in drift.top(5)]
    signals = []
    if drift.dataset_drift:
        signals.append(
            f"{len(drift.drifted_columns)} of {len(drift.columns)} columns drifted "
            f"(share {drift.share:.2f} >= {dcfg.drift_share})"
        )
    if result.prediction_drift:
        signals.append(f"prediction drift (score {result.prediction_score:.3f})")
    if result.performance and result.performance["degraded"]:
        p = result.performance
        signals.append(
            f"realized {p['metric']} {p['realized']:.4f} on {len(result.labelled_days)} labelled days "
            f"vs {p['at_evaluation']:.4f} at evaluation"
        )
    result.drifted = bool(signals)
    training_days = retrain_training_days(cfg, window_end)
    history_days = max(dcfg.cooldown_days, dcfg.lookback_days)
    delay = cfg.dataset.label_delay_days
    if training_days and min_drifted_training_days(dcfg, delay):
        history_days = max(history_days, (ds - dt.date.fromisoformat(training_days[0])).days)
    decision = decide_trigger(
        today=ds,
        drifted_today=result.drifted,
        history=history_from_lake(lake, cfg.dataset.name, ds, history_days),
        cfg=dcfg,
        training_active=training_active,
        training_days=training_days,
        degraded_days=degraded_days(result.performance),
        label_delay_days=delay,
    )
    result.triggered = decision.trigger
    result.reason = ("; ".join(signals) + " -> " if signals else "") + decision.reason

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        htmls = []
        for filename, snap, attr in (
            ("report.html", snapshot, "report_uri"),
            ("prediction_report.html", prediction_snapshot, "prediction_report_uri"),
        ):
            if snap is None:
                continue
            html = Path(tmp) / filename
            snap.save_html(str(html))
            key = lake.report_key(REPORT_KIND, cfg.dataset.name, ds, filename)
            lake.storage.write_bytes(key, html.read_bytes())
            setattr(result, attr, lake.storage.uri(key))
            htmls.append(html)
        result.monitoring_run_id = _log_monitoring_run(tracking_uri, cfg, result, htmls, tags or {})
    result.summary_uri = lake.write_json(
        lake.report_key(REPORT_KIND, cfg.dataset.name, ds, "summary.json"), result.as_dict()
    )
    return result


def _log_monitoring_run(tracking_uri: str, cfg: PipelineConfig, result: MonitorResult, htmls, tags: dict) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{cfg.mlflow.experiment}-monitoring")
    run_tags = {
        **tags,
        "monitoring.ds": result.ds,
        "model_name": cfg.model.name,
        "champion_version": str(result.champion_version),
        "drifted": str(result.drifted).lower(),
        "triggered": str(result.triggered).lower(),
    }
    with mlflow.start_run(run_name=f"drift {result.ds}", tags=run_tags) as run:
        metrics = {
            "drift_share": result.drift_share,
            "n_drifted_columns": len(result.drifted_columns),
            "rows_reference": result.rows_reference,
            "rows_current": result.rows_current,
        }
        if result.prediction_score is not None:
            metrics["prediction_drift_score"] = result.prediction_score
        metrics["labelled_days"] = len(result.labelled_days)
        metrics["unlabelled_days"] = len(result.unlabelled_days)
        metrics["unscored_days"] = len(result.unscored_days)
        if result.performance:
            metric = result.performance["metric"]
            metrics[f"realized_{metric}"] = result.performance["realized"]
            metrics[f"current_{metric}"] = result.performance["realized"]  # the name of earlier runs
            newest = max(result.performance["per_day"], default=None)
            if newest is not None:
                metrics[f"realized_{metric}_newest_day"] = result.performance["per_day"][newest]
        for col in result.top_columns:
            metrics[f"drift_score.{col['column']}"] = col["score"]
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))})
        for html in htmls:
            mlflow.log_artifact(str(html), "drift")
        mlflow.log_dict(result.as_dict(), "drift/summary.json")
    return run.info.run_id


def render_table(result: MonitorResult) -> str:
    """The most drifted columns as a small fixed-width table for the task log."""
    lines = [f"{'column':<24} {'method':<32} {'score':>8} {'threshold':>9}  drifted"]
    for c in result.top_columns:
        lines.append(
            f"{c['column']:<24} {c['method'][:32]:<32} {c['score']:>8.4f} {c['threshold']:>9.3f}  "
            f"{'YES' if c['drifted'] else 'no'}"
        )
    return "\n".join(lines)


def render_performance(result: MonitorResult) -> str:
    """The prediction-log side of the check for the task log: days scored, the realized metric per labelled
    day and pooled against the evaluation value, the days whose labels are not in, and why a signal is off."""
    lines = [
        f"window days scored by the champion: {', '.join(result.scored_days) or 'none'}; "
        f"unscored: {', '.join(result.unscored_days) or 'none'}"
        + (f"; scored by other versions: {result.other_version_days}" if result.other_version_days else "")
    ]
    p = result.performance
    if p:

        def number(v: Any) -> str:
            return "n/a" if v is None else f"{v:.4f}"

        per_day = ", ".join(f"{d} {number(v)}" for d, v in (p.get("per_day") or {}).items())
        lines.append(
            f"realized {p['metric']} {number(p.get('realized'))} pooled over {len(result.labelled_days)} "
            f"labelled days ({p.get('rows', 0)} rows; {per_day}) vs {number(p.get('at_evaluation'))} at evaluation"
            + (" -> DEGRADED" if p.get("degraded") else "")
        )
    lines.append(f"labels not in yet: {', '.join(result.unlabelled_days) or 'none'}")
    lines += result.notes
    return "\n".join(lines)
