"""Batch scoring: the champion (and a waiting shadow challenger) scores curated days into the prediction log.

``score_day`` scores one curated day and replaces ``predictions/<dataset>/ds=D/part-0.parquet`` (the contract is
in ``include.mlops.data.outcomes``): one row per curated row, the key, ``score``, ``predicted_class`` (classification,
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

from include.mlops.core.compat import (
    SKLEARN_COLUMN_TRANSFORMER,
    SKLEARN_PIPELINE,
    SKLEARN_ROWWISE_STEPS,
    qualname,
    sklearn_transform_output,
)
from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import (
    DayNotCurated,
    MlopsError,
    ModelVersionNotFound,
    NoChampion,
    NothingToScore,
)
from include.mlops.data import outcomes
from include.mlops.data.lake import Lake

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

REPORT_KIND = "scoring"
SUMMARY = "summary.json"
CHUNK_ROWS = 250_000  # rows scored at once: bounds the model's intermediate arrays on a 1M-row day


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
    else the input names of its MLflow signature. Read through ``client``; ``ModelVersionNotFound`` when the
    version does not exist."""
    from include.mlops.model.registry import get_version, version_signature

    mv = get_version(client, model_name, version)
    if mv.run_id:
        import json
        import tempfile

        from mlflow.exceptions import MlflowException

        try:
            with tempfile.TemporaryDirectory(prefix="mlops-lineage-") as tmp:
                path = client.download_artifacts(mv.run_id, "lineage/training_data.json", tmp)
                with open(path, encoding="utf-8") as f:
                    features = json.load(f)["features"]
            return tuple(features["numeric"]) + tuple(features["categorical"])
        except (MlflowException, OSError, ValueError, KeyError, TypeError) as exc:
            log.info("%s version %s: no usable lineage (%s); reading its signature", model_name, version, exc)
    signature = version_signature(client, model_name, version)
    if signature is None or signature.inputs is None:
        raise MlopsError(
            f"{model_name} version {version} has neither a lineage artifact nor a signature: its feature columns "
            "are unknown. Score with a version trained by train_and_promote"
        )
    return tuple(signature.inputs.input_names())


def _load(client: MlflowClient, model_name: str, version: str) -> ScoringModel:
    from include.mlops.model.registry import load_version

    return ScoringModel(
        model_name, version, load_version(client, model_name, version), model_features(client, model_name, version)
    )


def resolve_models(client: MlflowClient, cfg: PipelineConfig, model_version: str | None = None) -> ScoringModels:
    """The version to score with (``model_version``, else the one behind ``champion`` now, read once) and the
    ``shadow`` alias's version when there is one, loaded. ``NoChampion`` / ``ModelVersionNotFound`` otherwise."""
    from include.mlops.model.registry import SHADOW, alias_version, champion_version, get_version

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
        get_version(client, name, version)  # ModelVersionNotFound names the model and what to do
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

    from include.mlops.model.metrics import score

    missing = [c for c in model.features if c not in frame.columns]
    if missing:
        raise MlopsError(
            f"{model.name} version {model.version} needs columns {missing} that the curated partition lacks; "
            "score with a version trained on this dataset's current columns"
        )
    if len(frame) == 0:
        return np.empty(0, dtype="float64")
    split = _rowwise_split(model.model)
    if split is not None:
        scores = _scores_rowwise(model, *split, frame, task)
        if scores is not None:
            return scores
    x = frame[list(model.features)]
    parts = [score(model.model, x.iloc[i : i + CHUNK_ROWS], task) for i in range(0, len(x), CHUNK_ROWS)]
    return np.concatenate([np.asarray(p, dtype="float64") for p in parts])


# -- the same predictions, with the categorical preprocessing done once per distinct value ------------------
# A pipeline from include.mlops.model.training is Pipeline([("pre", ColumnTransformer), ("model", estimator)]) whose
# transformers (imputers, encoders, scalers) map each row on its own. Then a categorical block of 1M rows has
# only as many distinct rows as there are value combinations (hundreds), so it is transformed once per
# combination and gathered, instead of OneHotEncoder looking up 4M Python strings; numeric blocks are
# transformed as the ColumnTransformer would. The first rows are checked against the pipeline's own transform:
# any difference and the whole day is scored by the pipeline as a whole instead.
ROWWISE_STEPS = SKLEARN_ROWWISE_STEPS  # the exact classes trusted to map each row on its own (core.compat)
DISTINCT_SPAN = 1 << 22  # the most value combinations a block may have for the per-combination path
CHECK_ROWS = 2_000  # rows compared with the pipeline's own transform before the fast path is trusted


