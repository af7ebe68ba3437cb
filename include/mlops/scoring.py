"""Batch scoring: the champion (and a waiting shadow challenger) scores curated days into the prediction log.

``score_day`` scores one curated day and replaces ``predictions/<dataset>/ds=D/part-0.parquet`` (the contract is
in ``include.mlops.outcomes``): one row per curated row, the key, ``score``, ``predicted_class`` (classification,
``score >= scoring.threshold``), ``model_name``, ``model_version``, ``run_id``, ``scored_at`` and, while a
``shadow`` alias exists, ``shadow_score`` / ``shadow_version``. It also writes a small summary beside the other
reports, ``reports/scoring/<dataset>/ds=D/summary.json``.

``score_days`` scores a list of days with one model resolved once (the champion alias is read once per run, so
a promotion in the middle of a range cannot mix two versions in one run). A day that is not curated is skipped
with the reason (quarantined, or not ingested); a range where no day is curated raises ``NothingToScore``.

Only the model's feature columns (from its run's lineage, else its signature) and the key are read from the
curated partition, and the model scores it in chunks, so a 1M-row day stays well inside a worker's memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops import outcomes
from include.mlops.config import PipelineConfig
from include.mlops.exceptions import InsufficientData, MlopsError
from include.mlops.lake import Lake

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

REPORT_KIND = "scoring"
SUMMARY = "summary.json"
CHUNK_ROWS = 250_000  # rows scored at once: bounds the model's intermediate arrays on a 1M-row day


class NoChampion(MlopsError):
    """The registered model has no ``champion`` alias (or does not exist yet): there is nothing to score with."""


class ModelVersionNotFound(MlopsError):
    """The model version asked for does not exist in the registry."""


class DayNotCurated(InsufficientData):
    """The day has no curated partition: it was quarantined, or never ingested. ``reason`` says which."""

    def __init__(self, ds: str, reason: str) -> None:
        super().__init__(f"{ds}: {reason}")
        self.ds = ds
        self.reason = reason


class NothingToScore(InsufficientData):
    """None of the days asked for is curated."""


@dataclass(frozen=True)
class ScoringModel:
    """A registered version loaded for scoring, and the feature columns it takes."""

    name: str
    version: str
    model: Any
    features: tuple[str, ...]


@dataclass(frozen=True)
class ScoringModels:
    """What one scoring run uses: the model (champion or the named version) and, if any, the shadow."""

    main: ScoringModel
    shadow: ScoringModel | None = None


@dataclass(frozen=True)
class ScoredDay:
    ds: str
    rows: int
    model_name: str
    model_version: str
    shadow_version: str | None
    uri: str
    content_hash: str
    run_id: str
    scored_at: str
    mean_score: float | None
    positive_rate: float | None  # classification: share of rows with predicted_class 1
    report_key: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScoringRun:
    """The days of one run: scored ones, and skipped ones with the reason."""

    model_name: str
    model_version: str
    shadow_version: str | None
    scored: list[ScoredDay] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.scored)

    def as_dict(self) -> dict[str, Any]:
        """Small and JSON-safe (an XCom)."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "shadow_version": self.shadow_version,
            "days": [d.ds for d in self.scored],
            "rows": self.rows,
            "partitions": [
                {"ds": d.ds, "rows": d.rows, "uri": d.uri, "content_hash": d.content_hash, "report_key": d.report_key}
                for d in self.scored
            ],
            "skipped": list(self.skipped),
        }


# -- the model -------------------------------------------------------------------------------------------
def model_features(client: MlflowClient, model_name: str, version: str) -> tuple[str, ...]:
    """The feature columns ``version`` was trained on: its run's lineage (``lineage/training_data.json``),
    else the input names of its MLflow signature."""
    mv = client.get_model_version(model_name, version)
    if mv.run_id:
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        try:
            lineage = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/lineage/training_data.json")
            features = lineage["features"]
            return tuple(features["numeric"]) + tuple(features["categorical"])
        except (MlflowException, OSError, KeyError, TypeError) as exc:
            log.info("%s version %s: no usable lineage (%s); reading its signature", model_name, version, exc)
    from mlflow.models import get_model_info

    signature = get_model_info(f"models:/{model_name}/{version}").signature
    if signature is None or signature.inputs is None:
        raise MlopsError(
            f"{model_name} version {version} has neither a lineage artifact nor a signature: its feature columns "
            "are unknown. Score with a version trained by train_and_promote"
        )
    return tuple(signature.inputs.input_names())


