"""The Airflow plugin entry point.

- ``/mlops/reports/<key>`` on the API server: the validation, drift and promotion reports behind the
  ``Report`` extra link (``mlops_airflow.reports_app``; login required).
- ``/mlops/metrics`` on the API server: the pipeline's health for Prometheus (``mlops_airflow.metrics``;
  the scrape token ``MLOPS_METRICS_TOKEN`` or an Airflow login).

The operators' extra links need no registration here: Airflow 3 stores each link's URL in XCom when
a try ends (see ``mlops_airflow.links``).
"""

from airflow.plugins_manager import AirflowPlugin

from mlops_airflow.reports_app import LazyReportsApp


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    fastapi_apps = [{"app": LazyReportsApp(), "url_prefix": "/mlops", "name": "MLOps reports"}]
