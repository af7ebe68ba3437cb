"""Test environment for every test (tests/ and .astro/): an Airflow home, metadata DB, MLflow store
and lake of the session's own.

Airflow reads its configuration when first imported, so the environment is set here, at conftest
import time, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SESSION_DIR = Path(tempfile.mkdtemp(prefix="mlops-tests-"))
MLFLOW_URI = f"sqlite:///{SESSION_DIR / 'mlflow.db'}"

for path in (str(ROOT), str(ROOT / "plugins")):
    if path not in sys.path:
        sys.path.insert(0, path)

from mlops_dev.env import embedded_env  # noqa: E402  (standard library only: imports nothing from Airflow)

os.environ.update(
    {
        **embedded_env(ROOT, SESSION_DIR, MLFLOW_URI),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "MLFLOW_TRACKING_URI": MLFLOW_URI,
        "DO_NOT_TRACK": "true",
        "GX_ANALYTICS_ENABLED": "false",
    }
)
os.environ.pop("MLOPS_CONFIG", None)
(SESSION_DIR / "airflow").mkdir(parents=True, exist_ok=True)
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries a layer marker, taken from its folder when not set explicitly; the integration and
    container tests keep their file order under pytest-randomly (below)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if any(
            m.name in ("unit", "e2e", "integrity", "integration", "browser", "containers") for m in item.iter_markers()
        ):
            continue
        if "containers" in parts:
            item.add_marker(pytest.mark.containers)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "browser" in parts:
            item.add_marker(pytest.mark.browser)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.e2e)
        elif "dags" in parts or ".astro" in parts:
            item.add_marker(pytest.mark.integrity)
        else:
            item.add_marker(pytest.mark.unit)

    # The integration tests are steps on one shared stack (test_a ingests the days test_b trains on; a module reads
    # what an earlier one left). pytest-randomly has shuffled the suite before this hook runs: every other test
    # stays in its random order, the integration tests run last in their file order (path, then line; a
    # parametrized test's cases keep the shuffled order among themselves, they share nothing).
    # The compose smoke test (tests/containers) is steps on one compose project in the same way.
    def stepwise(item: pytest.Item) -> bool:
        return bool({"integration", "containers"} & set(Path(str(item.fspath)).parts))

    steps = [item for item in items if stepwise(item)]
    if steps:
        others = [item for item in items if not stepwise(item)]
        items[:] = others + sorted(steps, key=lambda item: (str(item.fspath), item.location[1] or 0))


@pytest.fixture(scope="session", autouse=True)
def _work_in_session_dir():
    """A SQLite MLflow store puts artifacts in ./mlruns: keep them out of the checkout."""
    previous = os.getcwd()
    os.chdir(SESSION_DIR)
    yield
    os.chdir(previous)
