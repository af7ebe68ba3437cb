"""The pipeline config: one YAML file, validated into frozen dataclasses.

The file used is ``$MLOPS_CONFIG`` when set, else ``include/config/mlops.yaml``. Every key has a
default except what the data itself must tell us; a wrong key or value raises ``ConfigError``
naming the key, the file and what is accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from include.mlops.exceptions import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "include" / "config" / "mlops.yaml"
CONFIG_ENV = "MLOPS_CONFIG"

TASKS = ("classification", "regression")
SCENARIOS = ("baseline", "gradual_drift", "abrupt_drift")
FAULTS = (
    "nulls",
    "out_of_range",
    "unknown_category",
    "missing_column",
    "wrong_dtype",
    "duplicate_rows",
    "empty_day",
)
# metric -> direction; the evaluation module computes exactly these.
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


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "transactions"
    uri: str | None = None  # None: the built-in simulator
    format: str | None = None  # csv | parquet; None: from the file extension
    timestamp_column: str = "event_time"
    target: str = "is_fraud"
    task: str = "classification"
    features: tuple[str, ...] | None = None  # None: every other column
    exclude_columns: tuple[str, ...] = ()
    suite: str | None = None  # path to a GX suite JSON; None: derived from the data
    # binary classification on a label that is not 0/1 (e.g. "Yes"/"No"): the value that means positive (1)
    positive_label: str | int | float | bool | None = None


@dataclass(frozen=True)
class SimulatorConfig:
    seed: int = 42
    rows_per_day: int = 5000
    scenario: str = "baseline"
    scenario_start: str | None = None  # ISO date where a drift scenario starts
    faults: dict[str, str] = field(default_factory=dict)  # ISO date -> fault kind


@dataclass(frozen=True)
class LakeConfig:
    root: str = "data/lake"  # relative to the project root, an absolute path, or s3://bucket/prefix
    aws_conn_id: str = "aws_default"


@dataclass(frozen=True)
class ModelConfig:
    name: str | None = None  # None: <dataset.name>_<dataset.task>
    estimator: str = "hist_gradient_boosting"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingConfig:
    window_days: int = 28
    holdout_days: int = 7
    min_rows: int = 500
    random_state: int = 7


@dataclass(frozen=True)
class Guardrail:
    metric: str
    max_regression: float = 0.0  # how much worse than the champion this metric may get


@dataclass(frozen=True)
class EvaluationConfig:
    primary_metric: str = "average_precision"
    min_improvement: float = 0.002  # absolute, in the metric's own units, in its good direction
    floor: float | None = 0.10  # absolute bar the challenger must clear, champion or not
    guardrails: tuple[Guardrail, ...] = (Guardrail("roc_auc", 0.01),)

    @property
    def direction(self) -> str:
        for table in METRICS.values():
            if self.primary_metric in table:
                return table[self.primary_metric]
        raise ConfigError(f"unknown metric {self.primary_metric!r}")


@dataclass(frozen=True)
class ColumnDriftRule:
    method: str | None = None  # an Evidently stat test name, e.g. psi, wasserstein, jensenshannon, ks
    threshold: float | None = None


@dataclass(frozen=True)
class DriftConfig:
    window_days: int = 3  # current window: the last N days before the run's data interval end
    sample_cap: int = 20_000  # rows per side at most (seeded, stratified by the target)
    seed: int = 11
    method: str | None = None  # None: Evidently's default per column type and size
    threshold: float | None = None
    per_column: dict[str, ColumnDriftRule] = field(default_factory=dict)
    exclude_columns: tuple[str, ...] = ()  # e.g. calendar features that differ between any two windows
    drift_share: float = 0.3  # dataset drift when at least this share of feature columns drift
    prediction_drift: bool = True  # also compare the champion's score distribution on both windows
    performance_tolerance: float | None = 0.05  # primary metric drop vs the champion's evaluation; None: off
    cooldown_days: int = 7  # no new trigger within this many logical days of the last one
    min_drifted_days: int = 1  # trigger when at least N ...
    lookback_days: int = 1  # ... of the last M days (today included) drifted
    retrain_window_days: int | None = None  # window of a drift-triggered retrain; None: training.window_days
    retrain_holdout_days: int | None = None  # its holdout; None: training.holdout_days


@dataclass(frozen=True)
class MlflowConfig:
    conn_id: str = "mlflow_default"
    experiment: str = "fraud_detector"


NOTIFIER_KINDS = ("log", "slack", "smtp", "callable")


@dataclass(frozen=True)
class NotifierConfig:
    kind: str = "log"  # log | slack | smtp | callable
    conn_id: str | None = None  # slack: a Slack API connection (slack_api_default); smtp: smtp_default
    channel: str | None = None  # slack: e.g. "#mlops-alerts"
    to: tuple[str, ...] = ()  # smtp: recipients
    target: str | None = None  # callable: "package.module:function", called with (context, message)


@dataclass(frozen=True)
class NotificationsConfig:
    on_failure: tuple[NotifierConfig, ...] = (NotifierConfig(),)


@dataclass(frozen=True)
class PipelineConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    lake: LakeConfig = field(default_factory=LakeConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    source_path: str = "<defaults>"

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


REGRESSION_EVALUATION = EvaluationConfig(
    primary_metric="rmse", min_improvement=0.0, floor=None, guardrails=(Guardrail("mae", 0.0),)
)


def _build(cls: type, raw: Any, section: str, where: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: `{section}` must be a mapping, got {type(raw).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
            f"accepted keys are {', '.join(sorted(known))}"
        )
    values = dict(raw)
    if cls is DriftConfig and isinstance(values.get("per_column"), dict):
        rules = {}
        for col, rule in values["per_column"].items():
            if not isinstance(rule, dict) or set(rule) - {"method", "threshold"}:
                raise ConfigError(f"{where}: `drift.per_column.{col}` must be a mapping with method and/or threshold")
            rules[str(col)] = ColumnDriftRule(**rule)
        values["per_column"] = rules
    for key in ("features", "exclude_columns", "to"):
        if key in values and values[key] is not None:
            if not isinstance(values[key], list):
                raise ConfigError(f"{where}: `{section}.{key}` must be a list of column names")
            values[key] = tuple(str(v) for v in values[key])
    return cls(**values)


def _check_type(where: str, key: str, value: Any, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}: `{key}` must be a number, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: `{key}` must be {getattr(kind, '__name__', kind)}, got {value!r}")


def _validate(cfg: PipelineConfig) -> PipelineConfig:
    where = cfg.source_path
    ds = cfg.dataset
    if ds.task not in TASKS:
        raise ConfigError(f"{where}: `dataset.task` is {ds.task!r}; use one of {', '.join(TASKS)}")
    if ds.format not in (None, "csv", "parquet"):
        raise ConfigError(f"{where}: `dataset.format` is {ds.format!r}; use csv, parquet or leave it out")
    for key in ("timestamp_column", "target", "name"):
        if not isinstance(getattr(ds, key), str) or not getattr(ds, key):
            raise ConfigError(f"{where}: `dataset.{key}` must be a non-empty string")
    if ds.features is not None and (ds.target in ds.features or ds.timestamp_column in ds.features):
        raise ConfigError(f"{where}: `dataset.features` must not list the target or the timestamp column")
    if ds.positive_label is not None and ds.task != "classification":
        raise ConfigError(
            f"{where}: `dataset.positive_label` only applies to task classification (task is {ds.task!r}); remove it"
        )
    if ds.positive_label is not None and not isinstance(ds.positive_label, str | int | float | bool):
        raise ConfigError(
            f'{where}: `dataset.positive_label` must be one label value, e.g. "Yes", got {ds.positive_label!r}'
        )
    sim = cfg.simulator
    _check_type(where, "simulator.seed", sim.seed, int)
    _check_type(where, "simulator.rows_per_day", sim.rows_per_day, int)
    if not 0 <= sim.rows_per_day <= 50_000_000:
        raise ConfigError(f"{where}: `simulator.rows_per_day` must be between 0 and 50,000,000")
    if sim.scenario not in SCENARIOS:
        raise ConfigError(f"{where}: `simulator.scenario` is {sim.scenario!r}; use one of {', '.join(SCENARIOS)}")
    for day, fault in sim.faults.items():
        if fault not in FAULTS:
            raise ConfigError(f"{where}: `simulator.faults[{day}]` is {fault!r}; use one of {', '.join(FAULTS)}")
    if ds.uri is None and ds.task != "classification":
        raise ConfigError(f"{where}: the built-in simulator makes a classification dataset; set `dataset.uri`")
    tr = cfg.training
    for key in ("window_days", "holdout_days", "min_rows"):
        _check_type(where, f"training.{key}", getattr(tr, key), int)
    if not 2 <= tr.window_days <= 3650:
        raise ConfigError(f"{where}: `training.window_days` must be between 2 and 3650")
    if not 1 <= tr.holdout_days < tr.window_days:
        raise ConfigError(f"{where}: `training.holdout_days` must be at least 1 and less than window_days")
    model = cfg.model
    if model.estimator not in ESTIMATORS[ds.task]:
        raise ConfigError(
            f"{where}: `model.estimator` {model.estimator!r} does not fit task {ds.task!r}; "
            f"use one of {', '.join(ESTIMATORS[ds.task])}"
        )
    if not isinstance(model.params, dict):
        raise ConfigError(f"{where}: `model.params` must be a mapping of estimator keyword arguments")
    ev = cfg.evaluation
    allowed = METRICS[ds.task]
    for metric in (ev.primary_metric, *(g.metric for g in ev.guardrails)):
        if metric not in allowed:
            default = REGRESSION_EVALUATION if ds.task == "regression" else EvaluationConfig()
            raise ConfigError(
                f"{where}: metric {metric!r} is not computed for {ds.task}; use one of {', '.join(allowed)}. "
                f"Leaving the `evaluation` section out gives the {ds.task} defaults ({default.primary_metric}, "
                f"guardrails {', '.join(g.metric for g in default.guardrails) or 'none'}); "
                f"see include/config/examples/{ds.task}.yaml"
            )
    _check_type(where, "evaluation.min_improvement", ev.min_improvement, (int, float))
    if ev.min_improvement < 0:
        raise ConfigError(f"{where}: `evaluation.min_improvement` must be >= 0")
    dr = cfg.drift
    for key in ("window_days", "sample_cap", "cooldown_days", "min_drifted_days", "lookback_days"):
        _check_type(where, f"drift.{key}", getattr(dr, key), int)
    if dr.window_days < 1 or dr.sample_cap < 100 or dr.cooldown_days < 0:
        raise ConfigError(f"{where}: drift.window_days >= 1, drift.sample_cap >= 100 and drift.cooldown_days >= 0")
    if not 1 <= dr.min_drifted_days <= dr.lookback_days:
        raise ConfigError(f"{where}: need 1 <= drift.min_drifted_days <= drift.lookback_days")
    if not 0 < dr.drift_share <= 1:
        raise ConfigError(f"{where}: `drift.drift_share` must be in (0, 1]")
    if not cfg.lake.root:
        raise ConfigError(f"{where}: `lake.root` must be a path or s3:// URI")
    return cfg


def parse_config(raw: Any, source_path: str = "<dict>") -> PipelineConfig:
    """Validate a parsed YAML document into a ``PipelineConfig``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source_path}: the top level must be a mapping of sections")
    sections = {f.name: f.type for f in fields(PipelineConfig) if f.name != "source_path"}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError(f"{source_path}: unknown section(s) {', '.join(unknown)}; accepted: {', '.join(sections)}")
    dataset = _build(DatasetConfig, raw.get("dataset"), "dataset", source_path)
    evaluation_raw = raw.get("evaluation")
    base_eval = REGRESSION_EVALUATION if dataset.task == "regression" else EvaluationConfig()
    if evaluation_raw is None:
        evaluation = base_eval
    else:
        if not isinstance(evaluation_raw, dict):
            raise ConfigError(f"{source_path}: `evaluation` must be a mapping")
        values = dict(evaluation_raw)
        if "guardrails" in values:
            guards = values["guardrails"] or []
            if not isinstance(guards, list) or not all(isinstance(g, dict) and "metric" in g for g in guards):
                raise ConfigError(
                    f"{source_path}: `evaluation.guardrails` must be a list of {{metric, max_regression}}"
                )
            values["guardrails"] = tuple(Guardrail(**g) for g in guards)
        known = {f.name for f in fields(EvaluationConfig)}
        if set(values) - known:
            raise ConfigError(
                f"{source_path}: unknown key(s) in `evaluation`: {', '.join(sorted(set(values) - known))}"
            )
        evaluation = replace(base_eval, **values)
    model_raw = raw.get("model")
    model = _build(ModelConfig, model_raw, "model", source_path)
    if not model.name:
        model = replace(model, name=f"{dataset.name}_{dataset.task}")
    mlflow_raw = raw.get("mlflow")
    mlflow_cfg = _build(MlflowConfig, mlflow_raw, "mlflow", source_path)
    if not (mlflow_raw or {}).get("experiment"):
        mlflow_cfg = replace(mlflow_cfg, experiment=model.name)
    cfg = PipelineConfig(
        dataset=dataset,
        simulator=_build(SimulatorConfig, raw.get("simulator"), "simulator", source_path),
        lake=_build(LakeConfig, raw.get("lake"), "lake", source_path),
        model=model,
        training=_build(TrainingConfig, raw.get("training"), "training", source_path),
        evaluation=evaluation,
        mlflow=mlflow_cfg,
        drift=_build(DriftConfig, raw.get("drift"), "drift", source_path),
        notifications=_notifications(raw.get("notifications"), source_path),
        source_path=source_path,
    )
    return _validate(cfg)


