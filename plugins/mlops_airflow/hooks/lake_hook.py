"""The data lake, on local disk or on S3 through an Airflow AWS connection (boto3)."""

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
