"""The scaling curve (`make bench`, key ``scaling``): wall time and peak RSS of each task's library call, each in a
fresh interpreter (``bench_steps.child``), as the data grows.

- Per day, at ``DAY_ROWS`` rows: land (``land_batch``, the simulator's day), validate (``validate_landed``), publish,
  score (the champion of ``bench_steps.SCORE_SETUP``, a small seed model, scores the day:
  ``bench_steps.SCORE_OURS``) and drift (``read_sampled`` of 3 reference days and 3 current days, ``compute_drift``;
  the days are copies of the day just published, so drift measures its cost, not a verdict).
- A 28-day training window (21 training days, 7 holdout days) at ``WINDOW_ROWS`` rows per day: check
  (``check_window``), train (``train_on_check``, the configured estimator with ``training.max_rows`` at its default)
  and evaluate (``evaluate_and_record``). The window's curated partitions are written directly, not ingested:
  ``WINDOW_BASE_DAYS`` simulated days whose Parquet files are copied to the other days (generating and writing 28
  distinct 1M-row days costs ~15 min on this machine; the cost measured is the same, duplicate rows aside).

``plot`` draws time and memory against rows per day (docs/scaling.png). Nothing here asserts a time.

    python scripts/bench.py --only scaling           # ~15-25 min on 2 shared cores
    python scripts/bench_scaling.py --quick          # 10k/day and a 28 x 20k window: a smoke run of the code
    python scripts/bench_scaling.py --days "" --window 1000000 --out a.json   # some sizes only; then
    python scripts/bench_scaling.py --merge a.json,b.json --out scaling.json  # one document and the plot
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python scripts/bench_scaling.py` puts scripts/ on sys.path, not the project
    sys.path.insert(0, str(ROOT))
from scripts import bench_steps as steps  # noqa: E402 (standard library only at import: the child-process steps)

DAY_ROWS = (100_000, 1_000_000, 3_000_000)
WINDOW_ROWS = (100_000, 1_000_000)
WINDOW_DAYS, HOLDOUT_DAYS = 28, 7
WINDOW_BASE_DAYS = 2
WINDOW_END = dt.date(2026, 3, 29)  # exclusive: 2026-03-01..28
DRIFT_DAYS = 3  # reference days and current days (drift.window_days)
PLOT = ROOT / "docs" / "scaling.png"

CONFIG = """
from include.mlops.core.config import parse_config
from include.mlops.data.lake import Lake
def config(rows, name="scaling"):
    return parse_config({{"lake": {{"root": {root!r}}}, "simulator": {{"rows_per_day": rows}},
                         "dataset": {{"suite": {suite!r}, "label_delay_days": 0}}, "evaluation": {{"floor": 0.0}},
                         "model": {{"name": name}}}})
"""

# copies the curated day to the drift days (dataset "drift"), then: reference vs current, as the drift task does
DRIFT_SETUP = (
    CONFIG
    + """
cfg = config({rows})
lake = Lake.at(cfg.lake_root)
data = lake.read_partition_bytes("curated", cfg.dataset.name, {day!r})
for ds in {days!r}:
    lake.storage.write_bytes(f"curated/drift/ds={{ds}}/part-0.parquet", data)
done()
"""
)
DRIFT_TASK = (
    CONFIG
    + """
t = time.perf_counter()
from include.mlops.monitor.drift import compute_drift, read_sampled
from include.mlops.data.simulator import NUMERIC_COLUMNS, FLAG_COLUMNS, CATEGORICAL_COLUMNS
cfg = config({rows})
lake = Lake.at(cfg.lake_root)
num = [c for c in NUMERIC_COLUMNS + FLAG_COLUMNS if c != "day_of_week"]
cat = list(CATEGORICAL_COLUMNS)
cols = num + cat
days = {days!r}
ref, _, ref_rows = read_sampled(lake, "drift", days[:{n}], cols, cfg.drift.sample_cap, cfg.drift.seed, "is_fraud")
cur, _, cur_rows = read_sampled(lake, "drift", days[{n}:], cols, cfg.drift.sample_cap, cfg.drift.seed, "is_fraud")
result, _ = compute_drift(ref, cur, num, cat, cfg.drift)
done(seconds=time.perf_counter() - t, rows=ref_rows + cur_rows)
"""
)

WINDOW_SETUP = (
    CONFIG
    + """
from include.mlops.data.lake import DATA_FILE, partition_prefix
from include.mlops.data.simulator import generate_day
cfg = config({rows})
lake = Lake.at(cfg.lake_root)
end = dt.date.fromisoformat({end!r})
days = [end - dt.timedelta(days={days} - i) for i in range({days})]
blobs = []
for i, day in enumerate(days):
    if i < {base}:
        lake.write_partition("curated", cfg.dataset.name, day, generate_day(day, rows_per_day={rows}))
        blobs.append(lake.read_partition_bytes("curated", cfg.dataset.name, day))
    else:
        key = f"{{partition_prefix('curated', cfg.dataset.name, day)}}/{{DATA_FILE}}"
        lake.storage.write_bytes(key, blobs[i % {base}])
