"""`make demo`: the whole loop, headless, in one process, on a scratch stack under .demo/.

1. Seeds a simulated period with one faulty day and an abrupt shift (a new fraud pattern and a
   channel-mix change from SHIFT), and backfills ingest_and_validate over it day by day (dag.test:
   real SQLite metadata, real task runs); the faulty day is quarantined.
2. Trains the first champion, then retrains a week later so a challenger is evaluated.
3. Runs drift_monitor for every day from there on. When it triggers retraining, the demo plays the
   scheduler: it runs the queued train_and_promote run (dag.test with the run's conf) and removes
   the placeholder. The retrained challenger is evaluated and promoted or rejected.
4. Scores the post-shift days under three policies on the same data: never retrain (the champion at
   the shift), retrain on drift (the champion in force each day, as chosen above) and retrain every
   day (a model trained on the previous days, each day).

Progress goes to stdout; Airflow's task logs go to .demo/demo.log. The last line is one JSON object:
champion_version, promotions, rejections, validation_failures_quarantined, drift_detected_days,
retrains_triggered_by_drift, metric_never_retrain, metric_drift_retrain, metric_daily_retrain,
retrains_daily_policy, duration_s, ...
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
DAYS = 49  # 2026-09-01 .. 2026-10-19
SHIFT = dt.date(2026, 10, 1)
FAULTS = {"2026-09-17": "nulls"}
TRAIN_ENDS = [dt.date(2026, 9, 22), dt.date(2026, 9, 29)]  # the first champion, then a weekly challenger
MONITOR_FROM = dt.date(2026, 9, 29)  # drift_monitor runs daily from here to the last day

CONFIG = {
    "dataset": {
        "suite": str(ROOT / "include/config/expectations/transactions.json"),
        "exclude_columns": ["transaction_id"],
    },
    "simulator": {
        "seed": 42,
        "rows_per_day": 5000,
        "scenario": "abrupt_drift",
        "scenario_start": SHIFT.isoformat(),
        "faults": FAULTS,
    },
    "lake": {"root": str(WORK / "lake")},
    "training": {"window_days": 21, "holdout_days": 7},
    "drift": {
        "window_days": 3,
        "cooldown_days": 3,
        "exclude_columns": ["day_of_week"],
        "retrain_window_days": 10,
        "retrain_holdout_days": 3,
    },
}


def setup_environment() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "airflow").mkdir(parents=True)
    import yaml

    (WORK / "mlops.yaml").write_text(yaml.safe_dump(CONFIG))
    mlflow_uri = f"sqlite:///{WORK / 'mlflow.db'}"
    for path in (str(ROOT), str(ROOT / "plugins")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from tests.support.env import embedded_env  # from the checkout: make demo runs there

    os.environ.update({**embedded_env(ROOT, WORK, mlflow_uri), "MLOPS_CONFIG": str(WORK / "mlops.yaml")})
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


PARAM_DEFAULTS: dict[str, dict] = {}


def full_conf(dag, conf: dict) -> dict:
    """Every param spelled out: in-process, a run's conf is written into the DAG's own Param objects, so
    a key left out would keep the previous run's value."""
    import copy

    if dag.dag_id not in PARAM_DEFAULTS:
        PARAM_DEFAULTS[dag.dag_id] = {k: copy.deepcopy(dag.params.get_param(k).value) for k in dag.params}
    return {**PARAM_DEFAULTS[dag.dag_id], **conf}


DAGS: dict = {}


def run_dag(dag_id: str, log: Path, conf: dict | None = None, **test_kwargs):
    """``dag.test()`` with every param spelled out; re-parse the DAG after a run in which a task raised
    (in-process, such a task keeps its rendered template fields; a worker would parse the file again)."""
    from airflow.dag_processing.dagbag import DagBag

    with quiet(log):
        run = DAGS[dag_id].test(run_conf=full_conf(DAGS[dag_id], conf or {}), **test_kwargs)
    if any(ti.state != "success" for ti in run.get_task_instances()):
        DAGS[dag_id] = DagBag(dag_folder=DAGS[dag_id].fileloc).dags[dag_id]
    return run


