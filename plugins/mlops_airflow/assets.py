"""Assets the DAGs produce, defined once."""

from airflow.sdk import Asset

CURATED_BATCH = Asset(name="mlops_curated_batch", uri="mlops://lake/curated", group="mlops")
CHAMPION_MODEL = Asset(name="mlops_champion_model", uri="mlops://registry/champion", group="mlops")
