"""The data lake, on local disk or on S3 through an Airflow AWS connection (boto3); ``open_lake``: a pipeline's lake
by its name (the reports app and the metrics route, outside any task)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class LakeHook(BaseHook):
    """Builds ``include.mlops.data.lake.Lake`` for a root; S3 credentials and endpoint come from ``aws_conn_id``."""

    def __init__(self, root: str, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.aws_conn_id = aws_conn_id

    def s3_client(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def needs_s3(self, *uris: str | None) -> bool:
        return any(u and u.startswith("s3://") for u in (self.root, *uris))

    def get_conn(self) -> Any:
        from include.mlops.data.lake import Lake

        return Lake.at(self.root, self.s3_client() if self.root.startswith("s3://") else None)


def pipeline_config(name: str | None = None) -> Any:
    """The config of pipeline ``name`` of the ``MLOPS_PIPELINES`` folder, None: the main one. ``LookupError``
    for a name that is not there."""
    from include.mlops.core.config import load_config
    from include.mlops.core.pipelines import pipelines

    for p in pipelines():
        if p.name == name:
            return load_config(p.config_path, pipeline=p.name)
    raise LookupError(f"no pipeline {name!r}")


def open_lake(pipeline: str | None = None) -> Any:
    """The lake of a pipeline (the main one by default): local or S3 through its AWS connection."""
    cfg = pipeline_config(pipeline)
    return LakeHook(cfg.lake_root, aws_conn_id=cfg.lake.aws_conn_id).get_conn()