def run_training(conf: dict, log: Path) -> tuple[str, dict]:
    """One train_and_promote run; returns (PROMOTED|REJECTED|FAILED, the evaluation summary)."""
    run = run_dag("train_and_promote", log, conf, logical_date=None)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    evaluation = run.get_task_instance("evaluate_challenger").xcom_pull(task_ids="evaluate_challenger") or {}
    outcome = {"success": "PROMOTED", "skipped": "REJECTED"}.get(states.get("promote_challenger"), "FAILED")
    if outcome == "FAILED":
        say(f"    train_and_promote ended {run.state}: {states} (see {log})")
    return outcome, evaluation


def queued_drift_run(ds: str) -> dict | None:
    """The train_and_promote run drift_monitor queued for ``ds``: return its conf and remove the placeholder
    (the demo runs it itself, as the scheduler would)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(
            select(DagRun).where(DagRun.dag_id == "train_and_promote", DagRun.run_id == f"drift__{ds}")
        )
        if run is None:
            return None
        conf = dict(run.conf or {})
        session.delete(run)
    return conf


def policy_metrics(cfg, champion_by_day: dict[str, str], never_version: str) -> dict:
    """Primary metric on the post-shift days, pooled, for three policies run on the same data."""
    import numpy as np

    from include.mlops.evaluation import compute_metrics, score
    from include.mlops.lake import Lake
    from include.mlops.registry import load_version
    from include.mlops.training import build_pipeline, feature_columns

    lake = Lake.at(cfg.lake_root)
    task, target, metric = cfg.dataset.task, cfg.dataset.target, cfg.evaluation.primary_metric
    curated = set(lake.list_partitions("curated", cfg.dataset.name))
    days = [
        d
        for d in (SHIFT + dt.timedelta(days=i) for i in range((START + dt.timedelta(days=DAYS) - SHIFT).days))
        if d.isoformat() in curated
    ]
    models: dict[str, object] = {}

    def registered(version: str):
        if version not in models:
            models[version] = load_version(cfg.model.name, version)
        return models[version]

    window = cfg.drift.retrain_window_days or cfg.training.window_days
    y, never, ours, daily = [], [], [], []
    for day in days:
        frame = lake.read_partition("curated", cfg.dataset.name, day)
        y.append(frame[target].to_numpy())
        never.append(score(registered(never_version), frame, task))
        ours.append(score(registered(champion_by_day[day.isoformat()]), frame, task))
        import pandas as pd

        past = [(day - dt.timedelta(days=k)).isoformat() for k in range(window, 0, -1)]
        train = pd.concat([lake.read_partition("curated", cfg.dataset.name, d) for d in past if d in curated])
        numeric, categorical = feature_columns(train, cfg)
        model = build_pipeline(cfg, numeric, categorical).fit(train[numeric + categorical], train[target])
        daily.append(score(model, frame, task))
    truth = np.concatenate(y)

    def pooled(scores: list) -> float:
        return round(compute_metrics(task, truth, np.concatenate(scores))[metric], 4)

    return {
        "metric": metric,
        "post_shift_days": len(days),
        "metric_never_retrain": pooled(never),
        "metric_drift_retrain": pooled(ours),
        "metric_daily_retrain": pooled(daily),
        "retrains_daily_policy": len(days),
    }


def main() -> int:
    began = time.monotonic()
    setup_environment()
    log = WORK / "demo.log"
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        say(f"DAG import errors: {bag.import_errors}")
        return 1
    DAGS.update(bag.dags)
    for dag in DAGS.values():
        full_conf(dag, {})  # record the defaults before any run
    end = START + dt.timedelta(days=DAYS - 1)

    say(
        f"==> backfilling ingest_and_validate over {START} .. {end} ({DAYS} days; fault injected on "
        f"{', '.join(FAULTS)}; abrupt shift from {SHIFT})"
    )
    quarantined: list[str] = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        run = run_dag("ingest_and_validate", log, logical_date=logical)
        if run.state != "success":
            quarantined.append(day.isoformat())
            say(f"    {day}  {run.state.upper()}: quarantined (see lake/quarantine/.../ds={day}/validation.json)")
    say(f"    {DAYS - len(quarantined)} days published, {len(quarantined)} quarantined")

    from mlflow import MlflowClient

    from include.mlops.config import load_config
    from include.mlops.registry import champion_version

    cfg = load_config()
    uri = json.loads(os.environ["AIRFLOW_CONN_MLFLOW_DEFAULT"])["extra"]["tracking_uri"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    say("==> train_and_promote, weekly")
    counts = {"PROMOTED": 0, "REJECTED": 0, "FAILED": 0}
    challengers_evaluated = 0
    for window_end in TRAIN_ENDS:
        outcome, ev = run_training({"window_end": window_end.isoformat(), "reason": "demo weekly retrain"}, log)
        counts[outcome] += 1
        challengers_evaluated += bool(ev.get("champion_version"))
        say(
            f"    window ending {window_end}: v{ev.get('challenger_version')} vs champion "
            f"{ev.get('champion_version') or 'none'}: {outcome} ({ev.get('reason')})"
        )
    never_version = champion_version(client, cfg.model.name)

    say(f"==> drift_monitor, daily from {MONITOR_FROM}")
    drift_days, drift_retrains = [], 0
    champion_by_day: dict[str, str] = {}
    day = MONITOR_FROM
    while day <= end:
        logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1), tzinfo=dt.UTC)
        run = run_dag("drift_monitor", log, logical_date=logical)
        check = run.get_task_instance("check_drift").xcom_pull(task_ids="check_drift") or {}
        if check.get("drifted"):
            drift_days.append(day.isoformat())
        line = f"    {day}  share {check.get('drift_share', 0):.2f}  {'DRIFT' if check.get('drifted') else 'ok   '}"
        conf = queued_drift_run(day.isoformat()) if check.get("trigger") else None
        if conf is not None:
            drift_retrains += 1
            outcome, ev = run_training(conf, log)
            counts[outcome] += 1
            challengers_evaluated += bool(ev.get("champion_version"))
            line += f"  -> retrain: v{ev.get('challenger_version')} {outcome} ({ev.get('reason')})"
        elif check.get("drifted"):
            line += f"  ({check.get('reason', '').split(' -> ')[-1]})"
        say(line)
        champion_by_day[(day + dt.timedelta(days=1)).isoformat()] = champion_version(client, cfg.model.name)
        day += dt.timedelta(days=1)

    say("==> scoring the post-shift days under three policies (never / on drift / daily)")
    policies = policy_metrics(cfg, champion_by_day, never_version)
    summary = {
        "champion_version": champion_version(client, cfg.model.name),
        "promotions": counts["PROMOTED"],
        "rejections": counts["REJECTED"],
        "training_failures": counts["FAILED"],
        "challengers_evaluated": challengers_evaluated,
        "validation_failures_quarantined": len(quarantined),
        "quarantined_days": quarantined,
        "drift_detected_days": len(drift_days),
        "retrains_triggered_by_drift": drift_retrains,
        **policies,
        "shift_date": SHIFT.isoformat(),
        "days_ingested": DAYS,
        "model_name": cfg.model.name,
        "lake": str(WORK / "lake"),
        "mlflow_tracking_uri": uri,
        "duration_s": round(time.monotonic() - began, 1),
    }
    print(json.dumps(summary), flush=True)
    return 0 if summary["champion_version"] and not counts["FAILED"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
