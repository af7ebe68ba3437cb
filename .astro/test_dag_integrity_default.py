"""DAG integrity tests (the check `astro dev parse` / `astro dev pytest` runs), adapted to Airflow 3.3.

The checks are the project's own, in one place: ``tests/dags/test_dag_integrity.py``. This file runs the
ones that need only the DAG files: every file in dags/ imports without errors and holds the expected DAGs,
one per file named after it; every DAG has tags, a doc, a run timeout and max_active_runs; every task is
retried with backoff, has an execution timeout, owner ``mlops`` and the failure notifier; and no DAG file
imports a heavy library (checked in a fresh interpreter). Run from the project root:

    PYTHONPATH=.:plugins AIRFLOW__CORE__LOAD_EXAMPLES=False pytest .astro/test_dag_integrity_default.py

Unlike the Astro CLI's default file, this one does not monkeypatch connections, variables or
``os.getenv``: the DAGs here must not touch connections or variables at parse time, so doing so is
reported as an import error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The DAGs import `include.mlops...` (project root) and `mlops_airflow...` (plugins/); the project's
# PYTHONPATH provides both, this only makes a bare `pytest .astro/...` work too.
for _path in (PROJECT_ROOT, PROJECT_ROOT / "plugins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from tests.dags.test_dag_integrity import (  # noqa: E402  (after sys.path is set up)
    dagbag,
    test_dag_file_imports_no_heavy_library,
    test_every_task_retries_with_backoff_and_times_out,
    test_no_import_errors_and_the_expected_dags,
    test_one_dag_per_file_named_after_it,
)

__all__ = [
    "dagbag",
    "test_dag_file_imports_no_heavy_library",
    "test_every_task_retries_with_backoff_and_times_out",
    "test_no_import_errors_and_the_expected_dags",
    "test_one_dag_per_file_named_after_it",
]

pytestmark = pytest.mark.integrity
