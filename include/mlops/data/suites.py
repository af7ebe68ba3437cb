"""Expectation suites kept as data: a user's suite read from JSON (``load_suite``), one derived from a sample of
the user's data (``derive_suite``) with a record of the config it was derived for (``stale_keys`` tells when it no
longer fits), the suite of a late-label feed (``label_suite``), and a suite for a batch without its label
(``without_target``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.mlops.core.exceptions import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from include.mlops.core.config import PipelineConfig


def _label(value: Any) -> Any:
    """1.0 -> 1 (a label column with a missing value is read as floats); anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def load_suite(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        suite = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"expectation suite {path} does not exist (dataset.suite in the config)") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"expectation suite {path} is not valid JSON: {exc}") from exc
    if not isinstance(suite, dict) or not suite.get("name") or not isinstance(suite.get("expectations"), list):
        raise ConfigError(f"expectation suite {path} needs a `name` and a list of `expectations`")
    return suite


# Bump when derive_suite's rules change, so suites derived by the old rules count as stale.
DERIVATION_VERSION = 2


def derivation_inputs(cfg: PipelineConfig) -> dict[str, Any]:
    """The config keys a derived suite depends on. When one changes, the kept suite is stale."""
    ds = cfg.dataset
    return {
        "derivation_version": DERIVATION_VERSION,
        "name": ds.name,
        "target": ds.target,
        "task": ds.task,
        "timestamp_column": ds.timestamp_column,
        "features": list(ds.features) if ds.features is not None else None,
        "exclude_columns": list(ds.exclude_columns),
        "positive_label": ds.positive_label,
        "label_delay_days": ds.label_delay_days,
    }


def fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stale_keys(suite: dict[str, Any], cfg: PipelineConfig) -> list[str]:
    """The ``dataset.*`` keys whose value differs from what ``suite`` was derived for ([] = current).

    A suite kept by an older version (no record) is stale as a whole: ``["derived_from"]``."""
    recorded = (suite.get("meta") or {}).get("derived_from")
    if not isinstance(recorded, dict) or "inputs" not in recorded:
        return ["derived_from"]
    now = derivation_inputs(cfg)
    before = {"label_delay_days": 0, **recorded["inputs"]}  # recorded before late labels existed: no delay
    return [k if k == "derivation_version" else f"dataset.{k}" for k in now if before.get(k) != now[k]]


def without_target(suite: dict[str, Any], target: str) -> dict[str, Any]:
    """``suite`` for a feature batch that has no label column (``dataset.label_delay_days`` > 0): every
    expectation on ``target`` dropped, and ``target`` taken out of column-set expectations."""
    kept: list[dict[str, Any]] = []
    for exp in suite.get("expectations", []):
        kwargs = exp.get("kwargs") or {}
        if kwargs.get("column") == target:
            continue
        for name in ("column_set", "column_list"):
            if isinstance(kwargs.get(name), list) and target in kwargs[name]:
                exp = {**exp, "kwargs": {**kwargs, name: [c for c in kwargs[name] if c != target]}}
        kept.append(exp)
    return {**suite, "expectations": kept}


def label_suite(cfg: PipelineConfig) -> dict[str, Any]:
    """The GX suite a late-label feed must pass: at least one row; key present, not null, unique; target
    not null and 0/1 (classification) or numeric (regression)."""
    ds = cfg.dataset
    key, target = ds.key_column, ds.target
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": None}},
        {"type": "expect_column_to_exist", "kwargs": {"column": key}},
        {"type": "expect_column_to_exist", "kwargs": {"column": target}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": key}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": key}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": target}},
    ]
    if ds.task == "classification":
        exps.append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": target, "value_set": [0, 1]}})
    else:
        exps.append(
            {"type": "expect_column_values_to_be_in_type_list", "kwargs": {"column": target, "type_list": _NUMERIC}}
        )
    return {"name": f"{ds.name}_labels", "expectations": exps}


_NUMERIC = ["int", "int8", "int16", "int32", "int64", "Int64", "float", "float16", "float32", "float64", "Float64"]


def derive_suite(
    frame: pd.DataFrame, *, name: str, target: str, timestamp_column: str, task: str, cfg: PipelineConfig | None = None
) -> dict[str, Any]:
    """A suite derived from a sample of the user's data: schema, nulls, ranges with slack, category sets.

    With ``cfg`` the suite records what it was derived from (the config keys, their fingerprint, the
    columns and types it saw), so a later run can tell when it no longer fits the config."""
    import datetime as dt

    import pandas as pd

    if cfg is not None and cfg.dataset.label_delay_days > 0:  # the batch lands without its label
        frame = frame.drop(columns=[target], errors="ignore")
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": None}},
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [str(c) for c in frame.columns], "exact_match": False},
        },
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": timestamp_column}},
    ]
    if target in frame.columns:
        exps.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": target}})
    for col in frame.columns:
        if col in (timestamp_column,):
            continue
        series = frame[col]
        if col != target and series.notna().all():
            exps.append(
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": col}, "meta": {"derived": True}}
            )
        if pd.api.types.is_bool_dtype(series):
            continue
        if col == target and task == "classification":  # labels are 0/1 here (see preflight)
            values = sorted({_label(v) for v in series.dropna().unique().tolist()}, key=str)
            exps.append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": col, "value_set": values}})
        elif pd.api.types.is_numeric_dtype(series):
            lo, hi = series.min(), series.max()
            if pd.isna(lo):
                continue
            span = float(hi - lo) or abs(float(hi)) or 1.0
            exps.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": col, "min_value": float(lo) - span, "max_value": float(hi) + span},
                    "meta": {"derived": True, "observed_min": float(lo), "observed_max": float(hi)},
                }
            )
        elif col == target or series.nunique(dropna=True) <= 50:
            values = sorted(str(v) for v in series.dropna().unique())
            exps.append({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": col, "value_set": values}})
    meta: dict[str, Any] = {"derived_from_rows": len(frame)}
    if cfg is not None:
        inputs = derivation_inputs(cfg)
        meta["derived_from"] = {
            "inputs": inputs,
            "fingerprint": fingerprint(inputs),
            "columns": {str(c): str(t) for c, t in frame.dtypes.items()},
            "rows": len(frame),
            "derived_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    return {"name": name, "meta": meta, "expectations": exps}
