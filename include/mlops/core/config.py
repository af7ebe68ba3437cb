"""The pipeline config: one YAML file, validated into frozen pydantic dataclasses.

The file used is ``$MLOPS_CONFIG`` when set, else ``include/config/mlops.yaml``. Every key has a
default except what the data itself must tell us. Unknown keys are refused (``extra="forbid"``); a
wrong key or value raises ``ConfigError`` naming the key, the file and what is accepted (pydantic's
errors, formatted by ``_explain``).

Defaults that depend on the task (evaluation metrics, the model name) are filled in by
``parse_config`` before validation, so a regression config that leaves them out gets regression
defaults.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import re
from dataclasses import field, fields, is_dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError
from pydantic import model_validator as _model_validator
from pydantic.dataclasses import dataclass

from include.mlops.core.exceptions import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "include" / "config" / "mlops.yaml"
CONFIG_ENV = "MLOPS_CONFIG"

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = get_args(Task)
Scenario = Literal["baseline", "gradual_drift", "abrupt_drift"]
SCENARIOS: tuple[str, ...] = get_args(Scenario)
Fault = Literal[
    "nulls", "out_of_range", "unknown_category", "missing_column", "wrong_dtype", "duplicate_rows", "empty_day"
]
FAULTS: tuple[str, ...] = get_args(Fault)
NotifierKind = Literal["log", "slack", "smtp", "callable"]
NOTIFIER_KINDS: tuple[str, ...] = get_args(NotifierKind)
# metric -> direction; the evaluation module computes exactly these. The one place directions are known.
METRICS = {
    "classification": {
        "average_precision": "maximize",
        "roc_auc": "maximize",
        "f1": "maximize",
        "precision": "maximize",
        "recall": "maximize",
        "log_loss": "minimize",
        "brier": "minimize",
    },
    "regression": {
        "rmse": "minimize",
        "mae": "minimize",
        "r2": "maximize",
    },
}
ESTIMATORS = {
    "classification": ("hist_gradient_boosting", "random_forest", "logistic_regression"),
    "regression": ("hist_gradient_boosting", "random_forest", "ridge"),
}
Estimator = Literal["hist_gradient_boosting", "random_forest", "logistic_regression", "ridge"]


def direction_of(metric: str) -> str:
    """``maximize`` or ``minimize`` for a metric the evaluation computes."""
    for table in METRICS.values():
        if metric in table:
            return table[metric]
    raise ConfigError(f"unknown metric {metric!r}; known: {', '.join(m for t in METRICS.values() for m in t)}")


def _number(value: Any) -> Any:
    """YAML numbers only: ``true`` or ``"0.5"`` where a number belongs is a mistake, not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_number)]
Name = Annotated[str, Field(min_length=1)]
SECTION = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


@dataclass(frozen=True, config=SECTION)
class DatasetConfig:
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)] = "transactions"
    uri: str | None = None  # None: the built-in simulator
    format: Literal["csv", "parquet"] | None = None  # None: from the file extension
    timestamp_column: Name = "event_time"
    target: Name = "is_fraud"
    task: Task = "classification"
    features: tuple[str, ...] | None = None  # None: every other column
    exclude_columns: tuple[str, ...] = ()
    suite: str | None = None  # path to a GX suite JSON; None: derived from the data
    # binary classification on a label that is not 0/1 (e.g. "Yes"/"No"): the value that means positive (1)
    positive_label: StrictBool | StrictInt | float | str | None = None
    # the entity key: one value per row, carried by predictions and used to join late labels to features
    key_column: str | None = None
    # days after day D that the labels of D's events arrive (0: the batch already holds the label)
    label_delay_days: Annotated[StrictInt, Field(ge=0, le=365)] = 0
    # your own late labels: a CSV/Parquet file or folder holding key_column, target and timestamp_column
    labels_uri: str | None = None

    @_model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        if self.features is not None and (self.target in self.features or self.timestamp_column in self.features):
            raise ValueError("`dataset.features` must not list the target or the timestamp column")
        if self.label_delay_days > 0 and not self.key_column:
            raise ValueError(
                "`dataset.label_delay_days` > 0 needs `dataset.key_column`: the column that joins late labels to "
                "their features (one value per row)"
            )
        if self.labels_uri is not None and self.label_delay_days == 0:
            raise ValueError("`dataset.labels_uri` is only read with `dataset.label_delay_days` > 0; set both")
        if self.positive_label is not None and self.task != "classification":
            raise ValueError(
                f"`dataset.positive_label` only applies to task classification (task is {self.task!r}); remove it"
            )
        return self


