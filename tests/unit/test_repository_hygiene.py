"""No secret in the repository, and models are only ever loaded from the MLflow registry."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = r"[A-Za-z0-9_]*(?:password|passwd|secret|token|api_key|fernet_key|access_key)[A-Za-z0-9_]*"
PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36}\b"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s@'\"]+)@"),
    "secret assigned a literal": re.compile(rf"(?i)\b{KEY}['\"]?\s*[:=]\s*['\"]([^'\"]+)['\"]"),
    "secret in an env/YAML line": re.compile(rf"(?i)^\s*(?:export\s+|-\s+)?{KEY}\s*[:=]\s*([^\s'\"#]+)"),
}
# What a placeholder looks like: an env/compose reference, a template, or an obvious non-secret.
PLACEHOLDER = re.compile(
    r"^(\$|<|\{|%|/|change-me|not-a-|example|dummy|fake|testing$|test$|none$|null$|true$|false$)", re.IGNORECASE
)
EXPRESSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(\(|\[|,|$)")  # a name, call or keyword argument in code


def findings(path: str, text: str) -> list[str]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                value = match.group(1) if pattern.groups else match.group(0)
                if pattern.groups and (
                    PLACEHOLDER.match(value) or (what.startswith("secret in") and EXPRESSION.match(value))
                ):
                    continue
                if pattern.groups and what == "secret assigned a literal" and len(value) < 8:
                    continue
                out.append(f"{path}:{number}: {what}: {line.strip()[:120]}")
    return out


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return out.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an exported tarball)
        skip = {".venv", ".git", ".airflow", ".mlflow", "data", "test-artifacts", "node_modules"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not set(p.parts) & skip]


def test_no_secret_is_committed():
    problems = []
    for rel in tracked_files():
        path = ROOT / rel
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        problems += findings(rel, text)
    assert problems == [], "secrets belong in Airflow Connections / .env (git-ignored):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "planted",
    [
        'aws_access_key_id = "AKIA' + "ABCDEFGHIJKLMNOP" + '"',
        "AIRFLOW_CONN_MLFLOW='postgresql://mlflow:" + "hunter2hunter2@db/mlflow'",
        'SLACK = "xoxb-' + '123456789012-abcdefghijkl"',
        "POSTGRES_PASSWORD=" + "s3cr3t-Passw0rd",
        '{"password": "' + 'correct-horse-battery"}',
    ],
)
def test_the_scan_finds_a_planted_secret(planted):
    assert findings("planted.txt", planted), planted


def test_placeholders_and_env_references_pass():
    ok = [
        "POSTGRES_PASSWORD=change-me-postgres",
        "password: ${POSTGRES_PASSWORD:?set it}",
        'password=os.environ["POSTGRES_PASSWORD"]',
        'json={"username": "admin", "password": "<password>"}',
        "AIRFLOW__CORE__FERNET_KEY=",
    ]
    assert [f for line in ok for f in findings("x", line)] == []


def test_models_are_loaded_only_from_registry_uris():
    """Every ``load_model`` call in the library gets a ``models:/`` URI (a registered version or alias),
    never a run path or file: what serves or scores is what the registry says."""
    calls = []
    for path in (ROOT / "include").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "load_model":
                calls.append((path.name, node))
    assert calls, "no load_model call found: the check would be vacuous"
    for name, node in calls:
        uri = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "model_uri")
        first = uri.values[0] if isinstance(uri, ast.JoinedStr) else uri
        assert isinstance(first, ast.Constant) and str(first.value).startswith("models:/"), (name, ast.unparse(uri))
