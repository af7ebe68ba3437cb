"""Train a scikit-learn pipeline on a checked window, log it to MLflow, register it as the challenger.

``train_and_register`` is idempotent for a run key (``<dag_id>/<run_id>``): a retried or re-run task
finds the version it registered before (version tag ``airflow_run_key``) or the finished MLflow run
it logged (run tag of the same name) and reuses it instead of registering a second version.
The window itself is ``include.mlops.window``; versions and aliases are ``include.mlops.registry``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.config import PipelineConfig
from include.mlops.evaluation import compute_metrics, score
from include.mlops.lake import Lake
from include.mlops.registry import CHALLENGER, RUN_KEY_TAG, find_registered, register_version
from include.mlops.window import TrainingData, Window, assemble_window, window_from_check

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


def feature_columns(frame: pd.DataFrame, cfg: PipelineConfig) -> tuple[list[str], list[str]]:
    """(numeric, categorical) features: the configured list, else every column but target/timestamp/excluded."""
    import pandas as pd

    ds = cfg.dataset
    skip = {ds.target, ds.timestamp_column, *ds.exclude_columns}
    names = list(ds.features) if ds.features else [c for c in frame.columns if c not in skip]
    if not ds.features:  # id-like text columns (unique per row) carry no signal
        names = [c for c in names if not (frame[c].dtype == object and frame[c].nunique() > 0.5 * max(len(frame), 1))]
    numeric = [c for c in names if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in names if c not in numeric]
    return numeric, categorical


def build_pipeline(cfg: PipelineConfig, numeric: list[str], categorical: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    task, name = cfg.dataset.task, cfg.model.estimator
    params = dict(cfg.model.params)
    seed = cfg.training.random_state
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if name in ("logistic_regression", "ridge"):
        numeric_steps.append(("scale", StandardScaler()))
    pre = ColumnTransformer(
        [
            ("num", Pipeline(numeric_steps), numeric),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=0.001, sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ]
    )
    cls: Any
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
        params.setdefault("random_state", seed)
    elif name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
        params.setdefault("random_state", seed)
        params.setdefault("n_jobs", 1)
    elif name == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        cls = LogisticRegression
        params.setdefault("max_iter", 1000)
    else:
        from sklearn.linear_model import Ridge

        cls = Ridge
    return Pipeline([("pre", pre), ("model", cls(**params))])


@dataclass(frozen=True)
class TrainingResult:
    model_name: str
    version: str
    run_id: str
    reused: bool
    rows_train: int
    rows_holdout: int
    metrics: dict[str, float]
    window: dict[str, str]
    partitions: list[str]
    missing_days: list[str]
    content_hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_requirements() -> list[str]:
    """The pinned packages a logged pipeline needs to load and predict."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "skops", "numpy", "scipy", "pandas")]


TRUSTED_MODULES = ("numpy.", "sklearn.", "scipy.")


def trusted_types(pipeline: Any) -> list[str]:
    """Types skops must be told to trust to load our own pipeline; refuses anything outside sklearn/numpy/scipy."""
    import skops.io

    types = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    foreign = [t for t in types if not t.startswith(TRUSTED_MODULES)]
    if foreign:
        raise TypeError(f"pipeline holds types outside {TRUSTED_MODULES}: {foreign}; refusing to mark them trusted")
    return types