def _rowwise_split(model: Any) -> tuple[Any, Any] | None:
    """(ColumnTransformer, final estimator) of a Pipeline([ColumnTransformer of row-wise steps, estimator]) with
    dense default output; None for anything else (scored by the pipeline as a whole)."""
    import sklearn

    if qualname(model) != SKLEARN_PIPELINE or len(model.steps) != 2:
        return None
    pre, est = model.steps[0][1], model.steps[1][1]
    if qualname(pre) != SKLEARN_COLUMN_TRANSFORMER:
        return None
    if sklearn.get_config().get("transform_output", "default") != "default" or getattr(pre, "sparse_output_", True):
        return None
    for obj in (model, pre):
        if sklearn_transform_output(obj) != "default":
            return None
    for _, transformer, _ in pre.transformers_:
        if isinstance(transformer, str):
            if transformer != "drop":  # passthrough: keep the ColumnTransformer's own handling
                return None
            continue
        steps = [s for _, s in transformer.steps] if qualname(transformer) == SKLEARN_PIPELINE else [transformer]
        if not all(qualname(s) in ROWWISE_STEPS for s in steps):
            return None
        if any(sklearn_transform_output(s) != "default" for s in steps):
            return None
        if any(getattr(s, "sparse_output", False) is True or getattr(s, "sparse", False) is True for s in steps):
            return None
    return pre, est


def _distinct_rows(frame: pd.DataFrame, columns: list[str]) -> tuple[Any, Any] | None:
    """(the first row of each distinct combination of ``columns``, each row's combination number) when they are
    all string columns, else None. A row with a missing value is a combination of its own (the pipeline tells
    None from NaN; factorize does not)."""
    import numpy as np
    import pandas as pd

    codes = np.zeros(len(frame), dtype="int64")
    null = np.zeros(len(frame), dtype=bool)
    span = 1
    for column in columns:
        values = frame[column]
        if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            return None
        k, uniques = pd.factorize(values)  # a missing value: -1
        span *= max(len(uniques), 1)
        if span > DISTINCT_SPAN:
            return None
        null |= k < 0
        codes = codes * max(len(uniques), 1) + np.maximum(k, 0)
    rows = np.arange(len(frame))
    if not null.any():  # dense numbering of the combinations: O(rows), no sort
        first = np.full(span, len(frame), dtype="int64")
        first[codes[::-1]] = rows[::-1]  # the last write wins: each combination's first row
        present = first < len(frame)
        number = np.cumsum(present) - 1
        return first[present], number[codes]
    codes[null] = span + rows[null]
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _scores_rowwise(model: ScoringModel, pre: Any, est: Any, frame: pd.DataFrame, task: str) -> Any:
    import numpy as np

    from include.mlops.model.metrics import score

    blocks: list[tuple[Any, list[str], Any]] = []  # (transformer, columns, None | (transformed distinct rows, inverse))
    for _, transformer, columns in pre.transformers_:
        if isinstance(transformer, str):
            continue
        columns = list(columns)
        if not columns:  # the ColumnTransformer leaves a transformer of no columns out
            continue
        if not all(isinstance(c, str) for c in columns):
            return None
        distinct = _distinct_rows(frame, columns)
        if distinct is not None:
            first, inverse = distinct
            distinct = (transformer.transform(frame.iloc[first][columns]), inverse)
        blocks.append((transformer, columns, distinct))

    check = min(len(frame), CHECK_ROWS)
    first_rows = [t.transform(frame.iloc[:check][cols]) if d is None else d[0][d[1][:check]] for t, cols, d in blocks]
    widths = [a.shape[1] for a in first_rows]
    buffer = np.empty((min(len(frame), CHUNK_ROWS), sum(widths)), dtype=np.result_type(*first_rows))

    def transform(start: int, stop: int) -> Any:
        """Rows [start, stop) preprocessed, in the reused buffer (as the ColumnTransformer's hstack would be)."""
        part, x, at = frame.iloc[start:stop], buffer[: stop - start], 0
        for (t, cols, distinct), width in zip(blocks, widths, strict=True):
            x[:, at : at + width] = (
                t.transform(part[cols]) if distinct is None else distinct[0][distinct[1][start:stop]]
            )
            at += width
        return x

    expected = pre.transform(frame.iloc[:check][list(model.features)])
    got = transform(0, check)
    if not (isinstance(expected, np.ndarray) and expected.shape == got.shape and expected.dtype == got.dtype):
        return None
    if not np.array_equal(expected, got, equal_nan=expected.dtype.kind == "f"):
        log.warning(
            "%s version %s: the per-block preprocessing differs from the pipeline's on the first rows; "
            "scoring with the whole pipeline",
            model.name,
            model.version,
        )
        return None
    parts = [score(est, transform(i, min(i + CHUNK_ROWS, len(frame))), task) for i in range(0, len(frame), CHUNK_ROWS)]
    return np.concatenate([np.asarray(p, dtype="float64") for p in parts])


def _repeated(value: str, rows: int) -> Any:
    """A column of one string on every row, as a one-category pandas Categorical: Parquet stores it as a
    dictionary of that one value with the row codes, instead of converting and hashing it once per row (the
    same values; read back, the column is a category)."""
    import numpy as np
    import pandas as pd

    return pd.Categorical.from_codes(np.zeros(rows, dtype="int8"), categories=[value])


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
    out[outcomes.MODEL_NAME] = _repeated(models.main.name, len(out))
    out[outcomes.MODEL_VERSION] = _repeated(models.main.version, len(out))
    out[outcomes.RUN_ID] = _repeated(run_id, len(out))
    out[outcomes.SCORED_AT] = _repeated(scored_at, len(out))
    if models.shadow is not None:
        out[outcomes.SHADOW_SCORE] = _scores(models.shadow, frame, task)
        out[outcomes.SHADOW_VERSION] = _repeated(models.shadow.version, len(out))
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
