"""include.mlops.core.compat: each private third-party API the project uses still exists where compat reaches for
it. A failure here names the package and its installed version: an upgrade moved it, so update compat (one place)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

pytestmark = pytest.mark.unit


def moved(package: str, what: str) -> str:
    return f"{package} {version(package)}: {what} moved or changed; update include/mlops/core/compat.py"


# --- MLflow ---------------------------------------------------------------------------------------------------

# --- Great Expectations -------------------------------------------------------------------------------------

# --- scikit-learn -------------------------------------------------------------------------------------------

# --- Airflow ------------------------------------------------------------------------------------------------
