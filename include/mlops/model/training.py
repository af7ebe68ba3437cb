"""Train a scikit-learn pipeline on a checked window, log it to MLflow, register it as the challenger.

``train_and_register`` is idempotent for a run key (``<dag_id>/<run_id>``): a retried or re-run task
finds the version it registered before (version tag ``airflow_run_key``) or the finished MLflow run
it logged (run tag of the same name) and reuses it instead of registering a second version.
The window itself is ``include.mlops.model.window``; versions and aliases are ``include.mlops.model.registry``.

Several ``model.candidates`` (``include.mlops.model.candidates``): ``open_parent_run`` opens the DAG run's MLflow run,
``train_candidate`` fits each candidate on the older training days and scores it on the newest (a child run of
the parent; never the holdout), and ``train_best`` refits the best on the whole training part into the parent run
and registers it, through the same ``train_and_register``. One candidate fits nothing in ``train_candidate`` and
trains exactly as a single model always has, in a run of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.mlops.core.config import PipelineConfig
from include.mlops.core.exceptions import CandidateFailed, NoCandidateSucceeded
from include.mlops.core.memory import give_back_memory
from include.mlops.data.lake import Lake
from include.mlops.model.candidates import (
    CandidateOutcome,
    CandidateSpec,
    ValidationSplit,
    leaderboard,
    select_best,
)
from include.mlops.model.metrics import compute_metrics, score
from include.mlops.model.registry import CHALLENGER, RUN_KEY_TAG, find_registered, register_version
from include.mlops.model.window import TrainingData, Window, assemble_window, training_columns, window_from_check

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


def model_frames(data: TrainingData, cfg: PipelineConfig) -> TrainingData:
    """``data`` with only the columns a model is fitted and scored on: the features ``feature_columns`` picks on the
    training part, and the target (the same features again: ``feature_columns`` of the result is theirs). An id-like
    text column is known only from the sampled frame, so it is read; it goes here, before the fit, not beside it."""
    from dataclasses import replace

    numeric, categorical = feature_columns(data.train, cfg)
    keep = {*numeric, *categorical, cfg.dataset.target}

    def slim(frame: pd.DataFrame) -> pd.DataFrame:
        columns = [c for c in frame.columns if c in keep]
        return frame if len(columns) == len(frame.columns) else frame[columns]

    return replace(data, train=slim(data.train), holdout=slim(data.holdout))


def build_pipeline(
    cfg: PipelineConfig,
    numeric: list[str],
    categorical: list[str],
    estimator: str | None = None,
    params: dict[str, Any] | None = None,
):
    """The preprocessing + estimator pipeline: ``estimator`` with ``params`` (a candidate's), by default
    ``model.estimator`` with ``model.params``. Unknown params raise ``TypeError`` when the estimator is built,
    bad values ``ValueError`` when it is fitted."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    task = cfg.dataset.task
    name = estimator if estimator is not None else cfg.model.estimator
    params = dict(cfg.model.params if params is None else params)
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
    candidate: str = ""  # the winning candidate's name (the estimator's with no model.candidates)

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


def _candidate_tags(summary: dict[str, Any]) -> dict[str, str]:
    return {
        "candidates.winner": str(summary["winner"]),
        "candidates.count": str(summary["count"]),
        "candidates.failed": str(summary["failed"]),
    }


def _sampling_params(sampling: dict[str, Any]) -> dict[str, Any]:
    """``training.max_rows`` in the run's params: the cap and each part's rows before sampling and fraction."""
    if not sampling:
        return {}
    train, holdout = sampling.get("train") or {}, sampling.get("holdout") or {}
    return {
        "max_rows": sampling.get("max_rows") if sampling.get("max_rows") is not None else "none",
        "rows_train_before_sampling": train.get("rows_before", 0),
        "train_sample_fraction": train.get("fraction", 1.0),
        "rows_holdout_before_sampling": holdout.get("rows_before", 0),
        "holdout_sample_fraction": holdout.get("fraction", 1.0),
    }


def _sampling_tags(sampling: dict[str, Any]) -> dict[str, str]:
    if not sampling:
        return {}
    train, holdout = sampling.get("train") or {}, sampling.get("holdout") or {}
    return {
        "data.max_rows": str(sampling.get("max_rows")),
        "data.sampled": str(bool(train.get("sampled") or holdout.get("sampled"))).lower(),
        "data.rows_train_before_sampling": str(train.get("rows_before", 0)),
        "data.rows_train_after_sampling": str(train.get("rows_after", 0)),
        "data.train_sample_fraction": str(train.get("fraction", 1.0)),
        "data.holdout_sample_fraction": str(holdout.get("fraction", 1.0)),
    }


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created when it does not exist yet."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # created concurrently (another mapped task): read it back, else the error stands
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def default_candidate(cfg: PipelineConfig) -> CandidateSpec:
    """``model.estimator`` with ``model.params``: what trains when there are no ``model.candidates``."""
    return CandidateSpec(cfg.model.estimator, cfg.model.estimator, dict(cfg.model.params))


def _result(
    cfg: PipelineConfig,
    data: TrainingData,
    window: Window,
    spec: CandidateSpec,
    version: Any,
    run_id: str,
    *,
    reused: bool,
    metrics: dict[str, float],
) -> TrainingResult:
    return TrainingResult(
        model_name=cfg.model.name,
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
        candidate=spec.name,
    )


def _earlier_attempt(
    client: MlflowClient, cfg: PipelineConfig, experiment_id: str, run_key: str, airflow_tags: dict[str, str]
) -> tuple[Any, str, dict[str, float]] | None:
    """``(version, run_id, metrics)`` an earlier attempt of ``run_key`` left: the version it registered, else the
    model of its finished run, registered now (it crashed before registering); None when there is neither."""
    name = cfg.model.name
    existing = find_registered(client, name, run_key)
    if existing is not None:
        log.info("run key %s already registered %s version %s; reusing it", run_key, name, existing.version)
        client.set_registered_model_alias(name, CHALLENGER, existing.version)
        metrics = client.get_run(existing.run_id).data.metrics if existing.run_id else {}
        return existing, existing.run_id, dict(metrics)
    previous = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{RUN_KEY_TAG} = '{run_key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    if previous and previous[0].data.tags.get("model_uri"):
        run = previous[0]
        log.info("run key %s already has finished MLflow run %s; registering its model", run_key, run.info.run_id)
        version = register_version(client, cfg, run.info.run_id, run.data.tags["model_uri"], run_key, airflow_tags)
        return version, run.info.run_id, dict(run.data.metrics)
    return None


def _close_stale_runs(client: MlflowClient, experiment_id: str, run_key: str, keep: str | None) -> None:
    """Runs an earlier attempt left RUNNING (it died, or lost the server before it could end them) closed FAILED,
    so the experiment shows one finished run per DAG run. ``keep``: the candidates' parent run, RUNNING until this
    task ends it: the one to log into, not a stale one."""
    for stale in client.search_runs(
        [experiment_id], filter_string=f"tags.{RUN_KEY_TAG} = '{run_key}' and attributes.status = 'RUNNING'"
    ):
        if stale.info.run_id == keep:
            continue
        log.info("closing run %s left RUNNING by an earlier attempt of %s", stale.info.run_id, run_key)
        client.set_terminated(stale.info.run_id, "FAILED")


def _open_training_run(
    client: MlflowClient,
    experiment_id: str,
    window: Window,
    run_key: str,
    airflow_tags: dict[str, str],
    parent_run_id: str | None,
) -> str:
    """The run the model is logged into: ``parent_run_id`` (tagged again), else a new one."""
    tags = {RUN_KEY_TAG: run_key, **airflow_tags}
    if parent_run_id is not None:
        _log_batch(client, parent_run_id, tags=tags)
        return parent_run_id
    return client.create_run(experiment_id, tags=tags, run_name=f"train {window.end}").info.run_id


def _log_batch(
    client: MlflowClient,
    run_id: str,
    *,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    model_id: str | None = None,
) -> None:
    """Params, tags and metrics (NaN left out) in batches of MLflow's limit (100 of each per call)."""
    import time

    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    entries: list[list[Any]] = [
        [Param(k, str(v)) for k, v in (params or {}).items()],
        [RunTag(k, str(v)) for k, v in (tags or {}).items()],
        [Metric(k, v, now, 0, model_id=model_id) for k, v in (metrics or {}).items() if v == v],
    ]
    for start in range(0, max(len(e) for e in entries), 100):
        p, t, m = (e[start : start + 100] for e in entries)
        client.log_batch(run_id, metrics=m, params=p, tags=t)


def _run_params(
    cfg: PipelineConfig, spec: CandidateSpec, data: TrainingData, window: Window, numeric: list, categorical: list
) -> dict[str, Any]:
    return {
        "estimator": spec.estimator,
        **{f"model.{k}": v for k, v in spec.params.items()},
        "task": cfg.dataset.task,
        "target": cfg.dataset.target,
        "window_start": window.start.isoformat(),
        "holdout_start": window.holdout_start.isoformat(),
        "window_end": window.end.isoformat(),
        "rows_train": len(data.train),
        "rows_holdout": len(data.holdout),
        "n_numeric": len(numeric),
        "n_categorical": len(categorical),
        "config_file": cfg.source_path,
        "label_delay_days": data.label_delay_days,
        "labels_matured_through": data.labels_matured_through or "none",
        **_sampling_params(data.sampling),
    }


def _data_tags(cfg: PipelineConfig, data: TrainingData) -> dict[str, str]:
    return {
        "data.content_hash": data.content_hash,
        "data.partitions": ",".join(p["ds"] for p in data.partitions),
        "data.missing_days": ",".join(data.missing_days),
        "data.dataset": cfg.dataset.name,
        "data.label_delay_days": str(data.label_delay_days),
        "data.labels_matured_through": data.labels_matured_through or "",
        "data.immature_days": ",".join(data.immature_days),
        "data.unlabelled_rows": str(data.unlabelled_rows),
        **_sampling_tags(data.sampling),
    }


def _lineage(data: TrainingData, window: Window, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    return {
        "partitions": data.partitions,
        "missing_days": data.missing_days,
        "content_hash": data.content_hash,
        "window": window.as_dict(),
        "features": {"numeric": numeric, "categorical": categorical},
        **data.label_lineage(),
        "sampling": data.sampling,
    }


def _fit_and_score(pipeline: Any, data: TrainingData, features: list[str], cfg: PipelineConfig) -> dict[str, float]:
    """Fit on the training part; the holdout's and the training part's metrics (``holdout_*``, ``train_*``)."""
    task, target = cfg.dataset.task, cfg.dataset.target
    x_train, y_train = data.train[features], data.train[target]  # the holdout's features: only after the fit
    give_back_memory()  # what reading and sampling the window freed: the fit's arrays are mapped anew
    pipeline.fit(x_train, y_train)
    y_hold, hold_scores = data.holdout[target], score(pipeline, data.holdout[features], task)
    metrics = {f"holdout_{k}": v for k, v in compute_metrics(task, y_hold, hold_scores).items()}
    metrics.update({f"train_{k}": v for k, v in compute_metrics(task, y_train, score(pipeline, x_train, task)).items()})
    return metrics


def log_sklearn_model(
    client: MlflowClient,
    run_id: str,
    pipeline: Any,
    example: pd.DataFrame,
    task: str,
    *,
    params: dict[str, Any],
    metrics: dict[str, float],
) -> str:
    """Log ``pipeline`` as an MLflow 3 logged model of ``run_id`` through ``client`` (skops format, signature and
    input example from ``example``); its ``models:/<model_id>`` URI.

    What ``mlflow.sklearn.log_model`` does, by public client calls: that one reads MLflow's process-wide tracking URI
    (fluent API), which this library never sets. The model gets the run's ``params`` and ``metrics`` like MLflow's own;
    it is ``READY`` once its files are uploaded, ``FAILED`` if they could not be."""
    import tempfile
    from pathlib import Path

    import mlflow.sklearn
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model, infer_signature

    with warnings.catch_warnings():  # integer columns: the hint about missing values is noise here
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(example, score(pipeline, example, task))
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(
        experiment_id, name="model", source_run_id=run_id, params={k: str(v) for k, v in params.items()}
    )
    try:
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
        _log_batch(client, run_id, metrics=metrics, model_id=model.model_id)
        with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp, warnings.catch_warnings():
            # Pickling the pipeline's scipy functions makes Python look through every loaded module, and
            # Airflow's deprecated module shims warn each time (~1,000 lines burying the task log).
            warnings.filterwarnings("ignore", message=r"The `airflow\.")
            local = str(Path(tmp) / "model")
            mlflow.sklearn.save_model(
                pipeline,
                local,
                mlflow_model=Model(
                    artifact_path=model.artifact_location,
                    model_uuid=model.model_id,
                    run_id=run_id,
                    model_id=model.model_id,
                ),
                signature=signature,
                input_example=example,
                serialization_format="skops",
                skops_trusted_types=trusted_types(pipeline),
                pip_requirements=model_requirements(),  # inferring them costs a subprocess and ~4 s
            )
            client.log_model_artifacts(model.model_id, local)
    except BaseException:  # noqa: B036 (a timeout too): the logged model is not usable
        with contextlib.suppress(Exception):
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return f"models:/{model.model_id}"


def _train_into_run(
    client: MlflowClient,
    run_id: str,
    cfg: PipelineConfig,
    data: TrainingData,
    window: Window,
    spec: CandidateSpec,
    candidates: dict[str, Any] | None,
) -> tuple[str, dict[str, float]]:
    """Fit ``spec`` on ``data`` and log params, tags, lineage, metrics and the model into ``run_id``;
    ``(model_uri, metrics)``."""
    data = model_frames(data, cfg)  # a caller's frames stay whole; frames only this call holds are freed
    numeric, categorical = feature_columns(data.train, cfg)
    features = numeric + categorical
    pipeline = build_pipeline(cfg, numeric, categorical, spec.estimator, spec.params)
    params = _run_params(cfg, spec, data, window, numeric, categorical)
    tags = _data_tags(cfg, data) | (_candidate_tags(candidates) if candidates is not None else {})
    _log_batch(client, run_id, params=params, tags=tags)
    if candidates is not None:
        client.log_dict(run_id, candidates, "candidates/leaderboard.json")
    client.log_dict(run_id, _lineage(data, window, numeric, categorical), "lineage/training_data.json")
    metrics = _fit_and_score(pipeline, data, features, cfg)
    model_uri = log_sklearn_model(
        client,
        run_id,
        pipeline,
        data.train[features].head(5),
        cfg.dataset.task,
        params=params,
        metrics=metrics,
    )
    client.set_tag(run_id, "model_uri", model_uri)
    return model_uri, metrics


def train_and_register(
    client: MlflowClient,
    cfg: PipelineConfig,
    data: TrainingData,
    window: Window,
    run_key: str,
    airflow_tags: dict[str, str],
    *,
    candidate: CandidateSpec | None = None,
    parent_run_id: str | None = None,
    candidates: dict[str, Any] | None = None,
) -> TrainingResult:
    """Train ``candidate`` (default: ``model.estimator`` with ``model.params``) on ``data.train``, log everything to
    MLflow through ``client``, register a version with alias ``challenger``.

    ``parent_run_id`` (several candidates): log into that run, the parent of the candidates' child runs, instead of
    a new one; a retry logs into it again. ``candidates`` (a ``leaderboard``) is logged as
    ``candidates/leaderboard.json`` with tags ``candidates.winner``/``count``/``failed``."""
    from include.mlops.model.window import sampling_summary

    spec = candidate or default_candidate(cfg)
    experiment_id = _experiment_id(client, cfg.mlflow.experiment)
    earlier = _earlier_attempt(client, cfg, experiment_id, run_key, airflow_tags)
    if earlier is not None:
        version, run_id, metrics = earlier
        return _result(cfg, data, window, spec, version, run_id, reused=True, metrics=metrics)
    _close_stale_runs(client, experiment_id, run_key, keep=parent_run_id)
    log.info("training data: %s", sampling_summary(data.sampling))
    run_id = _open_training_run(client, experiment_id, window, run_key, airflow_tags, parent_run_id)
    try:
        model_uri, metrics = _train_into_run(client, run_id, cfg, data, window, spec, candidates)
    except BaseException:  # noqa: B036 (a timeout too): the run failed; do not leave it RUNNING
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    version = register_version(client, cfg, run_id, model_uri, run_key, airflow_tags)
    log.info("registered %s version %s from run %s with alias %s", cfg.model.name, version.version, run_id, CHALLENGER)
    return _result(cfg, data, window, spec, version, run_id, reused=False, metrics=metrics)


def train_on_check(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    check: dict[str, Any],
    run_key: str,
    tags: dict[str, str],
    drift_summary: dict[str, Any] | None = None,
    *,
    candidate: CandidateSpec | None = None,
    parent_run_id: str | None = None,
    candidates: dict[str, Any] | None = None,
) -> TrainingResult:
    """``train_and_register`` on exactly the partitions ``check`` (a ``check_window`` result) validated; a
    partition that changed or vanished since raises ``InsufficientData``. ``drift_summary`` (what a drift check
    triggered the run with) is logged as the run's ``trigger/drift_summary.json``, again on a reused run."""
    window = window_from_check(check)
    result = train_and_register(
        client,
        cfg,
        # handed on, not kept here: the columns the model does not use can go before the fit (``model_frames``)
        assemble_window(
            lake,
            cfg,
            window,
            training_columns(cfg),
            expected=check["partitions"],
            expected_labels=check.get("label_partitions") or None,
        ),
        window,
        run_key,
        tags,
        candidate=candidate,
        parent_run_id=parent_run_id,
        candidates=candidates,
    )
    if drift_summary is not None:
        client.log_dict(result.run_id, drift_summary, "trigger/drift_summary.json")
    return result


# -- several candidates: a parent run, one child run per candidate, the best refit -------------------------------

# The child runs carry the run key under a tag of their own: RUN_KEY_TAG finds the runs a DAG run may register
# (train_and_register's reuse and clean-up), and a candidate's run never holds a model to register.
CANDIDATE_RUN_KEY_TAG = "airflow_candidate_run_key"
CANDIDATE_TAG = "airflow_candidate"  # the candidate's name on its child run
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests the child under the parent
ERROR_LIMIT = 2000  # characters of an error in a tag (MLflow takes 8,000); the artifact has all of it


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's outcome (``train_candidate``): validation metrics, or None when there was nothing to
    choose between (one candidate: no validation split, no fit)."""

    name: str
    estimator: str
    params: dict[str, Any]
    validation: dict[str, float] | None
    run_id: str | None
    reused: bool = False
    fit_days: list[str] = field(default_factory=list)
    validation_days: list[str] = field(default_factory=list)
    rows_fit: int = 0
    rows_validation: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_parent_run(
    client: MlflowClient,
    cfg: PipelineConfig,
    window: Window,
    run_key: str,
    airflow_tags: dict[str, str],
    specs: list[CandidateSpec],
    split: ValidationSplit,
) -> str:
    """The MLflow run of this DAG run (run key tag) that the candidates' child runs hang under and the winner is
    logged into; created RUNNING, or the one an earlier try created (the oldest of the run key)."""
    experiment_id = _experiment_id(client, cfg.mlflow.experiment)
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.{RUN_KEY_TAG} = '{run_key}'", order_by=["attributes.start_time ASC"]
    )
    if found:
        log.info("run key %s already has MLflow run %s; the candidates hang under it", run_key, found[0].info.run_id)
        return found[0].info.run_id
    tags = {
        RUN_KEY_TAG: run_key,
        **airflow_tags,
        "candidates.count": str(len(specs)),
        "candidates.names": ",".join(s.name for s in specs),
        "candidates.fit_days": ",".join(split.fit_days),
        "candidates.validation_days": ",".join(split.validation_days),
    }
    run = client.create_run(experiment_id, tags=tags, run_name=f"train {window.end}")
    log.info("opened parent run %s for %d candidates of %s", run.info.run_id, len(specs), run_key)
    return run.info.run_id


def record_candidate_error(client: MlflowClient, parent_run_id: str, name: str, error: str, details: str) -> None:
    """A failed candidate's error in the parent run: ``candidates/<name>/error.txt`` and tag
    ``candidates.<name>.error`` (its first ``ERROR_LIMIT`` characters)."""
    client.log_text(parent_run_id, details, f"candidates/{name}/error.txt")
    client.set_tag(parent_run_id, f"candidates.{name}.error", error[:ERROR_LIMIT])


def _candidate_runs(client: MlflowClient, experiment_id: str, run_key: str, name: str, status: str) -> list[Any]:
    return client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.{CANDIDATE_RUN_KEY_TAG} = '{run_key}' and tags.{CANDIDATE_TAG} = '{name}' "
            f"and attributes.status = '{status}'"
        ),
    )


def _candidate_params(spec: CandidateSpec, split: ValidationSplit) -> dict[str, Any]:
    return {
        "estimator": spec.estimator,
        **{f"model.{k}": v for k, v in spec.params.items()},
        "fit_days": ",".join(split.fit_days),
        "validation_days": ",".join(split.validation_days),
    }


def _reused_candidate(
    client: MlflowClient, experiment_id: str, run_key: str, spec: CandidateSpec, split: ValidationSplit
) -> CandidateResult | None:
    """The finished child run of the same candidate on the same days (a retry, a cleared task), not one whose
    config entry changed since; None when there is none. Runs of it left RUNNING by a dead try are closed FAILED."""
    params = _candidate_params(spec, split)
    same = [
        r
        for r in _candidate_runs(client, experiment_id, run_key, spec.name, "FINISHED")
        if all(r.data.params.get(k) == str(v) for k, v in params.items())
    ]
    if not same:
        for stale in _candidate_runs(client, experiment_id, run_key, spec.name, "RUNNING"):
            log.info("closing candidate run %s left RUNNING by an earlier try", stale.info.run_id)
            client.set_terminated(stale.info.run_id, "FAILED")
        return None
    run = same[0]
    log.info("candidate %s of %s already has finished run %s; reusing it", spec.name, run_key, run.info.run_id)
    return CandidateResult(
        spec.name,
        spec.estimator,
        dict(spec.params),
        {k.removeprefix("validation_"): v for k, v in run.data.metrics.items()},
        run.info.run_id,
        reused=True,
        fit_days=list(split.fit_days),
        validation_days=list(split.validation_days),
        rows_fit=int(run.data.params.get("rows_fit", 0)),
        rows_validation=int(run.data.params.get("rows_validation", 0)),
    )


def _candidate_data(lake: Lake, cfg: PipelineConfig, check: dict[str, Any], split: ValidationSplit) -> TrainingData:
    """The fit days as the training part and the validation days as the "holdout", pinned by the check's content
    hashes; the real holdout is not read at all."""
    window = window_from_check(check)
    days = [*split.fit_days, *split.validation_days]
    labels = check.get("label_partitions") or {}
    sub = Window(window.start, dt.date.fromisoformat(split.validation_days[0]), window.holdout_start)
    return assemble_window(
        lake,
        cfg,
        sub,
        training_columns(cfg),
        expected={d: check["partitions"][d] for d in days},
        expected_labels={d: labels[d] for d in days if d in labels} or None,
    )


def _validate_candidate(
    cfg: PipelineConfig, data: TrainingData, spec: CandidateSpec, threads: int | None
) -> dict[str, float]:
    """Fit ``spec`` on ``data.train`` with at most ``threads`` threads; its metrics on ``data.holdout``."""
    from threadpoolctl import threadpool_limits

    data = model_frames(data, cfg)
    numeric, categorical = feature_columns(data.train, cfg)
    features = numeric + categorical
    pipeline = build_pipeline(cfg, numeric, categorical, spec.estimator, spec.params)
    with threadpool_limits(limits=threads):  # None: no limit
        pipeline.fit(data.train[features], data.train[cfg.dataset.target])
        scores = score(pipeline, data.holdout[features], cfg.dataset.task)
    return compute_metrics(cfg.dataset.task, data.holdout[cfg.dataset.target], scores)


def _fail_candidate(client: MlflowClient, parent_run_id: str, child: str, name: str, exc: BaseException) -> None:
    import traceback

    error = f"{type(exc).__name__}: {exc}"
    log.error("candidate %s failed: %s", name, error)
    record_candidate_error(client, parent_run_id, name, error, "".join(traceback.format_exception(exc)))
    client.set_tag(child, "candidate.error", error[:ERROR_LIMIT])
    client.set_terminated(child, "FAILED")


def _run_candidate(
    client: MlflowClient,
    cfg: PipelineConfig,
    data: TrainingData,
    spec: CandidateSpec,
    child: str,
    parent_run_id: str,
    params: dict[str, Any],
    threads: int | None,
) -> dict[str, float]:
    """Fit and score ``spec`` into the child run ``child`` and finish it; its validation metrics. A bad param
    (``ValueError``/``TypeError``) raises ``CandidateFailed`` after recording it; any other failure fails the run."""
    try:
        rows = {"rows_fit": len(data.train), "rows_validation": len(data.holdout)}
        _log_batch(client, child, params={**params, **rows})
        try:
            validation = _validate_candidate(cfg, data, spec, threads)
        except (ValueError, TypeError) as exc:  # the candidate's params or estimator: a retry fails the same way
            _fail_candidate(client, parent_run_id, child, spec.name, exc)
            raise CandidateFailed(spec.name, f"{type(exc).__name__}: {exc}") from exc
        finite = {f"validation_{k}": v for k, v in validation.items() if math.isfinite(v)}
        _log_batch(client, child, metrics=finite)
        client.set_terminated(child, "FINISHED")
    except CandidateFailed:
        raise
    except BaseException:  # noqa: B036 (a timeout too): do not leave the child RUNNING if MLflow still answers
        with contextlib.suppress(Exception):
            client.set_terminated(child, "FAILED")
        raise
    return validation


def train_candidate(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    check: dict[str, Any],
    spec: CandidateSpec,
    split: ValidationSplit | None,
    parent_run_id: str | None,
    run_key: str,
    airflow_tags: dict[str, str],
    threads: int | None = None,
) -> CandidateResult:
    """Fit ``spec`` on ``split.fit_days`` and score it on ``split.validation_days`` (curated training days of
    ``check``, pinned by content hash: never the holdout), logged as a child run of ``parent_run_id``.

    ``threads``: at most this many OpenMP/BLAS threads for the fit and scoring (``candidate_threads``, when
    candidates run side by side); None: the libraries' default (every core).

    No ``split`` (one candidate): nothing to choose between, so nothing is fitted here; ``train_and_register`` fits
    it on the whole training part as it always has. Idempotent per run key: a FINISHED child run of this candidate
    is reused, one left RUNNING by a dead try is closed FAILED. A ``ValueError``/``TypeError`` while building,
    fitting or scoring raises ``CandidateFailed`` after recording it in the parent run and failing the child."""
    if split is None or parent_run_id is None:
        return CandidateResult(spec.name, spec.estimator, dict(spec.params), None, None)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    reused = _reused_candidate(client, experiment_id, run_key, spec, split)
    if reused is not None:
        return reused
    data = _candidate_data(lake, cfg, check, split)
    child = client.create_run(
        experiment_id,
        run_name=spec.name,
        tags={
            PARENT_RUN_TAG: parent_run_id,
            CANDIDATE_RUN_KEY_TAG: run_key,
            CANDIDATE_TAG: spec.name,
            "candidate.estimator": spec.estimator,
            **airflow_tags,
        },
    ).info.run_id
    params = _candidate_params(spec, split)
    validation = _run_candidate(client, cfg, data, spec, child, parent_run_id, params, threads)
    primary = cfg.evaluation.primary_metric
    log.info("candidate %s: validation %s=%s (run %s)", spec.name, primary, validation.get(primary), child)
    return CandidateResult(
        spec.name,
        spec.estimator,
        dict(spec.params),
        validation,
        child,
        fit_days=list(split.fit_days),
        validation_days=list(split.validation_days),
        rows_fit=len(data.train),
        rows_validation=len(data.holdout),
    )


def candidate_threads(candidates: int, cpus: int | None = None) -> int | None:
    """The threads each of ``candidates`` fits side by side may use so that together they use the machine's cores
    once: ``cpus // candidates``, at least 1; None (no limit) for one candidate. Without it every fit starts a thread
    per core (HistGradientBoosting's OpenMP, BLAS) and 3 fits on 2 cores ran 1.5x slower than one after another:
    OpenMP threads spin while they wait for each other, taking the CPU the other fits need."""
    import os

    if candidates <= 1:
        return None
    if cpus is None:  # the cores this process may run on (a container's CPU set), else every core
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // candidates)


def outcomes_of(
    client: MlflowClient, specs: list[CandidateSpec], results: list[Any], parent_run_id: str | None
) -> list[CandidateOutcome]:
    """Every candidate (config order) with its result, or the error its failed task recorded in the parent run.
    ``results`` are the mapped tasks' results: a failed task has none, so they are matched by name."""
    by_name = {r["name"]: r for r in results if isinstance(r, dict) and isinstance(r.get("name"), str)}
    parent_tags = client.get_run(parent_run_id).data.tags if parent_run_id and len(by_name) < len(specs) else {}
    out = []
    for spec in specs:
        found = by_name.get(spec.name)
        if found is not None:
            out.append(
                CandidateOutcome(
                    spec.name, spec.estimator, dict(spec.params), found.get("validation"), run_id=found.get("run_id")
                )
            )
            continue
        error = parent_tags.get(f"candidates.{spec.name}.error") or (
            "its train_candidate task failed without recording an error (MLflow unreachable, a timeout, or the "
            "worker died): see that task's log"
        )
        out.append(CandidateOutcome(spec.name, spec.estimator, dict(spec.params), None, error))
    return out


def train_best(
    client: MlflowClient,
    cfg: PipelineConfig,
    lake: Lake,
    check: dict[str, Any],
    specs: list[CandidateSpec],
    results: list[Any],
    parent_run_id: str | None,
    run_key: str,
    tags: dict[str, str],
    drift_summary: dict[str, Any] | None = None,
) -> TrainingResult:
    """Pick the best candidate (``select_best`` on the validation primary metric), refit it on the whole training
    part of ``check`` and register it (``train_on_check``), into the parent run with the leaderboard. No candidate
    to pick raises ``NoCandidateSucceeded``, after logging the leaderboard and failing the parent run."""
    metric = cfg.evaluation.primary_metric
    outcomes = outcomes_of(client, specs, results, parent_run_id)
    try:
        best = select_best(outcomes, metric)
    except NoCandidateSucceeded:
        if parent_run_id is not None:
            summary = leaderboard(outcomes, None, metric)
            client.log_dict(parent_run_id, summary, "candidates/leaderboard.json")
            for key, value in _candidate_tags(summary).items():
                client.set_tag(parent_run_id, key, value)
            client.set_terminated(parent_run_id, "FAILED")
        raise
    if best.validation is not None:
        log.info(
            "best of %d candidates: %s (validation %s=%s); refitting it on the whole training part",
            len(outcomes),
            best.name,
            metric,
            best.validation.get(metric),
        )
    return train_on_check(
        client,
        cfg,
        lake,
        check,
        run_key,
        tags,
        drift_summary,
        candidate=best.spec(),
        parent_run_id=parent_run_id,
        candidates=leaderboard(outcomes, best.name, metric),
    )
