"""`make demo`: the whole loop, headless, in one process, on a scratch stack under .demo/.

1. Plays a simulated period day by day, as the scheduler would: one faulty day, an abrupt shift (a new fraud
   pattern and a channel-mix change from SHIFT) and labels that arrive 7 days late. Each day:
   ingest_and_validate (the day's features; the labels of 7 days earlier; the faulty day is quarantined),
   train_and_promote on the weekly days until MONITOR_FROM (training uses matured labels only), score_batch
   (the champion in force scores the day into the prediction log), then drift_monitor from MONITOR_FROM on.
   When drift_monitor triggers retraining the demo plays the scheduler and runs the queued run with its conf.
2. Lands the labels of the last week (they arrive after the period ends).
3. Scores the post-shift days under three policies on realized performance: on drift (the prediction log
   joined with the labels), never retrain (the champion at MONITOR_FROM) and retrain daily (each day a model
   trained on the days whose labels had matured by then).

Progress goes to stdout; Airflow's task logs go to .demo/demo.log. The last line is one JSON object:
champion_version, promotions, rejections, validation_failures_quarantined, drift_detected_days,
retrains_triggered_by_drift, label_delay_days, metric_never_retrain, metric_drift_retrain,
metric_daily_retrain, retrains_daily_policy, gain_recovered_share = (drift - never) / (daily - never),
retrain_share = drift-triggered retrains / daily retrains, duration_s, ...
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
        "key_column": "transaction_id",
        "label_delay_days": 7,  # chargebacks: the labels of day D land with the run of D + 7
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
        # a drift-triggered retrain: the 5 newest matured days, the newest one held out (so it trains on every
        # post-shift labelled day but one, with few pre-shift days beside them); it fires once those training days
        # hold a drifted day (drift.min_drifted_training_days; unset with late labels: 1): on the shift day no
        # post-shift label exists yet. The daily policy retrains on the same 5 days (without a holdout)
        "retrain_window_days": 5,
        "retrain_holdout_days": 1,
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
    from mlops_dev.env import embedded_env  # from the checkout: make demo runs there

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
    """``dag.test()`` with every param spelled out; then re-parse the DAG (in-process, a task can keep its
    rendered template fields after a run; a worker would parse the file again for every try)."""
    from airflow.dag_processing.dagbag import DagBag

    with quiet(log):
        run = DAGS[dag_id].test(run_conf=full_conf(DAGS[dag_id], conf or {}), **test_kwargs)
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


def policy_metrics(cfg, client, never_version: str) -> dict:
    """Realized primary metric on the post-shift days, pooled, for three policies on the same days and labels.

    On drift: what the prediction log says the champion in force predicted each day (no re-score), joined
    with the labels as they matured. Never: the champion at the shift. Daily: each day a model trained on
    the days whose labels had matured by then (``retrain_window_days`` of them), as a team retraining
    every day could. Every label is in by now (the demo landed the last week's labels after its end)."""
    import numpy as np
    import pandas as pd

    from include.mlops.data.lake import Lake
    from include.mlops.data.outcomes import SCORE, join_labels, key_of, matured, read_labels, read_predictions
    from include.mlops.model.metrics import compute_metrics, score
    from include.mlops.model.registry import load_version
    from include.mlops.model.training import build_pipeline, feature_columns

    lake = Lake.at(cfg.lake_root)
    name, task, target = cfg.dataset.name, cfg.dataset.task, cfg.dataset.target
    metric, key, delay = cfg.evaluation.primary_metric, key_of(cfg), cfg.dataset.label_delay_days
    curated = set(lake.list_partitions("curated", name))
    last = START + dt.timedelta(days=DAYS)
    days = [d for d in (SHIFT + dt.timedelta(days=i) for i in range((last - SHIFT).days)) if d.isoformat() in curated]
    never_model = load_version(client, cfg.model.name, never_version)

    def labelled(day: dt.date) -> pd.DataFrame | None:
        labels = read_labels(lake, cfg, day)
        if labels is None:
            return None
        return join_labels(lake.read_partition("curated", name, day), labels, key, target)[0]

    window = cfg.drift.retrain_window_days or cfg.training.window_days
    y, never, ours, daily, scored_days = [], [], [], [], []
    for day in days:
        frame, logged = labelled(day), read_predictions(lake, cfg, day, columns=[key, SCORE])
        if frame is None or logged is None:
            continue
        frame = frame.merge(logged, on=key, how="inner")
        scored_days.append(day.isoformat())
        y.append(frame[target].to_numpy())
        ours.append(frame[SCORE].to_numpy())
        never.append(score(never_model, frame, task))
        past = [day - dt.timedelta(days=k) for k in range(window + delay, 0, -1)]
        past = [d for d in past if matured(d, day, delay) and d.isoformat() in curated][-window:]
        train = pd.concat([f for f in map(labelled, past) if f is not None], ignore_index=True)
        numeric, categorical = feature_columns(train, cfg)
        model = build_pipeline(cfg, numeric, categorical).fit(train[numeric + categorical], train[target])
        daily.append(score(model, frame, task))
    truth = np.concatenate(y)

    def pooled(scores: list) -> float:
        return round(compute_metrics(task, truth, np.concatenate(scores))[metric], 4)

    return {
        "metric": metric,
        "post_shift_days": len(scored_days),
        "metric_never_retrain": pooled(never),
        "metric_drift_retrain": pooled(ours),
        "metric_daily_retrain": pooled(daily),
        "retrains_daily_policy": len(scored_days),
    }


def land_late_labels(cfg, days: list[dt.date]) -> None:
    """The labels of ``days`` arrive (what the runs of day + delay would land), so every post-shift day can be
    scored on realized performance."""
    from include.mlops.data.ingest import ingest_labels
    from include.mlops.data.lake import Lake

    lake = Lake.at(cfg.lake_root)
    for day in days:
        status = ingest_labels(cfg, lake, day + dt.timedelta(days=cfg.dataset.label_delay_days))
        say(f"    labels of {status['ds']}: {status['status']} ({status['rows']} rows)")


def score(day: dt.date, log: Path) -> dict:
    """score_batch for ``day`` (as the curated asset event would start it); its summary."""
    run = run_dag("score_batch", log, {"start": day.isoformat(), "end": day.isoformat()}, logical_date=None)
    return run.get_task_instance("score").xcom_pull(task_ids="score") or {}


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

    from mlflow import MlflowClient

    from include.mlops.core.config import load_config
    from include.mlops.model.registry import champion_version

    cfg = load_config()
    delay = cfg.dataset.label_delay_days
    uri = json.loads(os.environ["AIRFLOW_CONN_MLFLOW_DEFAULT"])["extra"]["tracking_uri"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    say(
        f"==> {DAYS} days, {START} .. {end}, one at a time as the scheduler would run them: ingest_and_validate (the "
        f"day's features; the labels of {delay} days earlier), score_batch (the champion scores the day), "
        f"train_and_promote weekly until {MONITOR_FROM}, then drift_monitor daily. Fault on {', '.join(FAULTS)}; "
        f"abrupt shift from {SHIFT}; labels arrive {delay} days late"
    )
    quarantined: list[str] = []
    counts = {"PROMOTED": 0, "REJECTED": 0, "FAILED": 0}
    challengers_evaluated, drift_days, drift_retrains, scored = 0, [], 0, 0
    never_version = None
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        run = run_dag("ingest_and_validate", log, logical_date=logical)
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        if states.get("validate_batch") != "success":
            quarantined.append(day.isoformat())
            say(f"    {day}  quarantined ({states.get('validate_batch')}; see lake/quarantine/.../ds={day})")
            continue
        window_end = day + dt.timedelta(days=1)
        if window_end in TRAIN_ENDS:
            outcome, ev = run_training({"window_end": window_end.isoformat(), "reason": "demo weekly retrain"}, log)
            counts[outcome] += 1
            challengers_evaluated += bool(ev.get("champion_version"))
            say(
                f"    {day}  weekly train_and_promote: v{ev.get('challenger_version')} vs champion "
                f"{ev.get('champion_version') or 'none'}: {outcome} ({ev.get('reason')})"
            )
            never_version = champion_version(client, cfg.model.name)
        scored += bool(score(day, log).get("days_scored"))
        if day < MONITOR_FROM:
            continue
        run = run_dag("drift_monitor", log, logical_date=logical + dt.timedelta(hours=1))
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
    say(f"    {DAYS - len(quarantined)} days published, {len(quarantined)} quarantined, {scored} scored")

    say(f"==> the labels of the last {delay} days arrive in the following week")
    land_late_labels(cfg, [end - dt.timedelta(days=k) for k in range(delay - 1, -1, -1)])

    say("==> realized post-shift performance under three policies (never / on drift / daily)")
    policies = policy_metrics(cfg, client, never_version)
    never, ours, daily = (policies[f"metric_{p}_retrain"] for p in ("never", "drift", "daily"))
    summary = {
        "champion_version": champion_version(client, cfg.model.name),
        "promotions": counts["PROMOTED"],
        "rejections": counts["REJECTED"],
        "training_failures": counts["FAILED"],
        "challengers_evaluated": challengers_evaluated,
        "validation_failures_quarantined": len(quarantined),
        "quarantined_days": quarantined,
        "days_scored": scored,
        "drift_detected_days": len(drift_days),
        "retrains_triggered_by_drift": drift_retrains,
        "label_delay_days": delay,
        **policies,
        "gain_recovered_share": round((ours - never) / (daily - never), 3) if daily != never else None,
        "retrain_share": round(drift_retrains / policies["retrains_daily_policy"], 3),
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
    import argparse

    # no options: --help prints the module docstring (what the demo plays and the summary's keys)
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    raise SystemExit(main())