done(rows=sum(lake.partition_info("curated", cfg.dataset.name, d).rows for d in days))
"""
)
WINDOW_TASK = (
    CONFIG
    + """
import mlflow
from mlflow import MlflowClient
from include.mlops.model.window import Window
cfg = config({rows}, {model!r})
lake = Lake.at(cfg.lake_root)
end = dt.date.fromisoformat({end!r})
window = Window.ending(end, {days}, {holdout})
state = {state!r}
uri = {uri!r}
t = time.perf_counter()
if {step!r} == "check":
    from include.mlops.model.window import check_window
    check = check_window(lake, cfg, window)
    json.dump(check.as_dict(), open(state, "w"))
    done(seconds=time.perf_counter() - t, rows_train=check.rows_train, rows_holdout=check.rows_holdout,
         sampling=check.sampling)
else:
    check = json.load(open(state))
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if {step!r} == "train":
        from include.mlops.model.training import train_on_check
        result = train_on_check(client, cfg, lake, check, "bench/scaling-{rows}", {{}})
        check["version"] = result.version
        json.dump(check, open(state, "w"))
        done(seconds=time.perf_counter() - t, version=result.version, rows_train=result.rows_train)
    else:
        from include.mlops.promotion.evaluation import evaluate_and_record
        record = evaluate_and_record(client, lake, cfg, check, check["version"], {{"reason": "bench"}})
        done(seconds=time.perf_counter() - t, promote=record.evaluation.decision.promote)
