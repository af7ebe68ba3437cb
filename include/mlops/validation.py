"""Great Expectations 1.x gate for a batch, with suites kept as data.

``validate_frame`` runs a suite on a DataFrame in an ephemeral GX context (no project folder, no
network) and returns a JSON-safe ``ValidationSummary``: per failed expectation its type, column and
how many rows broke it. ``derive_suite`` writes a reasonable suite for a user's own data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.mlops.exceptions import ConfigError
from include.mlops.jsonsafe import json_safe

if TYPE_CHECKING:
    import pandas as pd

    from include.mlops.config import PipelineConfig


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed: Any = None
    sample: list[Any] = field(default_factory=list)
    error: str | None = None
    allowed: Any = None  # the expectation's value_set, or [min, max]

    def _allowed(self) -> str:
        if isinstance(self.allowed, list) and self.allowed and "between" in self.expectation:
            return f" outside [{self.allowed[0]}, {self.allowed[1]}]"
        return f" not in {self.allowed}" if isinstance(self.allowed, list) else ""

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        if self.error:
            what = f"could not run: {self.error}"
        elif self.expectation == "expect_column_to_exist":
            return f"{self.expectation}: column {self.column!r} does not exist"
        elif "distinct_values" in self.expectation:
            # GX counts distinct values here, not rows
            values = self.sample or (self.observed if isinstance(self.observed, list) else [])
            count = self.unexpected_count if self.unexpected_count is not None else len(values)
            what = f"{count} distinct value(s){self._allowed() or ' not allowed'}" + (
                f": {values[:10]}" if values else ""
            )
        elif self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f} %)" if self.unexpected_percent is not None else ""
            if "not_be_null" in self.expectation:
                return f"{self.expectation} on {where}: {self.unexpected_count} rows{pct} are null"
            what = f"{self.unexpected_count} rows{pct} " + (self._allowed().strip() or "failed")
            examples = list(dict.fromkeys(map(_hashable, self.sample)))[:5]
            if examples:
                what += f", e.g. {examples}"
        else:
            what = f"observed {self.observed!r}"
        return f"{self.expectation} on {where}: {what}"


def _label(value: Any) -> Any:
    """1.0 -> 1 (a label column with a missing value is read as floats); anything else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else str(value)


@dataclass(frozen=True)
class ValidationSummary:
    suite: str
    success: bool
    rows: int
    evaluated: int
    failed: list[FailedExpectation]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self, partition: str) -> str:
        """The first line names the first failed check and its column: notifiers and OUTCOME lines send
        only that line. The full list follows."""
        first = f": {self.failed[0].describe()}" if self.failed else ""
        more = f" (and {len(self.failed) - 1} more, below)" if len(self.failed) > 1 else ""
        lines = [
            f"batch {partition} failed {len(self.failed)} of {self.evaluated} expectations "
            f"of suite {self.suite!r} ({self.rows} rows){first}{more}"
        ]
        if len(self.failed) > 1:
            lines += [f"  - {f.describe()}" for f in self.failed]
        return "\n".join(lines)


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


def validate_frame(frame: pd.DataFrame, suite: dict[str, Any]) -> ValidationSummary:
    """Run ``suite`` against ``frame`` and summarise what failed."""
    import logging

    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # keep task logs and the console readable; GX sets one of its modules to INFO explicitly, which logs
    # "Created temporary directory ... for ephemeral docs site" for every context
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("lake").add_dataframe_asset("batch")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = ExpectationSuite(
        name=suite["name"],
        expectations=[
            {"type": e["type"], "kwargs": e.get("kwargs", {}), "meta": e.get("meta")} for e in suite["expectations"]
        ],
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    # A passing batch (the common case) needs only the verdicts; the row counts and samples are worth a
    # second, slower pass only when something failed.
    result = batch.validate(gx_suite, result_format="BOOLEAN_ONLY")
    if not result.success:
        result = batch.validate(gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10})
    failed: list[FailedExpectation] = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        if cfg is None:  # GX always sets it on a suite's results; the type allows None
            continue
        res = r.result or {}
        info = r.exception_info or {}
        error = None
        if info.get("raised_exception"):
            error = str(info.get("exception_message", "")).splitlines()[0][:300] or "exception"
        else:  # GX 1.x nests exception info per metric
            for value in info.values() if isinstance(info, dict) else []:
                if isinstance(value, dict) and value.get("raised_exception"):
                    error = str(value.get("exception_message", "")).splitlines()[0][:300]
                    break
        kwargs = cfg.kwargs
        allowed = kwargs.get("value_set")
        if allowed is None and ("min_value" in kwargs or "max_value" in kwargs):
            allowed = [kwargs.get("min_value"), kwargs.get("max_value")]
        failed.append(
            FailedExpectation(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=json_safe(res.get("unexpected_percent")),
                observed=json_safe((res.get("details") or {}).get("mismatched") or res.get("observed_value")),
                sample=[json_safe(v) for v in (res.get("partial_unexpected_list") or [])[:10]],
                error=error,
                allowed=json_safe(list(allowed)) if allowed is not None else None,
            )
        )
    return ValidationSummary(
        suite=suite["name"],
        success=bool(result.success),
        rows=len(frame),
        evaluated=len(result.results),
        failed=failed,
    )