def train_and_register(
    client: MlflowClient,
    tracking_uri: str,
    cfg: PipelineConfig,
    data: TrainingData,
    window: Window,
    run_key: str,
    airflow_tags: dict[str, str],
) -> TrainingResult:
    """Train on ``data.train``, log everything to MLflow, register a version with alias ``challenger``."""
    import mlflow
    from mlflow.models import infer_signature

    name = cfg.model.name
    task = cfg.dataset.task
    target = cfg.dataset.target

    def result(version: Any, run_id: str, reused: bool, metrics: dict[str, float]) -> TrainingResult:
        return TrainingResult(
            model_name=name,
            version=str(version.version),
            run_id=run_id,
            reused=reused,
            rows_train=len(data.train),
            rows_holdout=len(data.holdout),
            metrics=metrics,
            window=window.as_dict(),
            partitions=[p["ds"] for p in data.partitions],
            missing_days=data.missing_days,
            content_hash=data.content_hash,
        )

    existing = find_registered(client, name, run_key)
    if existing is not None:
        log.info("run key %s already registered %s version %s; reusing it", run_key, name, existing.version)
        client.set_registered_model_alias(name, CHALLENGER, existing.version)
        metrics = client.get_run(existing.run_id).data.metrics if existing.run_id else {}
        return result(existing, existing.run_id, True, dict(metrics))

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment(cfg.mlflow.experiment)
    # a finished run from an earlier attempt that crashed before registering: register it now
    previous = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.{RUN_KEY_TAG} = '{run_key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    if previous and previous[0].data.tags.get("model_uri"):
        run = previous[0]
        log.info("run key %s already has finished MLflow run %s; registering its model", run_key, run.info.run_id)
        version = register_version(client, cfg, run.info.run_id, run.data.tags["model_uri"], run_key, airflow_tags)
        return result(version, run.info.run_id, True, dict(run.data.metrics))
    # runs an earlier attempt left RUNNING (it died, or lost the server before it could end them): close them
    # so the experiment shows one finished run per DAG run, and the failed attempts as failed
    for stale in client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.{RUN_KEY_TAG} = '{run_key}' and attributes.status = 'RUNNING'"
    ):
        log.info("closing run %s left RUNNING by an earlier attempt of %s", stale.info.run_id, run_key)
        client.set_terminated(stale.info.run_id, "FAILED")

    numeric, categorical = feature_columns(data.train, cfg)
    features = numeric + categorical
    pipeline = build_pipeline(cfg, numeric, categorical)
    x_train, y_train = data.train[features], data.train[target]
    x_hold, y_hold = data.holdout[features], data.holdout[target]
    with mlflow.start_run(run_name=f"train {window.end}", tags={RUN_KEY_TAG: run_key, **airflow_tags}) as run:
        mlflow.log_params(
            {
                "estimator": cfg.model.estimator,
                **{f"model.{k}": v for k, v in cfg.model.params.items()},
                "task": task,
                "target": target,
                "window_start": window.start.isoformat(),
                "holdout_start": window.holdout_start.isoformat(),
                "window_end": window.end.isoformat(),
                "rows_train": len(x_train),
                "rows_holdout": len(x_hold),
                "n_numeric": len(numeric),
                "n_categorical": len(categorical),
                "config_file": cfg.source_path,
                "label_delay_days": data.label_delay_days,
                "labels_matured_through": data.labels_matured_through or "none",
            }
        )
        mlflow.set_tags(
            {
                "data.content_hash": data.content_hash,
                "data.partitions": ",".join(p["ds"] for p in data.partitions),
                "data.missing_days": ",".join(data.missing_days),
                "data.dataset": cfg.dataset.name,
                "data.label_delay_days": str(data.label_delay_days),
                "data.labels_matured_through": data.labels_matured_through or "",
                "data.immature_days": ",".join(data.immature_days),
                "data.unlabelled_rows": str(data.unlabelled_rows),
            }
        )
        mlflow.log_dict(
            {
                "partitions": data.partitions,
                "missing_days": data.missing_days,
                "content_hash": data.content_hash,
                "window": window.as_dict(),
                "features": {"numeric": numeric, "categorical": categorical},
                **data.label_lineage(),
            },
            "lineage/training_data.json",
        )
        pipeline.fit(x_train, y_train)
        metrics = {f"holdout_{k}": v for k, v in compute_metrics(task, y_hold, score(pipeline, x_hold, task)).items()}
        metrics.update(
            {f"train_{k}": v for k, v in compute_metrics(task, y_train, score(pipeline, x_train, task)).items()}
        )
        mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # NaN-free
        example = x_train.head(5)
        with warnings.catch_warnings():  # integer columns: the hint about missing values is noise here
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(example, score(pipeline, example, task))
        with warnings.catch_warnings():
            # Pickling the pipeline's scipy functions makes Python look through every loaded module, and
            # Airflow's deprecated module shims warn each time (~1,000 lines burying the task log).
            warnings.filterwarnings("ignore", message=r"The `airflow\.")
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=signature,
                input_example=example,
                serialization_format="skops",
                skops_trusted_types=trusted_types(pipeline),
                pip_requirements=model_requirements(),  # inferring them costs a subprocess and ~4 s
            )
        mlflow.set_tag("model_uri", info.model_uri)
        run_id = run.info.run_id
    version = register_version(client, cfg, run_id, info.model_uri, run_key, airflow_tags)
    log.info("registered %s version %s from run %s with alias %s", name, version.version, run_id, CHALLENGER)
    return result(version, run_id, False, metrics)


def train_on_check(
    client: MlflowClient,
    tracking_uri: str,
    cfg: PipelineConfig,
    lake: Lake,
    check: dict[str, Any],
    run_key: str,
    tags: dict[str, str],
    drift_summary: dict[str, Any] | None = None,
) -> TrainingResult:
    """``train_and_register`` on exactly the partitions ``check`` (a ``check_window`` result) validated; a
    partition that changed or vanished since raises ``InsufficientData``. ``drift_summary`` (what a drift check
    triggered the run with) is logged as the run's ``trigger/drift_summary.json``, again on a reused run."""
    window = window_from_check(check)
    data = assemble_window(
        lake, cfg, window, expected=check["partitions"], expected_labels=check.get("label_partitions") or None
    )
    result = train_and_register(client, tracking_uri, cfg, data, window, run_key, tags)
    if drift_summary is not None:
        client.log_dict(result.run_id, drift_summary, "trigger/drift_summary.json")
    return result