"""
)


def _figure(run: dict) -> dict:
    return {"s": round(run["seconds"], 2), "peak_mb": run["peak_mb"]}


def per_day(rows_list: tuple[int, ...], log=print) -> dict:
    """land, validate, publish, score and drift at each of ``rows_list`` rows per day, in one lake and MLflow store."""
    suite = str(ROOT / "include/config/expectations/transactions.json")
    day = steps.SCORE_DAY
    drift_days = [(dt.date(2026, 4, 1) + dt.timedelta(days=i)).isoformat() for i in range(2 * DRIFT_DAYS)]
    out: dict = {}
    if not rows_list:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"root": str(Path(tmp) / "lake"), "suite": suite, "uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}"}
        log("... scaling: seeding the champion")
        steps.child(
            steps.SCORE_SETUP.format(**spec, rows=5000, day=day.isoformat(), train_days=steps.SCORE_TRAIN_DAYS),
            cwd=tmp,
        )
        for rows in rows_list:
            figures: dict = {}
            for name, step in (("land", "land_batch"), ("validate", "validate_landed"), ("publish", "publish")):
                log(f"... scaling: {name} {rows} rows")
                run = steps.child(steps.INGEST_STEP.format(root=spec["root"], rows=rows, suite=suite, step=step))
                figures[name] = _figure(run)
                if name == "land":
                    figures["rows"] = run["rows"]
            log(f"... scaling: score {rows} rows")
            figures["score"] = _figure(
                steps.child(steps.SCORE_OURS.format(**spec, rows=rows, day=day.isoformat()), cwd=tmp)
            )
            steps.child(DRIFT_SETUP.format(**spec, rows=rows, day=day.isoformat(), days=drift_days))
            log(f"... scaling: drift {DRIFT_DAYS} vs {DRIFT_DAYS} days of {rows} rows")
            drift = steps.child(DRIFT_TASK.format(**spec, rows=rows, days=drift_days, n=DRIFT_DAYS))
            figures["drift"] = _figure(drift)
            out[str(rows)] = figures
    return out


def window(rows_list: tuple[int, ...], log=print) -> dict:
    """check, train and evaluate a 28-day window at each of ``rows_list`` rows per day."""
    suite = str(ROOT / "include/config/expectations/transactions.json")
    out: dict = {}
    for rows in rows_list:
        with tempfile.TemporaryDirectory() as tmp:
            spec = {"root": str(Path(tmp) / "lake"), "suite": suite, "uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}"}
            log(f"... scaling: writing a {WINDOW_DAYS}-day window of {rows} rows per day")
            seeded = steps.child(
                WINDOW_SETUP.format(
                    **spec, rows=rows, end=WINDOW_END.isoformat(), days=WINDOW_DAYS, base=WINDOW_BASE_DAYS
                ),
                timeout=3600,
            )
            figures: dict = {"rows": seeded["rows"]}
            state = str(Path(tmp) / "check.json")
            for step in ("check", "train", "evaluate"):
                log(f"... scaling: {step} the {WINDOW_DAYS} x {rows} window")
                run = steps.child(
                    WINDOW_TASK.format(
                        **spec,
                        rows=rows,
                        model=f"scaling_{rows}",
                        end=WINDOW_END.isoformat(),
                        days=WINDOW_DAYS,
                        holdout=HOLDOUT_DAYS,
                        state=state,
                        step=step,
                    ),
                    timeout=3600,
                    cwd=tmp,
                )
                figures[step] = _figure(run)
                if step == "check":
                    figures["rows_train"], figures["rows_holdout"] = run["rows_train"], run["rows_holdout"]
                    figures["sampling"] = run["sampling"]
            out[str(rows)] = figures
    return out


def plot(scaling: dict, path: Path = PLOT) -> None:
    """Time and peak RSS of each task against rows per day (log-log), per-day tasks and the 28-day window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, style, label in (("per_day", "-o", "{} (one day)"), ("window", "--s", "{} (28-day window)")):
        sizes = sorted(scaling.get(key, {}), key=int)
        tasks = [t for t in scaling[key][sizes[0]] if isinstance(scaling[key][sizes[0]][t], dict)] if sizes else []
        for task in tasks:
            if task == "sampling":
                continue
            xs = [int(s) for s in sizes]
            for ax, field in zip(axes, ("s", "peak_mb"), strict=True):
                ax.plot(xs, [scaling[key][s][task][field] for s in sizes], style, label=label.format(task))
    for ax, title in zip(axes, ("wall time (s)", "peak RSS (MB)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows per day")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    load = scaling.get("load_avg_1min")
    fig.suptitle(f"Scaling: each task's library call in a fresh process (1-min load avg up to {load})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench_scaling(
    day_rows: tuple[int, ...] = DAY_ROWS, window_rows: tuple[int, ...] = WINDOW_ROWS, plot_path: Path | None = PLOT
) -> dict:
    import time

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    t = time.perf_counter()
    load = round(os.getloadavg()[0], 2)
    scaling: dict = {"load_avg_1min": load, "per_day": per_day(day_rows, log), "window": window(window_rows, log)}
    scaling["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    scaling["total_s"] = round(time.perf_counter() - t, 1)
    scaling["window_days"], scaling["window_base_days"] = WINDOW_DAYS, WINDOW_BASE_DAYS
    if plot_path is not None:
        plot(scaling, plot_path)
        scaling["plot"] = str(plot_path.relative_to(ROOT)) if plot_path.is_relative_to(ROOT) else str(plot_path)
    return {"scaling": scaling}


def table_rows(scaling: dict) -> list[tuple[str, str, str, str, str]]:
    """Rows for bench.py's summary table: one per size, every task's time and peak RSS."""
    rows = []
    for key, what in (("per_day", "a {} -row day"), ("window", "28 days x {} rows")):
        for size, figures in sorted(scaling.get(key, {}).items(), key=lambda kv: int(kv[0])):
            tasks = {t: v for t, v in figures.items() if isinstance(v, dict) and "s" in v}
            total = round(sum(v["s"] for v in tasks.values()), 1)
            notes = ", ".join(f"{t} {v['s']} s/{v['peak_mb']:.0f} MB" for t, v in tasks.items())
            rows.append((f"scaling, {what.format(size).replace(' -', '-')}", f"{total} s", "", "", notes))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k rows per day and a 28 x 20k window, no plot")
    parser.add_argument("--days", default=",".join(map(str, DAY_ROWS)), help="rows per day of the per-day tasks")
    parser.add_argument("--window", default=",".join(map(str, WINDOW_ROWS)), help="rows per day of the 28-day window")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--out", default=None, help="write the figures to this JSON file")
    parser.add_argument(
        "--merge", default=None, help="comma-separated JSON files of earlier runs (--out): merge them, plot, no run"
    )
    args = parser.parse_args()
    if args.merge:  # sizes measured in separate runs: one ``scaling`` document and its plot
        merged: dict = {"per_day": {}, "window": {}, "runs": []}
        for name in args.merge.split(","):
            part = json.loads(Path(name).read_text())["scaling"]
            merged["per_day"].update(part["per_day"])
            merged["window"].update(part["window"])
            merged["runs"].append({k: v for k, v in part.items() if k not in ("per_day", "window")})
        merged["load_avg_1min"] = max(r["load_avg_1min"] for r in merged["runs"])
        merged["window_days"], merged["window_base_days"] = WINDOW_DAYS, WINDOW_BASE_DAYS
        plot(merged, PLOT)
        merged["plot"] = str(PLOT.relative_to(ROOT))
        print(json.dumps({"scaling": merged}, indent=2))
        if args.out:
            Path(args.out).write_text(json.dumps({"scaling": merged}, indent=2))
        return 0
    sizes = [tuple(int(x) for x in v.split(",") if x) for v in (args.days, args.window)]
    if args.quick:
        result = bench_scaling((10_000,), (20_000,), None)
    else:
        result = bench_scaling(sizes[0], sizes[1], None if args.no_plot else PLOT)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