def _iso_date(value: Any) -> Any:
    if value is not None:
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"must be a YYYY-MM-DD date, got {value!r}") from None
        return str(value)
    return value


@dataclass(frozen=True, config=SECTION)
class SimulatorConfig:
    seed: StrictInt = 42
    rows_per_day: Annotated[StrictInt, Field(ge=0, le=50_000_000)] = 5000
    scenario: Scenario = "baseline"
    scenario_start: Annotated[str | None, BeforeValidator(_iso_date)] = None  # where a drift scenario starts
    faults: dict[Annotated[str, BeforeValidator(_iso_date)], Fault] = field(default_factory=dict)  # date -> kind


@dataclass(frozen=True, config=SECTION)
class LakeConfig:
    root: Name = "data/lake"  # relative to the project root, an absolute path, or s3://bucket/prefix
    aws_conn_id: str = "aws_default"


MAX_CANDIDATES = 20


@dataclass(frozen=True, config=SECTION)
class Candidate:
    """One estimator train_and_promote trains beside the others (``model.candidates``); ``grid`` lists values per
    param, and every combination (merged over ``params``) is a candidate of its own."""

    estimator: Estimator
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)] | None = None  # None: estimator
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Annotated[tuple[Any, ...], Field(min_length=1)]] = field(default_factory=dict)


@dataclass(frozen=True, config=SECTION)
class ModelConfig:
    name: str = ""  # empty: <dataset.name>_<dataset.task>
    estimator: Estimator = "hist_gradient_boosting"
    params: dict[str, Any] = field(default_factory=dict)
    # empty: one candidate, `estimator` with `params` (no validation split). Several: trained in parallel, the best
    # on the validation days (training.validation_days) is registered as the challenger
    candidates: tuple[Candidate, ...] = ()


@dataclasses.dataclass(frozen=True)
class CandidateSpec:
    """One concrete candidate of ``model.candidates`` (a grid combination): defined here, beside the config it is
    expanded from, so config validation expands grids without importing the model stage
    (``include.mlops.model.candidates`` re-exports it with the rest of the candidates' logic)."""

    name: str  # unique within the run: the MLflow child run name and the mapped task's label
    estimator: str
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, value: Any) -> CandidateSpec:
        """A spec back from XCom; anything but what ``as_dict`` made raises ``ValueError``."""
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("name"), str)
            or not isinstance(value.get("estimator"), str)
            or not isinstance(value.get("params"), dict)
        ):
            raise ValueError(f"a candidate must be a dict with name, estimator and params, got {value!r}")
        return cls(value["name"], value["estimator"], dict(value["params"]))


def _label(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text.lower())[:20]


def expand_candidates(model: ModelConfig) -> list[CandidateSpec]:
    """Every candidate of ``model`` with its params, grids expanded (combinations in the grid's key order).
    Raises ``ValueError`` for duplicate names or more than ``MAX_CANDIDATES`` candidates."""
    if not model.candidates:
        return [CandidateSpec(model.estimator, model.estimator, dict(model.params))]
    out: list[CandidateSpec] = []
    for cand in model.candidates:
        base = cand.name or cand.estimator
        keys = list(cand.grid)
        combos = list(itertools.product(*(cand.grid[k] for k in keys))) if keys else [()]
        if len(out) + len(combos) > MAX_CANDIDATES:
            raise ValueError(
                f"`model.candidates` expand to more than {MAX_CANDIDATES} candidates (grids multiply); "
                "shorten the grids or list fewer candidates"
            )
        for combo in combos:
            params = {**cand.params, **dict(zip(keys, combo, strict=True))}
            suffix = "-".join(f"{k}-{_label(v)}" for k, v in zip(keys, combo, strict=True))
            out.append(CandidateSpec(f"{base}-{suffix}" if suffix else base, cand.estimator, params))
    names = [c.name for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"`model.candidates` has duplicate names {', '.join(dupes)}; give each candidate its own `name`"
        )
    return out


