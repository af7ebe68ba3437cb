"""What every MLOps operator shares: the config, the lake and MLflow hooks, and the log's first/last lines."""

from __future__ import annotations

import functools
import os
import resource
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import (
    AirflowSkipException,
    DagRunTriggerException,
    TaskAwaitingInput,
)

from include.mlops.core.exceptions import MlopsError
from mlops_airflow import links
from mlops_airflow.errors import (  # noqa: F401 (re-exported: the operators' fail-fast exceptions, by their old path)
    BatchQuarantined,
    ChampionMoved,
    CuratedDayNotMoved,
    PipelineConfigBroken,
    RollbackTargetRefused,
    TrainingDataRejected,
    airflow_error,
)
from mlops_airflow.hooks.lake_hook import LakeHook
from mlops_airflow.hooks.mlflow_hook import MlflowHook

if TYPE_CHECKING:
    from include.mlops.core.config import PipelineConfig
    from include.mlops.core.pipelines import Pipeline
    from include.mlops.data.lake import Lake


def _failing_fast(method: Callable) -> Callable:
    """Pass a library error escaping ``method`` through the one error map (``mlops_airflow.errors``): the Airflow
    exception that fails (or skips) the task at once, with the library's message; anything else unchanged."""

    @functools.wraps(method)
    def wrapper(self: MlopsOperator, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MlopsError as exc:
            mapped = airflow_error(exc, type(self))
            if mapped is None:
                raise  # retried: Airflow's retries apply
            raise mapped from None

    return wrapper


def _with_outcome(execute: Callable) -> Callable:
    """Make sure the log ends with an OUTCOME line, also when ``execute`` skips or fails."""

    @functools.wraps(execute)
    def wrapper(self: MlopsOperator, context: Any) -> Any:
        self._outcome_logged, self._began = False, None
        try:
            return execute(self, context)
        except (DagRunTriggerException, TaskAwaitingInput):  # not failures: the task runner triggers / parks it
            raise
        except AirflowSkipException as exc:
            if not self._outcome_logged:
                self.outcome("SKIPPED: %s", exc)
            raise
        except BaseException as exc:  # noqa: B036 (timeouts too), always re-raised
            if not self._outcome_logged:
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                self.outcome("FAILED (%s): %s", type(exc).__name__, first)
            raise

    return wrapper


class MlopsOperator(BaseOperator):
    """Base class: assignments only in ``__init__``; config, hooks and heavy imports happen in ``execute``.

    Every subclass's ``execute`` (and ``execute_complete``) is wrapped: a library error that escapes it goes through
    the one error map (``mlops_airflow.errors``: fail at once, skip or retry), and the task log ends with one
    ``OUTCOME`` line whatever happens (success, skip, failure, timeout)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "execute" in cls.__dict__:
            setattr(cls, "execute", _with_outcome(_failing_fast(cls.__dict__["execute"])))  # noqa: B010 (mypy)
        if "execute_complete" in cls.__dict__:
            setattr(cls, "execute_complete", _failing_fast(cls.__dict__["execute_complete"]))  # noqa: B010

    _began: float | None = None  # set by begin(); read by outcome()
    _outcome_logged: bool = False
    ui_color = "#e8f4ff"
    operator_extra_links: tuple = ()  # subclasses name the buttons they fill; see mlops_airflow.links

    def __init__(self, *, mlflow_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id
        self.extra_link_urls: dict[str, str] = {}  # filled while running; see mlops_airflow.links

    @cached_property
    def pipeline(self) -> Pipeline:
        """The pipeline this task's DAG belongs to (from the DAG id: ``<name>__<dag id>``, else the main one)."""
        from include.mlops.core.pipelines import pipeline_of

        try:
            return pipeline_of(self.dag_id)
        except LookupError as exc:
            raise PipelineConfigBroken(str(exc)) from None

    @cached_property
    def config(self) -> PipelineConfig:
        """This pipeline's config, loaded and validated when the task runs. A broken file fails the task at once
        (a ``ConfigError``, which the error map makes ``PipelineConfigBroken``: a retry would read the same file);
        the message names the file and the key."""
        from include.mlops.core.config import load_config

        return load_config(self.pipeline.config_path, pipeline=self.pipeline.name)

    @cached_property
    def lake_hook(self) -> LakeHook:
        return LakeHook(self.config.lake_root, aws_conn_id=self.config.lake.aws_conn_id)

    @cached_property
    def lake(self) -> Lake:
        return self.lake_hook.get_conn()

    def source_client(self) -> Any:
        """A boto3 client for an ``s3://`` source, else None."""
        return self.lake_hook.s3_client() if self.lake_hook.needs_s3(self.config.dataset.uri) else None

    @cached_property
    def mlflow_hook(self) -> MlflowHook:
        return MlflowHook(self.mlflow_conn_id or self.config.mlflow.conn_id)

    def link_mlflow_run(self, run_id: Any) -> None:
        if url := links.mlflow_run_url(self.mlflow_hook.ui_url, run_id):
            self.extra_link_urls[links.MLFLOW_RUN] = url

    def link_model_version(self, model_name: str, version: Any) -> None:
        if url := links.model_version_url(self.mlflow_hook.ui_url, model_name, version):
            self.extra_link_urls[links.MLFLOW_MODEL_VERSION] = url

    def report_url(self, key: str | None, *, absolute: bool = False) -> str:
        """The reports app's URL of a lake key of this pipeline: a path under the API's base path, or with
        ``absolute`` the full URL (for messages that leave the UI)."""
        base = os.environ.get("AIRFLOW__API__BASE_URL", "")
        url = links.report_url(key, urlparse(base).path, self.pipeline.name)
        return f"{base.rstrip('/')}{links.report_url(key, '', self.pipeline.name)}" if absolute and url else url

    def link_report(self, key: str, link: str = links.REPORT) -> None:
        self.extra_link_urls[link] = self.report_url(key)

    def begin(self, what: str, *args: Any) -> None:
        """First line of the task log: what this try works on."""
        self._began = time.perf_counter()
        self.log.info("START " + what, *args)

    def outcome(self, what: str, *args: Any) -> None:
        """Last line of the task log: what came of it, the seconds of work since ``begin`` (imports and
        config loading come before it) and the process's peak RSS."""
        self._outcome_logged = True
        began = getattr(self, "_began", None)
        work = time.perf_counter() - began if began is not None else 0.0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.log.info("OUTCOME " + what + " [work %.2f s, peak RSS %.0f MB]", *args, work, peak_mb)