def _load(client: MlflowClient, model_name: str, version: str) -> ScoringModel:
    from include.mlops.registry import load_version

    return ScoringModel(
        model_name, version, load_version(model_name, version), model_features(client, model_name, version)
    )


def resolve_models(client: MlflowClient, cfg: PipelineConfig, model_version: str | None = None) -> ScoringModels:
    """The version to score with (``model_version``, else the one behind ``champion`` now, read once) and the
    ``shadow`` alias's version when there is one, loaded. ``NoChampion`` / ``ModelVersionNotFound`` otherwise."""
    from include.mlops.registry import SHADOW, alias_version, champion_version, is_not_found

    name = cfg.model.name
    if model_version is None:
        version = champion_version(client, name)
        if version is None:
            raise NoChampion(
                f"{name} has no champion yet: nothing to score with. Run train_and_promote until a challenger is "
                "promoted, or pass model_version to score with a named version"
            )
    else:
        version = str(model_version)
        try:
            client.get_model_version(name, version)
        except Exception as exc:
            if is_not_found(exc):
                raise ModelVersionNotFound(
                    f"{name} has no version {version}; pick an existing version (MLflow UI, Models > {name})"
                ) from None
            raise
    shadow_version = alias_version(client, name, SHADOW)
    main = _load(client, name, version)
    shadow = None
    if shadow_version is not None and shadow_version != version:
        shadow = _load(client, name, shadow_version)
    return ScoringModels(main, shadow)


# -- one day ---------------------------------------------------------------------------------------------
def why_not_curated(lake: Lake, cfg: PipelineConfig, day: dt.date) -> str:
    name = cfg.dataset.name
    if lake.has_partition("quarantine", name, day):
        return "quarantined (failed validation); fix the source and re-run ingest_and_validate for that day"
    if lake.has_partition("landing", name, day):
        return "landed but not published; re-run ingest_and_validate for that day"
    return "not ingested; run ingest_and_validate for that day first"


def _scores(model: ScoringModel, frame: pd.DataFrame, task: str) -> Any:
    import numpy as np

    from include.mlops.evaluation import score

    missing = [c for c in model.features if c not in frame.columns]
    if missing:
        raise MlopsError(
            f"{model.name} version {model.version} needs columns {missing} that the curated partition lacks; "
            "score with a version trained on this dataset's current columns"
        )
    x = frame[list(model.features)]
    if len(x) == 0:
        return np.empty(0, dtype="float64")
    parts = [score(model.model, x.iloc[i : i + CHUNK_ROWS], task) for i in range(0, len(x), CHUNK_ROWS)]
    return np.concatenate([np.asarray(p, dtype="float64") for p in parts])


