"""The Airflow plugin entry point: registers this project's hooks with the UI."""

from airflow.plugins_manager import AirflowPlugin


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
