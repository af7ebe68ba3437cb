"""No secret in the repository, and models are only ever loaded from the MLflow registry."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / ".secrets.baseline"


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return out.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an exported tarball)
        skip = {".venv", ".git", ".airflow", ".mlflow", "data", "test-artifacts", "node_modules"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not set(p.parts) & skip]


def scan(paths: list[str], cwd: Path) -> dict[str, set[str]]:
    """detect-secrets (the pre-commit hook's scanner) with the baseline's plugins and filters:
    file -> hashed secrets found."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import transient_settings

    baseline = json.loads(BASELINE.read_text())
    settings = {"plugins_used": baseline["plugins_used"], "filters_used": baseline["filters_used"]}
    found: dict[str, set[str]] = {}
    with transient_settings(settings):
        collection = SecretsCollection(root=str(cwd))
        for path in paths:
            collection.scan_file(path)
        for filename, secret in collection:
            found.setdefault(filename, set()).add(secret.secret_hash)
    return found


def test_no_secret_is_committed():
    """Every finding in a tracked file is one a person audited into .secrets.baseline as not a secret
    (placeholders such as moto's "testing"). Secrets belong in Airflow Connections / .env (git-ignored)."""
    baseline = json.loads(BASELINE.read_text())
    audited = {
        f: {s["hashed_secret"] for s in items if s.get("is_secret") is False}
        for f, items in baseline["results"].items()
    }
    files = [f for f in tracked_files() if f != ".secrets.baseline" and (ROOT / f).is_file()]
    new = {f: hashes - audited.get(f, set()) for f, hashes in scan(files, ROOT).items()}
    new = {f: h for f, h in new.items() if h}
    assert new == {}, (
        "possible secrets (remove them, or audit false positives into .secrets.baseline with "
        f"`.venv/bin/detect-secrets scan --baseline .secrets.baseline` then `detect-secrets audit`): {sorted(new)}"
    )


PLANTED = {
    "aws.py": 'aws_access_key_id = "AKIA' + "ABCDEFGHIJKLMNOP" + '"\n',
    "url.env": "AIRFLOW_CONN_MLFLOW='postgresql://mlflow:" + "hunter2hunter2@db/mlflow'\n",
    "slack.py": 'SLACK = "xoxb-' + '123456789012-abcdefghijkl"\n',
    "compose.env": "POSTGRES_PASSWORD=" + "s3cr3t-Passw0rd\n",
    "conn.json": '{"password": "' + 'correct-horse-battery"}\n',
    "values.yaml": "password: " + "Zq9xL2mV8tR4\n",
    "key.pem": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n",
    "gh.py": 'token = "ghp_' + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + '"\n',  # pragma: allowlist secret
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_the_scan_finds_a_planted_secret(tmp_path, name):
    (tmp_path / name).write_text(PLANTED[name])
    assert scan([name], tmp_path).get(name), PLANTED[name]


def test_placeholders_and_env_references_pass(tmp_path):
    (tmp_path / "ok.env").write_text("password: ${POSTGRES_PASSWORD:?set it}\nAIRFLOW__CORE__FERNET_KEY=\n")
    (tmp_path / "ok.py").write_text('password = os.environ["POSTGRES_PASSWORD"]\n')
    assert scan(["ok.env", "ok.py"], tmp_path) == {}


def test_models_are_loaded_only_from_registry_uris():
    """Every ``load_model`` call in the library loads a registered version: a ``models:/`` URI, or the files
    ``download_version`` fetched for a version the registry names (a client-bound load: no process-wide registry
    URI), never a run path or a file of its own: what serves or scores is what the registry says."""
    calls = []
    for path in (ROOT / "include").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            from_registry = {
                t.id
                for n in ast.walk(func)
                if isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Call)
                and getattr(n.value.func, "id", "") == "download_version"
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", getattr(node.func, "id", "")) == "load_model"
                ):
                    calls.append((path.name, node, from_registry))
    assert calls, "no load_model call found: the check would be vacuous"
    for name, node, from_registry in calls:
        uri = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "model_uri")
        first = uri.values[0] if isinstance(uri, ast.JoinedStr) else uri
        registered = isinstance(first, ast.Constant) and str(first.value).startswith("models:/")
        assert registered or (isinstance(uri, ast.Name) and uri.id in from_registry), (name, ast.unparse(uri))