@dataclass(frozen=True, config=SECTION)
class TrainingConfig:
    window_days: Annotated[StrictInt, Field(ge=2, le=3650)] = 28
    holdout_days: Annotated[StrictInt, Field(ge=1)] = 7
    min_rows: Annotated[StrictInt, Field(ge=1)] = 500
    random_state: StrictInt = 7
    # several model.candidates: the newest N training days (before the holdout) score them; never the holdout
    validation_days: Annotated[StrictInt, Field(ge=1, le=365)] = 3
    # at most this many training rows (a seeded sample stratified by the target, recorded in the lineage with the
    # fraction); None: every row of the window
    max_rows: Annotated[StrictInt, Field(ge=1000)] | None = 2_000_000

    @_model_validator(mode="after")
    def _holdout_inside(self) -> TrainingConfig:
        if self.holdout_days >= self.window_days:
            raise ValueError("`training.holdout_days` must be at least 1 and less than window_days")
        return self


@dataclass(frozen=True, config=SECTION)
class Guardrail:
    metric: str
    max_regression: Number = 0.0  # how much worse than the champion this metric may get


@dataclass(frozen=True, config=SECTION)
class EvaluationConfig:
    primary_metric: str = "average_precision"
    min_improvement: Annotated[Number, Field(ge=0)] = 0.002  # absolute, in the metric's units and good direction
    floor: Number | None = 0.10  # absolute bar the challenger must clear, champion or not
    guardrails: tuple[Guardrail, ...] = (Guardrail("roc_auc", 0.01),)
    # 0: a blessed challenger is promoted at once. N: it scores beside the champion (alias `shadow`) and is
    # promoted once N days of its shadow predictions with matured labels confirm it, or retired
    shadow_days: Annotated[StrictInt, Field(ge=0, le=365)] = 0
    # a shadow still short of shadow_days labelled days this many days after its first shadow day is retired
    shadow_max_wait_days: Annotated[StrictInt, Field(ge=1, le=730)] = 30
    # categorical columns whose values are judged one by one on the holdout: a segment whose primary metric
    # regresses against the champion by more than max_segment_regression blocks the promotion
    segments: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    segment_min_rows: Annotated[StrictInt, Field(ge=1)] = 200  # smaller segments are reported, not judged
    segment_min_positives: Annotated[StrictInt, Field(ge=1)] = 10  # classification: positives a judged segment needs
    max_segment_regression: Annotated[Number, Field(ge=0)] = 0.05  # in the primary metric's units

    @property
    def direction(self) -> str:
        return direction_of(self.primary_metric)


@dataclass(frozen=True, config=SECTION)
class ScoringConfig:
    threshold: Annotated[Number, Field(ge=0, le=1)] = 0.5  # classification: predicted class = score >= threshold


REGRESSION_EVALUATION = EvaluationConfig(
    primary_metric="rmse", min_improvement=0.0, floor=None, guardrails=(Guardrail("mae", 0.0),)
)


@dataclass(frozen=True, config=SECTION)
class ColumnDriftRule:
    method: str | None = None  # an Evidently stat test name, e.g. psi, wasserstein, jensenshannon, ks
    threshold: Number | None = None


@dataclass(frozen=True, config=SECTION)
class DriftConfig:
    window_days: Annotated[StrictInt, Field(ge=1)] = 3  # current window: the last N days before the interval end
    sample_cap: Annotated[StrictInt, Field(ge=100)] = 20_000  # rows per side at most (seeded, stratified)
    seed: StrictInt = 11
    method: str | None = None  # None: Evidently's default per column type and size
    threshold: Number | None = None
    per_column: dict[str, ColumnDriftRule] = field(default_factory=dict)
    exclude_columns: tuple[str, ...] = ()  # e.g. calendar features that differ between any two windows
    drift_share: Annotated[Number, Field(gt=0, le=1)] = 0.3  # dataset drift at this share of drifted columns
    prediction_drift: StrictBool = True  # also compare the champion's score distribution on both windows
    performance_tolerance: Number | None = 0.05  # primary metric drop vs the champion's evaluation; None: off
    performance_window_days: Annotated[StrictInt, Field(ge=1, le=90)] = 7  # realized metric: the N newest matured days
    prediction_reference_days: Annotated[StrictInt, Field(ge=1, le=90)] = 7  # logged scores before the window
    cooldown_days: Annotated[StrictInt, Field(ge=0)] = 7  # no new trigger within this many logical days
    min_drifted_days: Annotated[StrictInt, Field(ge=1)] = 1  # trigger when at least N ...
    lookback_days: Annotated[StrictInt, Field(ge=1)] = 1  # ... of the last M days (today included) drifted
    retrain_window_days: Annotated[StrictInt, Field(ge=2)] | None = None  # None: training.window_days
    retrain_holdout_days: Annotated[StrictInt, Field(ge=1)] | None = None  # None: training.holdout_days
    # a drift-triggered retrain waits until its training days (labels in, before its holdout) hold N drifted or
    # degraded days; None: 1 when dataset.label_delay_days > 0 (no retrain on pre-shift labels), else 0
    min_drifted_training_days: Annotated[StrictInt, Field(ge=0)] | None = None

    @_model_validator(mode="after")
    def _n_of_m(self) -> DriftConfig:
        if self.min_drifted_days > self.lookback_days:
            raise ValueError("need 1 <= drift.min_drifted_days <= drift.lookback_days")
        return self


