"""`make run`'s LocalExecutor forkserver preload (scripts/local-executor.env) is safe.

Each probe is a fresh interpreter that applies the settings exactly as `airflow scheduler` does
(``set_component_mp_start_method("scheduler")``), starts a worker as the LocalExecutor does (a
``multiprocessing.Process``) and forks task processes from it as the Task SDK supervisor does (``os.fork``):
scripts/forkserver_preload.py ``probe``. A project module is written to a temporary folder, imported by one task,
changed on disk, imported by the next task while the same forkserver and worker live on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mlops_dev import base_env
from scripts import forkserver_preload as fsp  # standard library only

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit

MODULE = "mlops_forkserver_probe_mod"
V1, V2 = "VALUE = 'first'\n", "VALUE = 'second, after the edit'\n"


def _env(tmp_path: Path, *extra_path: str) -> dict[str, str]:
    env = base_env(ROOT)
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    env["PYTHONPATH"] = ":".join([env["PYTHONPATH"], *extra_path])
    return env


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One probe with the shipped settings: a worker, then two tasks with an edit of the module in between."""
    tmp = tmp_path_factory.mktemp("forkserver")
    spec = {
        "settings": fsp.read_settings(),
        "heavy": fsp.preload_modules(),
        "module": MODULE,
        "module_dir": str(tmp),
        "versions": [V1, V2],
        "memory_of_worker": True,
    }
    return fsp.run_probe(spec, _env(tmp)), tmp


def test_the_settings_are_scoped_to_the_scheduler_and_preload_the_heavy_libraries():
    settings = fsp.read_settings()
    assert settings[fsp.START_METHOD] == "forkserver"
    assert set(settings) == {fsp.START_METHOD, fsp.PRELOAD}  # nothing else: the dag-processor keeps its default
    modules = fsp.preload_modules(settings)
    assert {"pandas", "sklearn.ensemble", "mlflow.sklearn", "airflow.sdk.execution_time.task_runner"} <= set(modules)
    assert not [m for m in modules if m.split(".")[0] in ("include", "mlops_airflow", "dags", "tests")]


def test_a_task_process_inherits_every_preloaded_library_and_no_project_module(shipped):
    out, _ = shipped
    worker, first = out["worker"], out["tasks"][0]
    assert worker["start_method"] == "forkserver"
    assert worker["ppid"] != out["driver_pid"]  # forked by the forkserver, not by the scheduler
    # every module of the list imported in the forkserver: a typo would be silently missing here
    assert worker["inherited"] == sorted(fsp.preload_modules())
    assert first["inherited"] == sorted(fsp.preload_modules())
    assert worker["project"] == [] and first["project_before"] == []
    assert first["threads"] == 1  # a forked task starts single-threaded (BLAS/jemalloc threads are not copied)


def test_an_edited_project_module_reloads_while_the_forkserver_lives_on(shipped):
    out, tmp = shipped
    first, second = out["tasks"]
    assert first["value"] == "first"
    assert second["value"] == "second, after the edit"
    assert first["pid"] != second["pid"]  # two task processes of one worker, one forkserver
    assert out["worker_has_module"] is False  # the worker never imported it: each task does, from disk
    assert (tmp / f"{MODULE}.py").read_text() == V2


def test_a_preloaded_project_module_would_not_reload(tmp_path):
    # what the rule "third-party modules only" prevents: the same edit, the module in the preload list
    spec = {
        "settings": {fsp.START_METHOD: "forkserver", fsp.PRELOAD: f"json,{MODULE}"},
        "heavy": ["json", MODULE],
        "module": MODULE,
        "module_dir": str(tmp_path),
        "versions": [V1, V2],
    }
    (tmp_path / f"{MODULE}.py").write_text(V1)  # the forkserver imports it when it starts
    out = fsp.run_probe(spec, _env(tmp_path, str(tmp_path)))
    assert [t["value"] for t in out["tasks"]] == ["first", "first"]  # stale code in the second task


def test_the_forkserver_skips_a_module_that_does_not_import_without_a_word(tmp_path):
    # why --check exists: Python's forkserver catches the ImportError, the scheduler starts as if all were well
    spec = {"settings": {fsp.START_METHOD: "forkserver", fsp.PRELOAD: "json,no_such_module_x1"}, "heavy": ["json"]}
    out = fsp.run_probe(spec, _env(tmp_path))
    assert out["worker"]["start_method"] == "forkserver"
    assert out["worker"]["inherited"] == ["json"]


def test_check_refuses_a_typo_and_the_projects_code(tmp_path):
    problems = fsp.check(["json", "no_such_module_x1", "include.mlops.core.config"], env=_env(tmp_path))
    assert len(problems) == 2, problems
    assert problems[0].startswith("no_such_module_x1 does not import (ModuleNotFoundError")
    assert problems[1].startswith("include.mlops.core.config is the project's code")
    assert fsp.check(["json"], env=_env(tmp_path)) == []


def test_check_refuses_a_library_that_drags_in_the_projects_code(tmp_path):
    (tmp_path / "thirdparty_x1.py").write_text("import include.mlops.core.config\n")
    problems = fsp.check(["thirdparty_x1"], env=_env(tmp_path, str(tmp_path)))
    assert len(problems) == 1 and "include.mlops.core.config" in problems[0], problems


def test_check_refuses_an_empty_list():
    assert fsp.check([]) and "empty" in fsp.check([])[0]


def test_read_settings_refuses_a_line_that_is_not_key_value(tmp_path):
    path = tmp_path / "x.env"
    path.write_text("# comment\n\nA_B=1\nexport C=2\n")
    with pytest.raises(ValueError, match=r"x.env:4: expected KEY=VALUE"):
        fsp.read_settings(path)


def test_run_local_sources_the_settings_and_checks_them():
    script = (ROOT / "scripts" / "run_local.sh").read_text()
    assert "scripts/local-executor.env" in script
    assert re.search(r'forkserver_preload\.py"? --check', script)
    # bash reads the file as the Python side does
    out = subprocess.run(
        ["bash", "-c", f'set -a; . {ROOT / "scripts" / "local-executor.env"}; echo "${fsp.PRELOAD}"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out.split(",") == fsp.preload_modules()
