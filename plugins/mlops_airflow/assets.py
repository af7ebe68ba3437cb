"""Assets the DAGs produce, defined once. `x-` URI schemes skip provider URI normalizers (which import boto3)."""

from airflow.sdk import Asset, AssetAlias

CURATED_BATCH = Asset(name="mlops_curated_batch", uri="x-mlops://lake/curated", group="mlops")
CHAMPION_MODEL = Asset(name="mlops_champion_model", uri="x-mlops://registry/champion", group="mlops")
PREDICTIONS = Asset(name="mlops_predictions", uri="x-mlops://lake/predictions", group="mlops")
# The outlet of the tasks that may move the champion: they add a CHAMPION_MODEL event to it only when it moved.
CHAMPION_MOVES = AssetAlias(name="mlops_champion_moves", group="mlops")