def score_with(models: ScoringModels, cfg: PipelineConfig, lake: Lake, day: dt.date, *, run_id: str) -> ScoredDay:
    """Score curated ``day`` with ``models`` and replace its prediction partition; ``DayNotCurated`` if absent."""
    import pandas as pd

    name, task, ds = cfg.dataset.name, cfg.dataset.task, day.isoformat()
    if not lake.has_partition("curated", name, day):
        raise DayNotCurated(ds, why_not_curated(lake, cfg, day))
    key = outcomes.key_of(cfg)
    wanted = list(dict.fromkeys([*models.main.features, *(models.shadow.features if models.shadow else ())]))
    if cfg.dataset.key_column:
        wanted = list(dict.fromkeys([cfg.dataset.key_column, *wanted]))
    frame = lake.read_partition("curated", name, day, columns=wanted)
    scores = _scores(models.main, frame, task)
    scored_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out = pd.DataFrame({key: frame[key].to_numpy() if cfg.dataset.key_column else range(len(frame))})
    out[outcomes.SCORE] = scores
    if task == "classification":
        out[outcomes.PREDICTED_CLASS] = (scores >= cfg.scoring.threshold).astype("int64")
    out[outcomes.MODEL_NAME] = models.main.name
    out[outcomes.MODEL_VERSION] = models.main.version
    out[outcomes.RUN_ID] = run_id
    out[outcomes.SCORED_AT] = scored_at
    if models.shadow is not None:
        out[outcomes.SHADOW_SCORE] = _scores(models.shadow, frame, task)
        out[outcomes.SHADOW_VERSION] = models.shadow.version
    del frame
    info = lake.write_partition(outcomes.PREDICTIONS, name, day, out)
    mean = float(scores.mean()) if len(scores) else None
    positive = float(out[outcomes.PREDICTED_CLASS].mean()) if task == "classification" and len(out) else None
    report_key = lake.report_key(REPORT_KIND, name, day, SUMMARY)
    result = ScoredDay(
        ds=ds,
        rows=info.rows,
        model_name=models.main.name,
        model_version=models.main.version,
        shadow_version=models.shadow.version if models.shadow else None,
        uri=info.uri,
        content_hash=info.content_hash,
        run_id=run_id,
        scored_at=scored_at,
        mean_score=mean,
        positive_rate=positive,
        report_key=report_key,
    )
    lake.write_json(report_key, result.as_dict() | {"threshold": cfg.scoring.threshold, "task": task})
    log.info(
        "scored %s: %d rows with %s version %s%s -> %s",
        ds,
        info.rows,
        models.main.name,
        models.main.version,
        f" (shadow version {models.shadow.version})" if models.shadow else "",
        info.uri,
    )
    return result


def score_day(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    day: dt.date,
    *,
    run_id: str,
    model_version: str | None = None,
) -> ScoredDay:
    """Score curated ``day`` with ``model_version`` (None: the champion now) and replace its predictions.

    ``NoChampion`` when there is no champion, ``ModelVersionNotFound`` for a version that does not exist,
    ``DayNotCurated`` when the day is quarantined or not ingested."""
    name = cfg.dataset.name
    if not lake.has_partition("curated", name, day):  # before loading any model
        raise DayNotCurated(day.isoformat(), why_not_curated(lake, cfg, day))
    return score_with(resolve_models(client, cfg, model_version), cfg, lake, day, run_id=run_id)


def score_days(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    days: Iterable[dt.date],
    *,
    run_id: str,
    model_version: str | None = None,
) -> ScoringRun:
    """Score each of ``days`` with one model resolved once; skip days that are not curated, with the reason.
    ``NothingToScore`` when none is curated (checked before any model is loaded)."""
    days = sorted(set(days))
    name = cfg.dataset.name
    curated = [d for d in days if lake.has_partition("curated", name, d)]
    skipped = [{"ds": d.isoformat(), "reason": why_not_curated(lake, cfg, d)} for d in days if d not in curated]
    if not curated:
        detail = "; ".join(f"{s['ds']}: {s['reason']}" for s in skipped[:10]) or "no days given"
        raise NothingToScore(f"none of the {len(days)} day(s) asked for is curated ({detail})")
    models = resolve_models(client, cfg, model_version)
    scored = []
    for day in curated:
        try:
            scored.append(score_with(models, cfg, lake, day, run_id=run_id))
        except DayNotCurated as exc:  # removed since the check (a concurrent re-quarantine)
            skipped.append({"ds": exc.ds, "reason": exc.reason})
    for s in skipped:
        log.warning("skipped %s: %s", s["ds"], s["reason"])
    return ScoringRun(
        model_name=models.main.name,
        model_version=models.main.version,
        shadow_version=models.shadow.version if models.shadow else None,
        scored=scored,
        skipped=sorted(skipped, key=lambda s: s["ds"]),
    )


__all__ = [
    "DayNotCurated",
    "ModelVersionNotFound",
    "NoChampion",
    "NothingToScore",
    "ScoredDay",
    "ScoringModel",
    "ScoringModels",
    "ScoringRun",
    "model_features",
    "resolve_models",
    "score_day",
    "score_days",
    "score_with",
]
