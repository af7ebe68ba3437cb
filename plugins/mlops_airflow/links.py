"""Operator extra links: buttons on a task instance's page pointing at the evidence of what it did.

Airflow 3 computes each link once, in the worker, when the try ends (successful or not), and keeps it
in XCom (``_link_<ClassName>``); the API server only reads it back. So an operator records its URLs in
``self.extra_link_urls`` while it runs and the link classes read them there. A try that failed before
it knew a URL shows no button for it.

- ``MLflow run`` / ``MLflow model version``: the MLflow UI (the tracking server of connection
  ``mlflow_default``, or the connection extra ``ui_url`` when the UI lives elsewhere; no link for a
  local file/SQLite store, which has no UI).
- ``Report``: the validation, drift or promotion report, served from the lake by this project's
  plugin app at ``/mlops/reports/<key>`` on the Airflow API server (login required).
- ``Card``: the evaluation card of the challenger (figures and the decision on one self-contained HTML page),
  served from the lake like a report (``reports/promotion/<dataset>/ds=<end>/card_v<N>.html``).
- ``Triggered run``: the ``train_and_promote`` run that the drift monitor triggered.
- ``Predictions``: the scoring summary of a ``score_batch`` run (the prediction partition, its rows and version).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

REPORTS_PREFIX = "/mlops/reports"
MLFLOW_RUN = "MLflow run"
MLFLOW_MODEL_VERSION = "MLflow model version"
REPORT = "Report"
CARD = "Card"
TRIGGERED_RUN = "Triggered run"
PREDICTIONS = "Predictions"


class _RecordedLink(BaseOperatorLink):
    """A URL the operator recorded under this link's name while it ran; empty when it did not."""

    name = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return str((getattr(operator, "extra_link_urls", None) or {}).get(self.name, ""))


class MlflowRunLink(_RecordedLink):
    name = MLFLOW_RUN


class MlflowModelVersionLink(_RecordedLink):
    name = MLFLOW_MODEL_VERSION


class ReportLink(_RecordedLink):
    name = REPORT


class CardLink(_RecordedLink):
    """The evaluation card of the evaluate task's challenger (``include.mlops.promotion.card``)."""

    name = CARD


class TriggeredRunLink(_RecordedLink):
    name = TRIGGERED_RUN


class PredictionsLink(_RecordedLink):
    """The scoring summary of the newest day a run scored (its prediction partition's URI, rows, version)."""

    name = PREDICTIONS


def mlflow_run_url(ui_url: str | None, run_id: Any) -> str:
    return f"{ui_url.rstrip('/')}/#/runs/{quote(str(run_id))}" if ui_url and run_id else ""


def model_version_url(ui_url: str | None, model_name: str, version: Any) -> str:
    if not (ui_url and version):
        return ""
    return f"{ui_url.rstrip('/')}/#/models/{quote(model_name, safe='')}/versions/{quote(str(version))}"


def report_url(key: str | None, base_path: str = "", pipeline: str | None = None) -> str:
    """The plugin app's URL for a lake key (``reports/...`` or a quarantined batch's ``validation.json``);
    ``pipeline``: a folder pipeline's name (its lake), None for the main pipeline."""
    if not key:
        return ""
    query = f"?pipeline={quote(pipeline, safe='')}" if pipeline else ""
    return f"{base_path.rstrip('/')}{REPORTS_PREFIX}/{quote(key.lstrip('/'), safe='/=')}{query}"
