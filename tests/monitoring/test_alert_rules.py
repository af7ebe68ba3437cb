"""The Prometheus alert rules (include/monitoring/alerts.yml): `promtool check rules` and `promtool test rules`.

promtool comes with Debian's `prometheus` package (`make monitoring-deps` installs it; `make test` and `.ci/run`
call it). Without promtool these tests fail, so CI cannot pass them by accident; set MLOPS_SKIP_PROMTOOL=1 to
skip them on a machine without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "include" / "monitoring"
RUNBOOK = ROOT / "docs" / "runbook.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("MLOPS_SKIP_PROMTOOL") == "1":
            pytest.skip("promtool not on PATH and MLOPS_SKIP_PROMTOOL=1")
        pytest.fail(
            "promtool not on PATH: `make monitoring-deps` installs Debian's prometheus (or MLOPS_SKIP_PROMTOOL=1)"
        )
    return path


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=MONITORING, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules(promtool):
    result = _run([promtool, "check", "rules", "alerts.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules(promtool):
    result = _run([promtool, "test", "rules", "alerts_test.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#{1,6} (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_rule_has_a_summary_and_a_runbook_section_that_exists():
    rules = [r for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    anchors = _anchors(RUNBOOK.read_text())
    tested = (MONITORING / "alerts_test.yml").read_text()
    for rule in rules:
        notes = rule["annotations"]
        assert notes.get("summary"), rule["alert"]
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/runbook.md" and anchor in anchors, (rule["alert"], notes["runbook_url"])
        assert f"alertname: {rule['alert']}\n" in tested, f"{rule['alert']} has no promtool test"