@dataclass(frozen=True, config=SECTION)
class MlflowConfig:
    conn_id: str = "mlflow_default"
    experiment: str = ""  # empty: the model name


@dataclass(frozen=True, config=SECTION)
class NotifierConfig:
    kind: NotifierKind = "log"
    conn_id: str | None = None  # slack: a Slack API connection (slack_api_default); smtp: smtp_default
    channel: str | None = None  # slack: e.g. "#mlops-alerts"
    to: tuple[str, ...] = ()  # smtp: recipients
    target: str | None = None  # callable: "package.module:function", called with (context, message)

    @_model_validator(mode="after")
    def _complete(self) -> NotifierConfig:
        need = {
            "slack": ("channel", "a channel such as '#mlops-alerts'"),
            "smtp": ("to", "a list of recipients"),
            "callable": ("target", "'package.module:function'"),
        }.get(self.kind)
        if need and not getattr(self, need[0]):
            raise ValueError(f"a {self.kind} notifier needs `{need[0]}`: {need[1]}")
        if self.kind == "callable" and ":" not in str(self.target):
            raise ValueError("a callable notifier's `target` must be 'package.module:function'")
        return self


def _none_is_empty(value: Any) -> Any:
    return () if value is None else value


@dataclass(frozen=True, config=SECTION)
class NotificationsConfig:
    on_failure: Annotated[tuple[NotifierConfig, ...], BeforeValidator(_none_is_empty)] = (NotifierConfig(),)


