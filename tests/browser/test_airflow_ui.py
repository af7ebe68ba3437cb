"""What an operator does in the Airflow UI, in a real (headless) Chromium against the local stack.

Log in, find ``train_and_promote``, trigger it through the trigger form with params set, watch the run
succeed, read the training task's log, follow its "MLflow run" extra link to the MLflow UI. Each step
leaves a screenshot in test-artifacts/browser/ (and one of the page where a failing test stopped).

The checks tie the pages together: the params typed into the form are the run's conf; the run key
the task log names and the MLflow run the extra link opens are those of the run just triggered.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, MODEL_NAME, SEED_END, UiStack

pytestmark = pytest.mark.browser

DAG_ID = "train_and_promote"
TRAIN_TASK = "train_challenger"
RUN_TIMEOUT_S = 420  # the whole run; about 30 s on an idle 2-core machine, minutes while other suites run


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _registered_versions(stack: UiStack, run_key: str) -> list[dict[str, Any]]:
    """Versions of the model whose ``airflow_run_key`` tag names this DAG run."""
    versions = stack.mlflow("model-versions/search", filter=f"name='{MODEL_NAME}'").get("model_versions", [])
    return [v for v in versions if {t["key"]: t["value"] for t in v.get("tags", [])}.get("airflow_run_key") == run_key]


def test_operator_triggers_training_from_the_ui_and_follows_the_mlflow_link(page: Page, stack: UiStack):
    # `page` first: a missing chromium fails before the stack is started
    from mlops_airflow.links import MLFLOW_RUN  # the button's label, as the operator's extra link names it

    run_id = f"ui_{secrets.token_hex(4)}"
    run_key = f"{DAG_ID}/{run_id}"
    reason = f"browser test {run_id}"
    window_end = (SEED_END + dt.timedelta(days=1)).isoformat()  # exclusive: the seeded days end the day before

    # -- 1. log in: the UI sends an anonymous visitor to the simple auth manager's login form ----------
    page.goto(stack.api_url)
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.password)
    _shot(page, "01-login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("nav-dags-link")).to_be_visible()

    # -- 2. find the DAG through the DAG list's search -------------------------------------------------
    page.get_by_test_id("nav-dags-link").click()
    page.get_by_test_id("search-dags").fill(DAG_ID)
    cards = page.get_by_test_id("dag-card")
    expect(cards).to_have_count(1)
    expect(cards.get_by_test_id("dag-id")).to_have_text(DAG_ID)
    _shot(page, "02-dag-search")
    cards.get_by_role("link", name=DAG_ID, exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{DAG_ID}$"))
    # The URL changes before the DAG page replaces the list (whose cards have trigger buttons too).
    expect(page.get_by_test_id("header-card")).to_contain_text(DAG_ID)

    # -- 3. trigger it through the form, with params set ----------------------------------------------
    page.get_by_test_id("trigger-dag-button").click()
    form = page.get_by_role("dialog")
    expect(form).to_contain_text(f"Trigger Dag - {DAG_ID}")
    form.locator("input[name=element_window_end]").fill(window_end)
    form.locator("input[name=element_reason]").fill(reason)
    form.get_by_role("button", name="Advanced Options").click()
    form.locator("input[name=dagRunId]").fill(run_id)
    _shot(page, "03-trigger-form")
    form.get_by_test_id("trigger-dag-submit").click()
    page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/{run_id}$"))

    run = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()
    assert run["run_type"] == "manual", run
    assert run["conf"]["reason"] == reason and run["conf"]["window_end"] == window_end, run["conf"]

    # -- 4. watch it succeed on the run page (the UI refreshes while the run is active) ----------------
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
    try:
        expect(badge).to_have_text(re.compile(r"^(Success|Failed)$"), timeout=RUN_TIMEOUT_S * 1000)
    except AssertionError:
        _shot(page, "04-run-timeout")
        pytest.fail(f"run {run_id} not finished in the UI within {RUN_TIMEOUT_S}s\n" + stack.diagnostics(DAG_ID))
    _shot(page, "04-run-finished")
    if badge.inner_text() != "Success":
        pytest.fail(f"run {run_id} failed\n" + stack.diagnostics(DAG_ID))
    assert stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"] == "success"
    versions = _registered_versions(stack, run_key)
    assert len(versions) == 1, f"expected one model version registered by {run_key}, got {versions}"
    mlflow_run_id = versions[0]["run_id"]
    params = {p["key"]: p["value"] for p in stack.mlflow("runs/get", run_id=mlflow_run_id)["run"]["data"]["params"]}
    assert params.get("window_end") == window_end, params  # the date typed into the form is the one trained on

    # -- 5. open the training task's log: it names the run it works for and the MLflow run it made -----
    page.get_by_test_id("table-list").get_by_role("link", name=TRAIN_TASK, exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/{run_id}/tasks/{TRAIN_TASK}"))
    page.get_by_role("combobox").filter(has_text="All Log Levels").click()
    page.get_by_role("option", name="INFO", exact=True).click()
    page.keyboard.press("Escape")
    log = page.get_by_test_id("virtualized-list")
    expect(log).to_contain_text(run_key)
    expect(log).to_contain_text(mlflow_run_id)
    page.get_by_role("button", name="Log Settings").click()
    page.get_by_role("menuitem", name="Wrap").click()  # long lines in full on the screenshot
    _shot(page, "05-task-log")

    # -- 6. follow the "MLflow run" extra link: the MLflow UI's page of the run just made --------------
    page.get_by_role("link", name="Details", exact=True).click()
    link = page.get_by_role("link", name=MLFLOW_RUN, exact=True)
    expect(link).to_be_visible()
    _shot(page, "06-extra-links")
    with page.context.expect_page() as opened:  # another origin: the UI opens it in a new tab
        link.click()
    mlflow_page = opened.value
    expect(mlflow_page).to_have_url(
        re.compile(rf"^{re.escape(stack.mlflow_url)}/#/experiments/\d+/runs/{mlflow_run_id}$")
    )
    expect(mlflow_page).to_have_title(re.compile(mlflow_run_id))
    tags = mlflow_page.get_by_role("status")  # the run's tags, "key : value"
    expect(tags.filter(has_text="airflow_run_key")).to_contain_text(run_key)
    expect(tags.filter(has_text="trigger_reason")).to_contain_text(reason)  # the param typed into the form
    _shot(mlflow_page, "07-mlflow-run")
