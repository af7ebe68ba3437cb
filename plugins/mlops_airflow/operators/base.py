"""What every MLOps operator shares: the config, the lake and MLflow hooks, and the log's first/last lines."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from mlops_airflow.hooks.lake_hook import LakeHook
from mlops_airflow.hooks.mlflow_hook import MlflowHook

if TYPE_CHECKING:
    from include.mlops.config import PipelineConfig
    from include.mlops.lake import Lake


class BatchQuarantined(AirflowFailException):
    """The day's batch failed validation and sits in quarantine. Not retried: the data will not change."""


class TrainingDataRejected(AirflowFailException):
    """The training window is too small or degenerate. Not retried: more data must be ingested first."""


class ChampionMoved(AirflowFailException):
    """The champion alias could not be moved as asked (it moved since evaluation, or the rollback target
    is not eligible). Not retried: the message says what to do."""


class MlopsOperator(BaseOperator):
    """Base class: assignments only in ``__init__``; config, hooks and heavy imports happen in ``execute``."""

    ui_color = "#e8f4ff"

    def __init__(self, *, mlflow_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def config(self) -> PipelineConfig:
        from include.mlops.config import load_config

        return load_config()

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

    def begin(self, what: str, *args: Any) -> None:
        """First line of the task log: what this try works on."""
        self.log.info("START " + what, *args)

    def outcome(self, what: str, *args: Any) -> None:
        """Last line of the task log: what came of it."""
        self.log.info("OUTCOME " + what, *args)