APPROVER = r"[A-Za-z0-9_.@+-]{1,128}"  # an Airflow user name (the auth manager's user id)
DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd])")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> Any:
    """``"24h"``, ``"90m"``, ``"2d"``, ``"30s"`` (or a number of seconds) -> seconds; anything else is left for the
    type check to refuse with the field's name."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (m := DURATION.fullmatch(value.strip())):
        return float(m.group(1)) * DURATION_UNITS[m.group(2)]
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: write a number and a unit, such as 24h, 90m, 2d or 30s")
    return value


@dataclass(frozen=True, config=SECTION)
class PromotionConfig:
    # never: unattended, as before. always: every blessed challenger waits for a human. on_drift: only runs that
    # drift_monitor triggered wait
    approval: Literal["never", "always", "on_drift"] = "never"
    approvers: tuple[Annotated[str, Field(pattern=f"^{APPROVER}$")], ...] = ()  # empty: anyone who may act on the DAG
    # seconds (config: "24h", "90m", "2d"); after it the answer is Reject
    approval_timeout: Annotated[float, BeforeValidator(_duration), Field(ge=60, le=30 * 86400)] = 86400.0

    @property
    def timeout(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.approval_timeout)


PIPELINE_NAME = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"  # no "__": DAG ids are <name>__<dag>


@dataclass(frozen=True, config=SECTION)
class PipelineConfig:
    # the pipeline's name in a folder of pipelines (MLOPS_PIPELINES): its DAG ids are <name>__<dag>; None: the
    # file name. Ignored for the main config (MLOPS_CONFIG), whose DAGs keep their plain ids
    name: Annotated[str, Field(pattern=PIPELINE_NAME, max_length=40)] | None = None
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    lake: LakeConfig = field(default_factory=LakeConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    source_path: str = "<defaults>"

    @_model_validator(mode="after")
    def _fits_the_task(self) -> PipelineConfig:
        task = self.dataset.task
        if self.dataset.uri is None and task != "classification":
            raise ValueError("the built-in simulator makes a classification dataset; set `dataset.uri`")
        if self.dataset.uri is not None and self.dataset.label_delay_days > 0 and self.dataset.labels_uri is None:
            raise ValueError(
                "`dataset.label_delay_days` > 0 with your own source needs `dataset.labels_uri`: where the late "
                "labels land (a file or folder with the key, target and timestamp columns)"
            )
        ev = self.evaluation
        if ev.shadow_days and ev.shadow_max_wait_days < ev.shadow_days + self.dataset.label_delay_days:
            raise ValueError(
                f"`evaluation.shadow_max_wait_days` ({ev.shadow_max_wait_days}) is shorter than shadow_days "
                f"({ev.shadow_days}) + dataset.label_delay_days ({self.dataset.label_delay_days}): a shadow "
                "challenger could never collect its labelled days before it is retired. Raise it to at least "
                f"{ev.shadow_days + self.dataset.label_delay_days}"
            )
        # every part that does not fit the task, in one message: a file copied from the other task's has several
        problems: list[str] = []
        if self.model.estimator not in ESTIMATORS[task]:
            problems.append(
                f"`model.estimator` {self.model.estimator!r} does not fit task {task!r}; "
                f"use one of {', '.join(ESTIMATORS[task])}"
            )
        for i, cand in enumerate(self.model.candidates):
            if cand.estimator not in ESTIMATORS[task]:
                problems.append(
                    f"`model.candidates[{i}].estimator` {cand.estimator!r} does not fit task {task!r}; "
                    f"use one of {', '.join(ESTIMATORS[task])}"
                )
        allowed = METRICS[task]
        for metric in (self.evaluation.primary_metric, *(g.metric for g in self.evaluation.guardrails)):
            if metric not in allowed:
                default = REGRESSION_EVALUATION if task == "regression" else EvaluationConfig()
                problems.append(
                    f"metric {metric!r} is not computed for {task}; use one of {', '.join(allowed)}. "
                    f"Leaving the `evaluation` section out gives the {task} defaults ({default.primary_metric}, "
                    f"guardrails {', '.join(g.metric for g in default.guardrails) or 'none'}); "
                    f"see include/config/examples/{task}.yaml"
                )
                break
        if problems:
            raise ValueError("; ".join(problems))
        if self.model.candidates:
            expand_candidates(self.model)  # raises ValueError on duplicate names or too many combinations
        return self

    @property
    def lake_root(self) -> str:
        root = self.lake.root
        if root.startswith("s3://") or os.path.isabs(root):
            return root
        return str(PROJECT_ROOT / root)

    def suite_path(self) -> Path | None:
        if self.dataset.suite is None:
            return None
        path = Path(self.dataset.suite)
        return path if path.is_absolute() else PROJECT_ROOT / path


_ADAPTER = TypeAdapter(PipelineConfig)


def _fields_at(loc: tuple[Any, ...]) -> list[str] | None:
    """The accepted keys of the mapping at ``loc`` (a pydantic error location), when it is a config section."""
    cls: Any = PipelineConfig
    parts = list(loc)
    while parts:
        origin = get_origin(cls)
        if origin in (tuple, dict):  # the next part is an index or a mapping key: step into the item type
            cls = get_args(cls)[-1 if origin is dict else 0]
            parts.pop(0)
            continue
        if origin is not None:  # X | None, Annotated[X, ...]
            cls = next(a for a in get_args(cls) if a is not type(None))
            continue
        hints = get_type_hints(cls) if is_dataclass(cls) else {}
        if parts[0] not in hints:
            return None
        cls = hints[parts.pop(0)]
    while get_origin(cls) is not None and get_origin(cls) not in (tuple, dict):
        cls = next(a for a in get_args(cls) if a is not type(None))
    if not is_dataclass(cls):
        return None
    return [f.name for f in fields(cls) if f.name != "source_path"]


def _key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid mapping key
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(exc: ValidationError, where: str) -> str:
    """pydantic's errors as this project's messages: the file, the dotted key, what is wrong, what is accepted."""
    lines = []
    for err in exc.errors(include_url=False):
        loc, kind, msg = tuple(err["loc"]), err["type"], err["msg"]
        key = _key(loc)
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            accepted = _fields_at(loc[:-1])
            if len(loc) == 1:
                lines.append(f"unknown section(s) {loc[0]}; accepted: {', '.join(accepted or [])}")
            else:
                lines.append(f"unknown key(s) {key}; accepted keys are {', '.join(sorted(accepted or []))}")
        elif kind == "value_error":
            text = str(err.get("ctx", {}).get("error", msg.removeprefix("Value error, ")))
            lines.append(f"`{key}` {text}" if len(loc) > 1 and f"{key}" not in text else text)
        elif kind == "literal_error":
            accepted = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            lines.append(f"`{key}` is {err['input']!r}; use one of {', '.join(accepted)}")
        elif kind in ("tuple_type", "list_type"):
            lines.append(f"`{key}` must be a list, got {err['input']!r}")
        elif kind in ("dataclass_type", "dataclass_exact_type", "model_type", "dict_type"):
            lines.append(f"`{key or 'the top level'}` must be a mapping of keys, got {type(err['input']).__name__}")
        else:
            lines.append(f"`{key}`: {msg[0].lower() + msg[1:]}, got {err['input']!r}")
    return f"{where}: " + "; ".join(lines)


def parse_config(raw: Any, source_path: str = "<dict>") -> PipelineConfig:
    """Validate a parsed YAML document into a ``PipelineConfig``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source_path}: the top level must be a mapping of sections")
    doc = {k: v for k, v in raw.items() if v is not None}  # an empty section in YAML keeps its defaults
    dataset: dict[str, Any] = doc["dataset"] if isinstance(doc.get("dataset"), dict) else {}
    if dataset.get("task") == "regression" and isinstance(doc.get("evaluation", {}), dict):
        base = {
            "primary_metric": REGRESSION_EVALUATION.primary_metric,
            "min_improvement": REGRESSION_EVALUATION.min_improvement,
            "floor": REGRESSION_EVALUATION.floor,
            "guardrails": [
                {"metric": g.metric, "max_regression": g.max_regression} for g in REGRESSION_EVALUATION.guardrails
            ],
        }
        doc["evaluation"] = {**base, **doc.get("evaluation", {})}
    try:
        cfg = _ADAPTER.validate_python({**doc, "source_path": source_path})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source_path)) from None
    model = cfg.model if cfg.model.name else replace(cfg.model, name=f"{cfg.dataset.name}_{cfg.dataset.task}")
    mlflow_cfg = cfg.mlflow if cfg.mlflow.experiment else replace(cfg.mlflow, experiment=model.name)
    # local sources relative to the project root, like lake.root: a task's working directory is not the project's
    source = cfg.dataset
    located = replace(source, uri=_from_project(source.uri), labels_uri=_from_project(source.labels_uri))
    return replace(cfg, model=model, mlflow=mlflow_cfg, dataset=located)


