"""Every use of a third-party private API, in one place.

Each entry names the package, the private name it reaches for and why no public API does the job; each has a
test in ``tests/unit/core/test_compat.py`` that fails loudly, naming the package and its installed version, when
an upgrade moves or renames what it uses. Nothing outside this module imports a private name of another package.
Heavy libraries are imported inside the functions: this module is imported at DAG-parse time by nothing, but
cheaply by every stage.
"""

from __future__ import annotations

# --- MLflow ---------------------------------------------------------------------------------------------------

# --- Great Expectations -------------------------------------------------------------------------------------

# --- scikit-learn -------------------------------------------------------------------------------------------

# --- Airflow ------------------------------------------------------------------------------------------------
