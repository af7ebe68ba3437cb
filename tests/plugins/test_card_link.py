"""The evaluate task's ``Card`` button, its OUTCOME line, a card that fails without failing the evaluation, and the
reports app serving the card page."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest

from include.mlops.core.exceptions import CardFailed
from include.mlops.promotion.card import CardResult
from include.mlops.promotion.decision import Decision
from include.mlops.promotion.evaluation import Evaluation, EvaluationRecord
from mlops_airflow import links
from mlops_airflow.hooks.mlflow_hook import MlflowHook
from mlops_airflow.operators.training import EvaluateChallengerOperator
from mlops_dev.task_context import task_context

pytestmark = pytest.mark.unit

WINDOW_CHECK = {
    "window": {"start": "2026-02-20", "holdout_start": "2026-03-02", "end": "2026-03-05"},
    "partitions": {"2026-03-02": "h1"},
    "content_hash": "0123456789abcdef",
}
CARD_KEY = "reports/promotion/transactions/ds=2026-03-05/card_v3.html"


@pytest.fixture
def evaluated(make_config, monkeypatch):
    """``evaluate_and_record`` answers with a blessed version 3 against champion 2; no MLflow UI, no base URL."""
    make_config()
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    decision = Decision(True, "better by far", "average_precision", "maximize", 0.6, 0.5, 0.1, 0.0, None)
    evaluation = Evaluation("m", "3", "2", {}, {}, 100, decision, "2026-03-05T00:00:00+00:00")
    record = EvaluationRecord(
        evaluation,
        {"decision": {"challenger_value": 0.6, "champion_value": 0.5}},
        "reports/promotion/transactions/ds=2026-03-05/decision_v3.json",
        "file:///lake/reports/promotion/transactions/ds=2026-03-05/decision_v3.json",
        "2026-03-05",
    )
    with (
        mock.patch("include.mlops.promotion.evaluation.evaluate_and_record", return_value=record),
        mock.patch.object(MlflowHook, "client"),
        mock.patch.object(MlflowHook, "ui_url", None),
    ):
        yield record


def _outcome(capsys) -> str:
    lines = [line for line in capsys.readouterr().out.split("\n") if "OUTCOME " in line]
    assert len(lines) == 1
    return lines[0]


def test_the_evaluate_task_declares_a_card_button():
    assert links.CARD in {link.name for link in EvaluateChallengerOperator.operator_extra_links}
    assert links.CARD == "Card"


def test_a_recorded_card_fills_the_card_button_and_the_outcome(evaluated, capsys):
    op = EvaluateChallengerOperator(task_id="evaluate", challenger_version="3", window_check=WINDOW_CHECK)
    result = CardResult("3", CARD_KEY, f"file:///lake/{CARD_KEY}", ["evaluation/card_v3.html"])
    with mock.patch("include.mlops.promotion.card.record_card", return_value=result) as record_card:
        out = op.execute(task_context())
    assert out["promote"] is True and out["challenger_version"] == "3"
    assert record_card.call_args.args[3] == WINDOW_CHECK and record_card.call_args.args[4] is evaluated
    assert links.CardLink().get_link(op, ti_key=None) == f"/mlops/reports/{CARD_KEY}"
    assert links.ReportLink().get_link(op, ti_key=None).endswith("decision_v3.json")  # the report button stays
    assert f"card: file:///lake/{CARD_KEY}" in _outcome(capsys)


def test_a_failing_card_is_a_warning_and_the_evaluation_succeeds(evaluated, capsys):
    op = EvaluateChallengerOperator(task_id="evaluate", challenger_version="3", window_check=WINDOW_CHECK)
    boom = CardFailed("drawing the card", ValueError("no figure for you"))
    with mock.patch("include.mlops.promotion.card.record_card", side_effect=boom):
        out = op.execute(task_context())
    assert out == evaluated.summary()
    assert links.CardLink().get_link(op, ti_key=None) == ""  # no card, no button
    printed = capsys.readouterr().out
    warning = [line for line in printed.split("\n") if "evaluation card of m version 3 was not recorded" in line]
    assert len(warning) == 1 and "warn" in warning[0].lower()
    assert "drawing the card failed: ValueError: no figure for you" in warning[0]
    outcome = [line for line in printed.split("\n") if "OUTCOME " in line]
    assert len(outcome) == 1 and "BLESSED version 3" in outcome[0]
    assert "card failed: CardFailed: drawing the card failed: ValueError: no figure for you" in outcome[0]


def test_an_unexpected_card_error_does_not_fail_the_evaluation_either(evaluated, capsys):
    op = EvaluateChallengerOperator(task_id="evaluate", challenger_version="3", window_check=WINDOW_CHECK)
    with mock.patch("include.mlops.promotion.card.record_card", side_effect=KeyError("decision")):
        assert op.execute(task_context())["promote"] is True
    assert "card failed: KeyError: 'decision'" in _outcome(capsys)


def test_an_already_champion_rerun_keeps_the_card_and_links_it(evaluated, capsys):
    op = EvaluateChallengerOperator(task_id="evaluate", challenger_version="3", window_check=WINDOW_CHECK)
    kept = CardResult("3", CARD_KEY, f"file:///lake/{CARD_KEY}", [], kept=True)
    with mock.patch("include.mlops.promotion.card.record_card", return_value=kept):
        op.execute(task_context())
    assert links.CardLink().get_link(op, ti_key=None) == f"/mlops/reports/{CARD_KEY}"
    assert "(kept: already champion)" in _outcome(capsys)


def test_the_reports_app_serves_the_card_as_html_that_may_show_its_data_images(make_config):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from include.mlops.data.lake import Lake
    from mlops_airflow.reports_app import create_app

    cfg = make_config()
    page = '<!DOCTYPE html><html><body><img alt="roc" src="data:image/png;base64,iVBORw0KGgo="></body></html>'
    Lake.at(cfg.lake_root).storage.write_bytes(CARD_KEY, page.encode())
    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleNamespace(get_name=lambda: "ops")
    served = TestClient(app).get(f"/reports/{CARD_KEY}")
    assert served.status_code == 200 and served.text == page
    assert served.headers["content-type"] == "text/html; charset=utf-8"
    assert _allows_data_images(served.headers.get("content-security-policy"))


def _allows_data_images(csp: str | None) -> bool:
    """Whether a Content-Security-Policy lets a page show ``data:`` images: no policy, or the directive that
    governs images (``img-src``, else ``default-src``) names ``data:``; neither directive: images unrestricted."""
    if csp is None:
        return True
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    sources = directives.get("img-src", directives.get("default-src"))
    return sources is None or "data:" in sources


def test_the_csp_check_reads_the_directive_that_governs_images():
    assert _allows_data_images(None) and _allows_data_images("script-src 'none'")
    assert _allows_data_images("default-src 'none'; img-src data:")
    assert not _allows_data_images("default-src 'self'")
    assert not _allows_data_images("default-src data:; img-src 'self'")