def _from_project(uri: str | None) -> str | None:
    if uri is None or "://" in uri or os.path.isabs(uri):
        return uri
    return str(PROJECT_ROOT / uri)


PIPELINE_LAKE = "data/lake/pipelines"  # a folder pipeline's lake when its file sets no lake.root: <here>/<name>


def _as_pipeline(raw: Any, name: str, where: Path) -> Any:
    """A folder pipeline's document: its name filled in (a different ``name`` is refused) and, when it sets no
    ``lake.root``, a lake of its own under ``PIPELINE_LAKE``."""
    if not isinstance(raw, dict):
        return raw
    if raw.get("name") not in (None, name):
        raise ConfigError(f"{where}: `name` is {raw['name']!r} but the pipeline is {name!r}; keep one name")
    given = raw.get("lake")
    out = {**raw, "name": name}
    if given is None or (isinstance(given, dict) and given.get("root") is None):
        out["lake"] = {**(given or {}), "root": f"{PIPELINE_LAKE}/{name}"}
    return out


def load_config(path: str | os.PathLike | None = None, *, pipeline: str | None = None) -> PipelineConfig:
    """Load the config from ``path``, else ``$MLOPS_CONFIG``, else the project default. ``pipeline``: the
    name of a pipeline from the ``MLOPS_PIPELINES`` folder (``path`` is its file; see ``_as_pipeline``)."""
    import yaml

    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    if not chosen.is_file():
        raise ConfigError(
            f"config file {chosen} does not exist; point {CONFIG_ENV} at a YAML file "
            f"(see README, 'Bring your own data') or unset it to use {DEFAULT_CONFIG_PATH}"
        )
    try:
        raw = yaml.safe_load(chosen.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen} is not valid YAML: {exc}") from exc
    if pipeline is not None:
        raw = _as_pipeline(raw, pipeline, chosen)
    return parse_config(raw, str(chosen))
