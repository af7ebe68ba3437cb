"""`make demo`: the whole spine, headless, in one process, on a scratch stack under .demo/.

Seeds a simulated period with one faulty day, backfills ingest_and_validate over it day by day
(dag.test: real SQLite metadata, real task runs), trains the first champion, then retrains weekly
so each new challenger is evaluated against the champion and promoted or rejected.

Progress goes to stdout; Airflow's own task logs go to .demo/demo.log. The last line is one JSON
object: champion_version, promotions, rejections, validation_failures_quarantined, duration_s, ...
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".demo"
START = dt.date(2026, 9, 1)
DAYS = 42
FAULTS = {"2026-09-17": "nulls"}
TRAIN_ENDS = [dt.date(2026, 9, 22), dt.date(2026, 9, 29), dt.date(2026, 10, 6), dt.date(2026, 10, 13)]

CONFIG = {
    "dataset": {"suite": str(ROOT / "include/config/expectations/transactions.json"),
                "exclude_columns": ["transaction_id"]},
    "simulator": {"seed": 42, "rows_per_day": 5000, "scenario": "baseline", "faults": FAULTS},
    "lake": {"root": str(WORK / "lake")},
    "training": {"window_days": 21, "holdout_days": 7},
}  # fmt: skip


def setup_environment() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "airflow").mkdir(parents=True)
    import yaml

    (WORK / "mlops.yaml").write_text(yaml.safe_dump(CONFIG))
    mlflow_uri = f"sqlite:///{WORK / 'mlflow.db'}"
    os.environ.update(
        {
            "AIRFLOW_HOME": str(WORK / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{WORK / 'airflow' / 'airflow.db'}",
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "http", "extra": {"tracking_uri": mlflow_uri}}),
            "MLOPS_CONFIG": str(WORK / "mlops.yaml"),
            "MLFLOW_ENABLE_TELEMETRY": "false",
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    for path in (str(ROOT), str(ROOT / "plugins")):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.chdir(WORK)  # a SQLite MLflow store writes artifacts to ./mlruns
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@contextlib.contextmanager
def quiet(log_path: Path):
    """Send fd 1/2 (Airflow's task logs) to the demo log while a DAG runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def say(message: str) -> None:
    print(message, flush=True)


def main() -> int:
    began = time.monotonic()
    setup_environment()
    log = WORK / "demo.log"
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        say(f"DAG import errors: {bag.import_errors}")
        return 1
    ingest, train = bag.dags["ingest_and_validate"], bag.dags["train_and_promote"]

    say(f"==> backfilling ingest_and_validate over {START} .. {START + dt.timedelta(days=DAYS - 1)} "
        f"({DAYS} days, fault injected on {', '.join(FAULTS)})")  # fmt: skip
    quarantined: list[str] = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        with quiet(log):
            run = ingest.test(logical_date=logical)
        if run.state != "success":
            quarantined.append(day.isoformat())
            say(f"    {day}  {run.state.upper()}: quarantined (see lake/quarantine/.../ds={day}/validation.json)")
    say(f"    {DAYS - len(quarantined)} days published, {len(quarantined)} quarantined")

    promotions = rejections = 0
    evaluated: list[dict] = []
    for end in TRAIN_ENDS:
        with quiet(log):
            run = train.test(
                logical_date=None, run_conf={"window_end": end.isoformat(), "reason": "demo weekly retrain"}
            )
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        evaluation = run.get_task_instance("evaluate_challenger").xcom_pull(task_ids="evaluate_challenger")
        if states.get("promote_challenger") == "success":
            promotions += 1
            outcome = "PROMOTED"
        elif states.get("promote_challenger") == "skipped":
            rejections += 1
            outcome = "REJECTED"
        else:
            say(f"    training up to {end} ended {run.state}: {states} (see {log})")
            continue
        evaluated.append(evaluation)
        say(f"    window ending {end}: v{evaluation['challenger_version']} vs champion "
            f"{evaluation['champion_version'] or 'none'}: {outcome} ({evaluation['reason']})")  # fmt: skip

    from mlflow import MlflowClient

    from include.mlops.config import load_config
    from include.mlops.registry import champion_version

    cfg = load_config()
    uri = json.loads(os.environ["AIRFLOW_CONN_MLFLOW_DEFAULT"])["extra"]["tracking_uri"]
    champion = champion_version(MlflowClient(tracking_uri=uri, registry_uri=uri), cfg.model.name)
    summary = {
        "champion_version": champion,
        "promotions": promotions,
        "rejections": rejections,
        "challengers_evaluated": sum(1 for e in evaluated if e["champion_version"]),
        "validation_failures_quarantined": len(quarantined),
        "quarantined_days": quarantined,
        "days_ingested": DAYS,
        "model_name": cfg.model.name,
        "lake": str(WORK / "lake"),
        "mlflow_tracking_uri": uri,
        "duration_s": round(time.monotonic() - began, 1),
    }
    print(json.dumps(summary), flush=True)
    return 0 if champion else 1


if __name__ == "__main__":
    raise SystemExit(main())
