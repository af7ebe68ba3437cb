"""Assets the DAGs produce, defined once. `x-` URI schemes skip provider URI normalizers (which import boto3)."""

from airflow.sdk import Asset

CURATED_BATCH = Asset(name="mlops_curated_batch", uri="x-mlops://lake/curated", group="mlops")
CHAMPION_MODEL = Asset(name="mlops_champion_model", uri="x-mlops://registry/champion", group="mlops")
PREDICTIONS = Asset(name="mlops_predictions", uri="x-mlops://lake/predictions", group="mlops")
