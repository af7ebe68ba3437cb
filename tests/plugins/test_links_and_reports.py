"""Extra links (URLs recorded while a task runs) and the plugin app that serves the reports behind them."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from unittest import mock

import pytest

from mlops_airflow import links
from mlops_airflow.operators.ingest import GxValidateBatchOperator, LandBatchOperator
from mlops_airflow.reports_app import allowed_key, create_app

DAY = dt.date(2026, 3, 4)


def _ctx():
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    return {
        "dag": SimpleNamespace(dag_id="d"),
        "run_id": "manual__1",
        "ti": mock.MagicMock(),
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
    }


def test_mlflow_urls_point_at_the_ui_and_are_empty_without_one():
    assert links.mlflow_run_url("http://mlflow:5000/", "abc") == "http://mlflow:5000/#/runs/abc"
    assert links.model_version_url("http://m", "fraud detector", 3) == "http://m/#/models/fraud%20detector/versions/3"
    assert links.mlflow_run_url(None, "abc") == "" and links.model_version_url("http://m", "x", None) == ""


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("reports/validation/transactions/ds=2026-03-04/validation.json", True),
        ("reports/drift/transactions/ds=2026-03-04/report.html", True),
        ("quarantine/transactions/ds=2026-03-04/validation.json", True),
        ("quarantine/transactions/ds=2026-03-04/part-0.parquet", False),  # the data itself is not a report
        ("curated/transactions/ds=2026-03-04/data.parquet", False),
        ("reports/../curated/transactions/ds=2026-03-04/data.parquet", False),
        ("/etc/passwd", False),
    ],
)
def test_only_report_keys_are_served(key, ok):
    assert allowed_key(key) is ok


def test_a_validation_try_records_its_report_link_even_when_it_quarantines(make_config, monkeypatch):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    make_config(simulator={"faults": {DAY.isoformat(): "nulls"}})
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    LandBatchOperator(task_id="land").execute(_ctx())
    op = GxValidateBatchOperator(task_id="validate")
    with pytest.raises(Exception, match="quarantine"):
        op.execute(_ctx())
    url = links.ReportLink().get_link(op, ti_key=None)
    assert url == f"/mlops/reports/reports/validation/transactions/ds={DAY}/validation.json"
    assert links.MlflowRunLink().get_link(op, ti_key=None) == ""  # not one of this task's buttons

    app = create_app()
    client = TestClient(app)
    path = url.removeprefix("/mlops")
    assert client.get(path).status_code == 401  # no session cookie, no token
    app.dependency_overrides[get_user] = lambda: SimpleNamespace(get_name=lambda: "ops")
    served = client.get(path)
    assert served.status_code == 200 and served.json()["success"] is False
    assert served.json()["ds"] == DAY.isoformat()
    missing = client.get("/reports/reports/validation/transactions/ds=2020-01-01/validation.json")
    assert missing.status_code == 404 and "not have written it" in missing.json()["detail"]
    assert client.get("/reports/curated/transactions/ds=2026-03-04/data.parquet").status_code == 404


def test_every_mlops_operator_with_links_declares_the_buttons_it_fills():
    from mlops_airflow.operators.candidates import (
        PlanCandidatesOperator,
        TrainCandidateOperator,
        TrainChallengerOperator,
    )
    from mlops_airflow.operators.drift import DriftCheckOperator
    from mlops_airflow.operators.training import (
        EvaluateChallengerOperator,
        PromoteChallengerOperator,
        RollbackChampionOperator,
    )

    names = {
        op: {link.name for link in op.operator_extra_links}
        for op in (
            GxValidateBatchOperator,
            PlanCandidatesOperator,
            TrainCandidateOperator,
            TrainChallengerOperator,
            EvaluateChallengerOperator,
            PromoteChallengerOperator,
            RollbackChampionOperator,
            DriftCheckOperator,
        )
    }
    assert names[PlanCandidatesOperator] == {links.MLFLOW_RUN}  # the parent run
    assert names[TrainCandidateOperator] == {links.MLFLOW_RUN}  # the candidate's child run
    assert names[TrainChallengerOperator] == {links.MLFLOW_RUN, links.MLFLOW_MODEL_VERSION}
    assert names[DriftCheckOperator] == {links.MLFLOW_RUN, links.MLFLOW_MODEL_VERSION, links.REPORT}
    assert all(names.values())
