"""What an operator does in the Airflow UI, in a real (headless) Chromium against the local stack.

Log in, find ``train_and_promote`` (and the second pipeline's ``energy__...`` DAGs beside it), trigger it through
the trigger form with params set, wait for the
promotion to ask for a reviewer (the stack's config has ``promotion.approval: always``), open the run's
Required Actions, read the request, approve it with a comment, watch the run succeed, read the training
task's log, follow its "MLflow run" extra link to the MLflow UI, then the evaluate task's "Card" link to the
evaluation card. Each step leaves a screenshot in
test-artifacts/browser/ (and one of the page where a failing test stopped).

The checks tie the pages together: the params typed into the form are the run's conf; the request shows
the version this run registered and the evaluation's reason and primary metric; the champion alias moves
to that version, tagged with the reviewer and the comment typed; the run key the task log names and the
MLflow run the extra link opens are those of the run just triggered.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mlops_dev import wait_until
from tests.browser.conftest import ARTIFACTS, MODEL_NAME, SEED_END, UiStack

pytestmark = pytest.mark.browser

DAG_ID = "train_and_promote"
TRAIN_TASK = "train_challenger"
EVALUATE_TASK = "evaluate_challenger"
APPROVE_TASK = "approve_promotion"
PROMOTE_TASK = "promote_challenger"
RUN_TIMEOUT_S = 420  # up to the approval, and again after it; about 30 s idle, minutes while other suites run


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _registered_versions(stack: UiStack, run_key: str) -> list[dict[str, Any]]:
    """Versions of the model whose ``airflow_run_key`` tag names this DAG run."""
    versions = stack.mlflow("model-versions/search", filter=f"name='{MODEL_NAME}'").get("model_versions", [])
    return [v for v in versions if {t["key"]: t["value"] for t in v.get("tags", [])}.get("airflow_run_key") == run_key]


def _ti_state(stack: UiStack, run_id: str, task_id: str) -> str | None:
    return stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}").json().get("state")


def test_operator_triggers_training_from_the_ui_and_follows_the_mlflow_link(page: Page, stack: UiStack):
    # `page` first: a missing chromium fails before the stack is started
    from mlflow import MlflowClient

    from mlops_airflow.links import CARD, MLFLOW_RUN  # the buttons' labels, as the operators' extra links name them

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

    # -- 2. the second pipeline's DAGs are there too, under their own ids -----------------------------
    page.get_by_test_id("nav-dags-link").click()
    page.get_by_test_id("search-dags").fill("energy__")
    expect(page.get_by_test_id("dag-card")).to_have_count(6)  # its six DAGs: energy__train_and_promote, ...
    expect(page.get_by_test_id("dag-card").get_by_test_id("dag-id")).to_contain_text(["energy__train_and_promote"])
    _shot(page, "02-second-pipeline")

    # -- 2b. find the DAG through the DAG list's search ------------------------------------------------
    page.get_by_test_id("search-dags").fill(DAG_ID)
    cards = page.get_by_test_id("dag-card")  # the search matches from the start of the id: the main one only
    card = cards.filter(has=page.get_by_role("link", name=DAG_ID, exact=True))
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("dag-id")).to_have_text(DAG_ID)
    _shot(page, "02b-dag-search")
    card.get_by_role("link", name=DAG_ID, exact=True).click()
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

    # -- 4. the blessed challenger waits for a reviewer: the run page shows it (it refreshes while active)
    # A fresh stack has no champion: the first challenger is blessed when it clears evaluation.floor.
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
    approve_row = (
        page.get_by_test_id("table-list")
        .get_by_role("row")
        .filter(has=page.get_by_role("link", name=APPROVE_TASK, exact=True))
    )
    awaiting = approve_row.get_by_text("Awaiting Input", exact=True)
    try:
        expect(awaiting.or_(badge.filter(has_text=re.compile(r"^Failed$"))).first).to_be_visible(
            timeout=RUN_TIMEOUT_S * 1000
        )
    except AssertionError:
        _shot(page, "04-approval-timeout")
        pytest.fail(f"run {run_id} did not reach {APPROVE_TASK} within {RUN_TIMEOUT_S}s\n" + stack.diagnostics(DAG_ID))
    if not awaiting.is_visible():
        pytest.fail(f"run {run_id} failed before {APPROVE_TASK}\n" + stack.diagnostics(DAG_ID))
    assert _ti_state(stack, run_id, APPROVE_TASK) == "awaiting_input"
    versions = _registered_versions(stack, run_key)
    assert len(versions) == 1, f"expected one model version registered by {run_key}, got {versions}"
    version = versions[0]["version"]
    evaluation = stack.api(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{EVALUATE_TASK}/xcomEntries/return_value"
    ).json()["value"]
    assert evaluation["promote"] is True and evaluation["challenger_version"] == version, evaluation
    _shot(page, "04-awaiting-approval")

    # -- 5. the reviewer opens the run's Required Actions and goes to the request ----------------------
    page.get_by_role("button", name=re.compile(r"Required Actions")).click()
    actions = page.get_by_role("dialog", name="Required Actions")
    expect(actions.get_by_role("heading", name="Pending required actions (1)")).to_be_visible()
    expect(actions.get_by_role("row", name=f"Dag Run ID {run_id}")).to_be_visible()  # the selected one's details
    _shot(page, "05-required-actions")
    actions.get_by_role("link", name=APPROVE_TASK, exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/{run_id}/tasks/{APPROVE_TASK}/required_actions$"))
    expect(page.get_by_role("link", name=re.compile(r"^Required Action \(1\)$"))).to_be_visible()

    # -- 6. reads the request: the Markdown body names this run's version, the reason, the metric -----
    expect(page.get_by_role("heading", name=f"Promote {MODEL_NAME} version {version} to champion?")).to_be_visible()
    expect(page.locator("blockquote")).to_have_text(evaluation["reason"])  # the evaluation's reason, verbatim
    metric, value = evaluation["primary_metric"], f"{evaluation['challenger_value']:.4f}"
    expect(page.locator("p").filter(has_text="Primary metric")).to_contain_text(
        f"Primary metric {metric}: challenger {value}, champion —"
    )
    expect(page.get_by_role("row", name=re.compile(rf"^{metric} "))).to_contain_text(value)
    expect(page.locator("p").filter(has_text="Triggered by:")).to_contain_text(f"{run_key}; reason: {reason}")

    # -- 7. types a comment and approves: the task resumes, the run promotes and succeeds --------------
    comment = f"Looks right to me | {run_id}: {metric} {value}"  # free text (a pipe too), kept verbatim
    page.locator("input[name=element_comment]").fill(comment)
    approve = page.get_by_role("button", name="Approve", exact=True)
    expect(approve).to_be_enabled()
    _shot(page, "06-approval-request")
    approve.click()
    try:
        wait_until(
            lambda: _ti_state(stack, run_id, APPROVE_TASK) not in ("awaiting_input", None),
            RUN_TIMEOUT_S,
            1,
            f"{APPROVE_TASK} of {run_id} resumed after Approve",
            ignore=(),
        )
    except TimeoutError:
        _shot(page, "07-approve-timeout")
        pytest.fail(f"{APPROVE_TASK} still awaiting input after Approve\n" + stack.diagnostics(DAG_ID))
    page.reload()  # the answered request, as a reviewer coming back sees it: read-only, with the comment
    expect(page.get_by_text(re.compile(r"^Response received at .+ from admin$"))).to_be_visible()
    expect(page.locator("input[name=element_comment]")).to_be_disabled()
    expect(page.locator("input[name=element_comment]")).to_have_value(comment)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_disabled()
    _shot(page, "07-approved")
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name=run_id, exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/{run_id}/?$"))
    expect(page.get_by_test_id("header-card")).to_contain_text(run_id)

    # -- 8. watch it succeed on the run page (the UI refreshes while the run is active) ----------------
    try:
        expect(badge).to_have_text(re.compile(r"^(Success|Failed)$"), timeout=RUN_TIMEOUT_S * 1000)
    except AssertionError:
        _shot(page, "08-run-timeout")
        pytest.fail(f"run {run_id} not finished in the UI within {RUN_TIMEOUT_S}s\n" + stack.diagnostics(DAG_ID))
    _shot(page, "08-run-finished")
    if badge.inner_text() != "Success":
        pytest.fail(f"run {run_id} failed\n" + stack.diagnostics(DAG_ID))
    assert stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"] == "success"
    assert _ti_state(stack, run_id, PROMOTE_TASK) == "success"  # not skipped: the approval let it through
    champion = MlflowClient(tracking_uri=stack.mlflow_url).get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.version == version, f"champion is version {champion.version}, approved was {version}"
    assert champion.tags.get("promotion.approval") == "approved", champion.tags
    assert champion.tags.get("promotion.approved_by") == "admin", champion.tags
    assert champion.tags.get("promotion.approval_comment") == comment, champion.tags  # verbatim
    versions = _registered_versions(stack, run_key)
    assert len(versions) == 1, f"expected one model version registered by {run_key}, got {versions}"
    mlflow_run_id = versions[0]["run_id"]
    params = {p["key"]: p["value"] for p in stack.mlflow("runs/get", run_id=mlflow_run_id)["run"]["data"]["params"]}
    assert params.get("window_end") == window_end, params  # the date typed into the form is the one trained on

    # -- 9. open the training task's log: it names the run it works for and the MLflow run it made -----
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
    _shot(page, "09-task-log")

    # -- 10. follow the "MLflow run" extra link: the MLflow UI's page of the run just made --------------
    page.get_by_role("link", name="Details", exact=True).click()
    link = page.get_by_role("link", name=MLFLOW_RUN, exact=True)
    expect(link).to_be_visible()
    _shot(page, "10-extra-links")
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
    _shot(mlflow_page, "11-mlflow-run")

    # -- 12. the evaluation card is one click from the evaluate task: its "Card" extra link ------------
    page.goto(f"{stack.api_url}/dags/{DAG_ID}/runs/{run_id}/tasks/{EVALUATE_TASK}")
    page.get_by_role("link", name="Details", exact=True).click()
    card_link = page.get_by_role("link", name=CARD, exact=True)
    expect(card_link).to_be_visible()
    _shot(page, "12-card-link")
    if card_link.get_attribute("target") == "_blank":
        with page.context.expect_page() as card_tab:
            card_link.click()
        card_page = card_tab.value
    else:
        card_link.click()
        card_page = page
    card_page.wait_for_load_state()
    expect(card_page).to_have_url(re.compile(rf"/mlops/reports/reports/promotion/.+/card_v{version}\.html"))
    expect(card_page.locator("body")).to_contain_text(f"version {version}")
    expect(card_page.locator("img").first).to_be_visible()  # the figures, embedded in the page
    _shot(card_page, "12-card")
