"""Check the config against a user's own data before anything is validated or written.

The first mistakes with a new dataset are config mistakes: a target or feature name that is not a
column, a label that does not fit the task (``"Yes"``/``"No"`` for a binary classifier). Caught here
they stop ``load-history`` and ``land_batch`` at once, naming the column, the file and the key to set,
with nothing written to the lake. Caught later they would quarantine every day one by one.

``prepare_source`` also maps a two-valued label to 0/1 when ``dataset.positive_label`` says which
value is positive, so the lake, the suite and training only ever see 0/1.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import DataConfigMismatch

if TYPE_CHECKING:
    import pandas as pd


def _did_you_mean(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _values(values: list[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def check_columns(cfg: PipelineConfig, frame: pd.DataFrame, where: str) -> None:
    """The target, the listed features and the excluded columns are columns of ``frame``."""
    ds = cfg.dataset
    columns = [str(c) for c in frame.columns]
    fix = f"Set it in {cfg.source_path} to one of the columns; nothing was written to the lake."
    # with late labels the source may leave the target out: it comes from dataset.labels_uri
    if ds.target not in columns and not (ds.label_delay_days > 0 and ds.labels_uri is not None):
        raise DataConfigMismatch(
            f"target column {ds.target!r} (dataset.target) is not in {where}.{_did_you_mean(ds.target, columns)} "
            f"Columns are: {', '.join(columns)}. {fix}"
        )
    for key, names in (("dataset.features", ds.features or ()), ("dataset.exclude_columns", ds.exclude_columns)):
        missing = [n for n in names if n not in columns]
        if missing:
            hints = "".join(_did_you_mean(n, columns) for n in missing)
            raise DataConfigMismatch(
                f"{key} names {', '.join(map(repr, missing))}, not a column of {where}.{hints} "
                f"Columns are: {', '.join(columns)}. Fix {key} in {cfg.source_path}; nothing was written to the lake."
            )


def _same(a: Any, b: Any) -> bool:
    """Label equality across the CSV/YAML divide: 1 == "1", True == "true", "Yes" == "Yes"."""
    return a == b or str(a).strip().lower() == str(b).strip().lower()


def check_and_map_target(cfg: PipelineConfig, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The target's values fit the task; a two-valued label named by ``positive_label`` becomes 0/1."""
    import pandas as pd

    ds = cfg.dataset
    series = frame[ds.target]
    present = series.dropna()
    distinct = sorted(present.unique().tolist(), key=str)
    config = cfg.source_path
    if ds.task == "regression":
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise DataConfigMismatch(
                f"task regression needs a numeric target, but {ds.target!r} in {where} holds {series.dtype} values "
                f"such as {_values(distinct, 5)}. Point dataset.target at a numeric column, or set "
                f"task: classification in {config}; nothing was written to the lake."
            )
        return frame
    if ds.positive_label is not None:
        positives = [v for v in distinct if _same(v, ds.positive_label)]
        if len(distinct) > 2 or (distinct and not positives):
            raise DataConfigMismatch(
                f"dataset.positive_label is {ds.positive_label!r}, but {ds.target!r} in {where} holds "
                f"{len(distinct)} distinct value(s): {_values(distinct)}. Set positive_label to the one value that "
                f"means positive (binary classification needs at most two values), or remove it if the label "
                f"is already 0/1; nothing was written to the lake."
            )
        mapped = series.map(lambda v: v if pd.isna(v) else int(_same(v, ds.positive_label)))
        frame = frame.copy()
        frame[ds.target] = mapped.astype("Int64").astype("float64" if mapped.isna().any() else "int64")
        return frame
    if pd.api.types.is_bool_dtype(series):
        frame = frame.copy()
        frame[ds.target] = series.astype("int64")
        return frame
    numeric = pd.api.types.is_numeric_dtype(series)
    if numeric and set(distinct) <= {0, 1}:
        return frame
    if len(distinct) <= 2:
        raise DataConfigMismatch(
            f"binary classification needs a 0/1 target, but {ds.target!r} in {where} holds {_values(distinct)}. "
            f"Set dataset.positive_label in {config} to the value that means positive (one of "
            f"{', '.join(repr(v) for v in distinct)}) and it is mapped to 1, the other to 0; nothing was written "
            "to the lake."
        )
    raise DataConfigMismatch(
        f"binary classification needs a target with two values, but {ds.target!r} in {where} holds "
        f"{len(distinct)}: {_values(distinct)}. Use task: regression for a numeric outcome, or map the labels to "
        f"two classes in your source; nothing was written to the lake."
    )


def check_label_columns(cfg: PipelineConfig, frame: pd.DataFrame, where: str) -> None:
    """A late-label feed (``dataset.labels_uri``) holds the key, the target and the event time."""
    ds = cfg.dataset
    columns = [str(c) for c in frame.columns]
    for key, name in (
        ("dataset.key_column", ds.key_column),
        ("dataset.target", ds.target),
        ("dataset.timestamp_column", ds.timestamp_column),
    ):
        if name is not None and name not in columns:
            raise DataConfigMismatch(
                f"label column {name!r} ({key}) is not in the labels at {where}.{_did_you_mean(name, columns)} "
                f"Columns are: {', '.join(columns)}. The labels need the same {key} as the source: rename the "
                f"column in the label files, or set {key} in {cfg.source_path}; nothing was written to the lake."
            )


def prepare_source(cfg: PipelineConfig, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Both checks; returns the frame with the target mapped to 0/1 where ``positive_label`` says so.
    A source without the target (late labels from ``dataset.labels_uri``) is returned as it is."""
    check_columns(cfg, frame, where)
    if cfg.dataset.target not in frame.columns:
        return frame
    return check_and_map_target(cfg, frame, where)
