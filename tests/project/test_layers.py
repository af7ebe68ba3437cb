"""The import-linter contracts of pyproject.toml ([tool.importlinter], run by `make lint` and pre-commit) hold on the
tree, and each one breaks on a planted import: lint-imports runs on a temporary copy of the packages it checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("include", "plugins", "dags", "scripts", "mlops_dev")  # what [tool.importlinter] root_packages needs


def _copy(tmp_path: Path) -> Path:
    """The Python files of the checked packages and pyproject.toml, under ``tmp_path/project``."""
    project = tmp_path / "project"

    def not_python(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or (not n.endswith(".py") and not (Path(folder) / n).is_dir())]

    for package in PACKAGES:
        shutil.copytree(ROOT / package, project / package, ignore=not_python)
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports from a fresh environment: only the copy (and its plugins/) on PYTHONPATH, as `make lint` sets."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{project}:{project / 'plugins'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_tree_keeps_every_contract(tmp_path):
    out = _lint_imports(_copy(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout, out.stdout


# (file to write or extend, planted code, the broken contract's name, what the report names)
PLANTS = {
    "a library stage imports a later one (function level)": (
        "include/mlops/core/x.py",
        "def f():\n    from include.mlops.promotion.aliases import promote\n",
        "library stages in data-flow order",
        "include.mlops.core.x -> include.mlops.promotion.aliases",
    ),
    "the library imports the plugins": (
        "include/mlops/data/x.py",
        "import mlops_airflow.names\n",
        "the library never imports the Airflow plugins",
        "include.mlops.data.x -> mlops_airflow.names",
    ),
    "a plugin imports a DAG file": (
        "plugins/mlops_airflow/x.py",
        "def f():\n    import dags.train_and_promote\n",
        "scripts -> dags -> plugins -> include, never upward",
        "mlops_airflow.x -> dags.train_and_promote",
    ),
    "a DAG imports a script": (
        "dags/x.py",
        "from scripts import bench\n",
        "scripts -> dags -> plugins -> include, never upward",
        "dags.x -> scripts.bench",
    ),
    "the library imports the dev-only package": (
        "include/mlops/serve/x.py",
        "import mlops_dev.services\n",
        "never imports the dev-only package",
        "include.mlops.serve.x -> mlops_dev.services",
    ),
    "two scripts import each other (the old bench <-> bench_scaling cycle)": (
        "scripts/bench_steps.py",
        "\n\ndef _planted():\n    from scripts import bench_scaling\n",
        "no import cycles",
        ".bench_steps -> .bench_scaling",
    ),
    "two library modules import each other": (
        "include/mlops/core/exceptions.py",  # config.py imports exceptions at module level
        "\n\ndef _planted():\n    from include.mlops.core import config\n",
        "no import cycles",
        "No cycles are allowed in include.mlops.core",
    ),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_planted_import_breaks_its_contract_and_is_named(tmp_path, plant):
    path, code, contract, named = PLANTS[plant]
    project = _copy(tmp_path)
    target = project / path
    target.write_text((target.read_text() if target.exists() else "") + code)
    out = _lint_imports(project)
    assert out.returncode != 0, out.stdout + out.stderr
    broken = out.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and named in broken, out.stdout
