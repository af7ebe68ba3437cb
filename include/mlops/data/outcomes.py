"""What the champion predicted and what really happened: the prediction log and the (late) labels, and the join.

Layout in the lake (``include.mlops.data.lake``)::

    predictions/<dataset>/ds=D/part-0.parquet   one row per curated row of day D, written by score_batch
    labels/<dataset>/ds=D/part-0.parquet        the labels of day D's events (key, target), landed at D + delay

A prediction partition holds the entity key (``dataset.key_column``, else ``ROW_ID``: the row's position in
the curated partition), ``score`` (positive-class probability, or the regression prediction),
``predicted_class`` (classification: ``score >= scoring.threshold``), ``model_name``, ``model_version``,
``run_id`` (the Airflow run that scored it), ``scored_at`` and, while a shadow challenger waits,
``shadow_score`` and ``shadow_version``.

Labels of day D have **matured** by a window end E (exclusive) when D + ``dataset.label_delay_days`` < E and
they are in the lake: with a delay, in ``labels/``; without one, in the curated batch itself.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from include.mlops.core.config import PipelineConfig
from include.mlops.data.lake import Lake

if TYPE_CHECKING:
    import pandas as pd

PREDICTIONS = "predictions"
LABELS = "labels"
ROW_ID = "row_id"  # the key of a dataset without dataset.key_column
SCORE = "score"
PREDICTED_CLASS = "predicted_class"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
RUN_ID = "run_id"
SCORED_AT = "scored_at"
SHADOW_SCORE = "shadow_score"
SHADOW_VERSION = "shadow_version"


def key_of(cfg: PipelineConfig) -> str:
    """The column that identifies a row in predictions and labels."""
    return cfg.dataset.key_column or ROW_ID


def matured(day: dt.date, window_end: dt.date, delay_days: int) -> bool:
    """Whether the labels of ``day`` have arrived by ``window_end`` (exclusive): day + delay < window_end."""
    return day + dt.timedelta(days=delay_days) < window_end


def last_matured_day(window_end: dt.date, delay_days: int) -> dt.date:
    """The newest day whose labels have arrived by ``window_end`` (exclusive)."""
    return window_end - dt.timedelta(days=delay_days + 1)


def read_predictions(lake: Lake, cfg: PipelineConfig, day: dt.date | str, columns: list[str] | None = None):
    """The prediction log of ``day``, or None when the day was not scored."""
    if not lake.has_partition(PREDICTIONS, cfg.dataset.name, day):
        return None
    return lake.read_partition(PREDICTIONS, cfg.dataset.name, day, columns=columns)


def read_labels(lake: Lake, cfg: PipelineConfig, day: dt.date | str) -> pd.DataFrame | None:
    """(key, target) of ``day``'s events, or None when they are not in the lake yet.

    With ``label_delay_days`` 0 the curated batch holds them (key ``ROW_ID`` is the row position when no
    ``key_column`` is configured); with a delay, the ``labels`` zone."""
    ds, name = cfg.dataset, cfg.dataset.name
    key = key_of(cfg)
    if ds.label_delay_days == 0:
        if not lake.has_partition("curated", name, day):
            return None
        if ds.key_column:
            return lake.read_partition("curated", name, day, columns=[ds.key_column, ds.target])
        frame = lake.read_partition("curated", name, day, columns=[ds.target])
        return frame.assign(**{ROW_ID: range(len(frame))})[[ROW_ID, ds.target]]
    if not lake.has_partition(LABELS, name, day):
        return None
    return lake.read_partition(LABELS, name, day, columns=[key, ds.target])


def join_labels(left: pd.DataFrame, labels: pd.DataFrame, key: str, target: str) -> tuple[pd.DataFrame, int]:
    """``left`` (features or predictions) with ``target`` joined by ``key``; rows without a label are dropped.
    Returns (joined, rows dropped). A label row whose key is not in ``left`` is ignored."""
    base = left.drop(columns=[target]) if target in left.columns else left
    joined = base.merge(labels[[key, target]].drop_duplicates(key, keep="last"), on=key, how="inner", validate="m:1")
    return joined, len(base) - len(joined)
