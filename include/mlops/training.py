"""Assemble a training window from curated partitions, train a scikit-learn pipeline, log it to MLflow.

``train_and_register`` is idempotent for a run key (``<dag_id>/<run_id>``): a retried or re-run task
finds the version it registered before (version tag ``airflow_run_key``) or the finished MLflow run
it logged (run tag of the same name) and reuses it instead of registering a second version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.mlops.config import PipelineConfig
from include.mlops.exceptions import InsufficientData
from include.mlops.lake import CorruptPartition, Lake

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
RUN_KEY_TAG = "airflow_run_key"


@dataclass(frozen=True)
class Window:
    """The days a training run uses: train on [start, holdout_start), hold out [holdout_start, end)."""

    start: dt.date
    holdout_start: dt.date
    end: dt.date  # exclusive

    @classmethod
    def ending(cls, end: dt.date, window_days: int, holdout_days: int) -> Window:
        return cls(end - dt.timedelta(days=window_days), end - dt.timedelta(days=holdout_days), end)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days)]

    def as_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "holdout_start": self.holdout_start.isoformat(),
            "end": self.end.isoformat(),
        }


@dataclass(frozen=True)
class TrainingData:
    train: pd.DataFrame
    holdout: pd.DataFrame
    partitions: list[dict[str, Any]]  # ds, rows, content_hash, uri: exactly what was read
    missing_days: list[str]
    content_hash: str


def assemble_window(
    lake: Lake,
    cfg: PipelineConfig,
    window: Window,
    columns: list[str] | None = None,
    expected: dict[str, str] | None = None,
    holdout_only: bool = False,
) -> TrainingData:
    """Read the curated partitions of ``window``. Quarantined or missing days are skipped and reported.

    ``expected`` (ds -> content hash, from an earlier check) pins the exact partitions: a partition
    that changed or vanished since then raises instead of silently training on other data.
    """
    import pandas as pd

    dataset = cfg.dataset.name
    available = set(lake.list_partitions("curated", dataset))
    frames, partitions, missing = [], [], []
    days = window.days()
    if holdout_only:
        days = [d for d in days if d >= window.holdout_start]
    for day in days:
        ds = day.isoformat()
        if expected is not None and ds not in expected:
            missing.append(ds)
            continue
        if ds not in available:
            if expected is not None:
                raise InsufficientData(
                    f"curated partition {dataset} ds={ds} was checked but is gone; re-run the whole DAG run"
                )
            missing.append(ds)
            continue
        try:
            frame, info = lake.read_partition_with_info("curated", dataset, ds, columns=columns)
        except CorruptPartition as exc:
            if expected is not None and exc.content_hash != expected[ds]:
                raise InsufficientData(_changed(dataset, ds, expected[ds], exc.content_hash)) from None
            raise InsufficientData(
                f"curated partition {dataset} ds={ds} cannot be trained on: {exc}; then re-run this DAG run"
            ) from None
        if expected is not None and info.content_hash != expected[ds]:
            raise InsufficientData(_changed(dataset, ds, expected[ds], info.content_hash))
        frame["__ds"] = ds
        frames.append(frame)
        partitions.append({"ds": ds, "rows": info.rows, "content_hash": info.content_hash, "uri": info.uri})
    if not frames and not holdout_only:
        raise InsufficientData(
            f"no curated partitions of {dataset!r} between {window.start} and {window.end} (exclusive); "
            "run or backfill ingest_and_validate for those days first"
        )
    if not frames:
        raise InsufficientData(
            f"no curated holdout partitions of {dataset!r} from {window.holdout_start} to {window.end}"
        )
    data = pd.concat(frames, ignore_index=True)
    holdout_mask = data["__ds"] >= window.holdout_start.isoformat()
    train = data.loc[~holdout_mask].drop(columns="__ds").reset_index(drop=True)
    holdout = data.loc[holdout_mask].drop(columns="__ds").reset_index(drop=True)
    digest = hashlib.sha256(json.dumps([(p["ds"], p["content_hash"]) for p in partitions]).encode()).hexdigest()
    return TrainingData(train, holdout, partitions, missing, digest)


def _changed(dataset: str, ds: str, pinned: str, now: str) -> str:
    return (
        f"curated partition {dataset} ds={ds} changed after it was checked (hash {pinned[:12]} -> {now[:12]}); "
        "nothing was trained on it. Re-run the whole DAG run so the check task validates the new content"
    )


def check_training_frame(train: pd.DataFrame, holdout: pd.DataFrame, cfg: PipelineConfig, window: Window) -> None:
    """Refuse to train on too little data or on a degenerate label, with a message that says what to do."""
    target = cfg.dataset.target
    if len(train) < cfg.training.min_rows:
        raise InsufficientData(
            f"only {len(train)} training rows between {window.start} and {window.holdout_start} "
            f"(training.min_rows={cfg.training.min_rows}); backfill more days or widen window_days"
        )
    if holdout.empty:
        raise InsufficientData(
            f"no holdout rows between {window.holdout_start} and {window.end}; "
            "ingest those days or lower training.holdout_days"
        )
    for name, frame in (("training", train), ("holdout", holdout)):
        if frame[target].isna().any():
            raise InsufficientData(
                f"{name} frame has {int(frame[target].isna().sum())} rows without a {target!r} label"
            )
    if cfg.dataset.task == "classification" and train[target].nunique() < 2:
        raise InsufficientData(
            f"training frame has a single class in {target!r} ({train[target].iloc[0]!r}); "
            "a classifier needs both classes: widen window_days"
        )


def training_suite(cfg: PipelineConfig) -> dict[str, Any]:
    """The GX suite a training frame must pass: enough rows, every row labelled, labels of the right kind."""
    target = cfg.dataset.target
    exps: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": cfg.training.min_rows}},
        {"type": "expect_column_to_exist", "kwargs": {"column": target}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": target}},
    ]
    if cfg.dataset.task == "classification":
        exps.append(
            {"type": "expect_column_distinct_values_to_be_in_set", "kwargs": {"column": target, "value_set": [0, 1]}}
        )
        exps.append(
            {"type": "expect_column_unique_value_count_to_be_between", "kwargs": {"column": target, "min_value": 2}}
        )
    return {"name": f"{cfg.dataset.name}_training_frame", "expectations": exps}


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
        from sklearn.linear_model import LogisticRegression as cls

        params.setdefault("max_iter", 1000)
    else:
        from sklearn.linear_model import Ridge as cls
    return Pipeline([("pre", pre), ("model", cls(**params))])


def score(model: Any, frame: pd.DataFrame, task: str):
    """Positive-class probability for classification, the prediction for regression."""
    if task == "classification":
        return model.predict_proba(frame)[:, 1]
    return model.predict(frame)


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


def find_registered(client: Any, model_name: str, run_key: str):
    """The model version registered for ``run_key`` before (a retry or re-run), or None."""
    found = client.search_model_versions(f"name = '{model_name}' and tags.{RUN_KEY_TAG} = '{run_key}'")
    return sorted(found, key=lambda v: int(v.version))[0] if found else None


def ensure_registered_model(client: Any, model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        try:
            client.create_registered_model(
                model_name, description="Managed by the Airflow MLOps DAGs: aliases champion/challenger."
            )
        except MlflowException as exc:  # created concurrently
            if "RESOURCE_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                raise


def _register(client: Any, cfg: PipelineConfig, run_id: str, model_uri: str, run_key: str, tags: dict[str, str]):
    ensure_registered_model(client, cfg.model.name)
    # MLflow 3 logged models live at models:/<model_id>; a tracking server requires the id with the source
    model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/") else None
    version = client.create_model_version(
        cfg.model.name, source=model_uri, run_id=run_id, tags={RUN_KEY_TAG: run_key, **tags}, model_id=model_id
    )
    # Two tries of one run can register at once (a retry beside an orphaned try whose worker died): each
    # keeps the lowest version of the run key and deletes its own if it is not that one, so both converge.
    first = find_registered(client, cfg.model.name, run_key)
    if first is not None and str(first.version) != str(version.version):
        log.warning(
            "%s version %s duplicates version %s of run key %s (a concurrent try); deleting it",
            cfg.model.name,
            version.version,
            first.version,
            run_key,
        )
        client.delete_model_version(cfg.model.name, version.version)
        version = first
    client.set_registered_model_alias(cfg.model.name, CHALLENGER, version.version)
    return version


def train_and_register(
    client: Any,
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
        version = _register(client, cfg, run.info.run_id, run.data.tags["model_uri"], run_key, airflow_tags)
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
    from include.mlops.evaluation import compute_metrics

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
            }
        )
        mlflow.set_tags(
            {
                "data.content_hash": data.content_hash,
                "data.partitions": ",".join(p["ds"] for p in data.partitions),
                "data.missing_days": ",".join(data.missing_days),
                "data.dataset": cfg.dataset.name,
            }
        )
        mlflow.log_dict(
            {
                "partitions": data.partitions,
                "missing_days": data.missing_days,
                "content_hash": data.content_hash,
                "window": window.as_dict(),
                "features": {"numeric": numeric, "categorical": categorical},
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
    version = _register(client, cfg, run_id, info.model_uri, run_key, airflow_tags)
    log.info("registered %s version %s from run %s with alias %s", name, version.version, run_id, CHALLENGER)
    return result(version, run_id, False, metrics)