def _notifications(raw: Any, where: str) -> NotificationsConfig:
    """``notifications.on_failure``: a list of notifiers, each ``{kind: log|slack|smtp|callable, ...}``."""
    if raw is None:
        return NotificationsConfig()
    if not isinstance(raw, dict) or set(raw) - {"on_failure"}:
        raise ConfigError(f"{where}: `notifications` must be a mapping with the key on_failure")
    items = raw.get("on_failure") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{where}: `notifications.on_failure` must be a list of mappings, e.g. [{{kind: log}}]")
    notifiers = []
    for i, item in enumerate(items):
        n = _build(NotifierConfig, item, f"notifications.on_failure[{i}]", where)
        need = {
            "slack": ("channel", "a channel such as '#mlops-alerts'"),
            "smtp": ("to", "a list of recipients"),
            "callable": ("target", "'package.module:function'"),
        }.get(n.kind)
        if n.kind not in NOTIFIER_KINDS:
            raise ConfigError(
                f"{where}: `notifications.on_failure[{i}].kind` is {n.kind!r}; use one of {', '.join(NOTIFIER_KINDS)}"
            )
        if need and not getattr(n, need[0]):
            raise ConfigError(f"{where}: a {n.kind} notifier needs `{need[0]}`: {need[1]}")
        if n.kind == "callable" and ":" not in str(n.target):
            raise ConfigError(f"{where}: `notifications.on_failure[{i}].target` must be 'package.module:function'")
        notifiers.append(n)
    return NotificationsConfig(on_failure=tuple(notifiers))


def load_config(path: str | os.PathLike | None = None) -> PipelineConfig:
    """Load the config from ``path``, else ``$MLOPS_CONFIG``, else the project default."""
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
    try:
        return parse_config(raw, str(chosen))
    except TypeError as exc:  # a dataclass got a value of the wrong shape
        raise ConfigError(f"{chosen}: {exc}") from exc
