"""The child-process steps that `make bench` (bench.py) and its scaling curve (bench_scaling.py) both time: each
runs in a fresh interpreter (``child``) and reports with ``done(**figures)``, peak RSS included.

Standard library only at import time; the steps import the library inside the child.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}

PRELUDE = """
import json, resource, sys, time, datetime as dt
def done(**out):
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("BENCH " + json.dumps(out))
"""


def child(code: str, timeout: int = 1800, cwd: str | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (in ``cwd`` if given); it reports with done(**figures)."""
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        cwd=cwd,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("BENCH ") :])


# -- ingestion: one step (land_batch, validate_landed or publish) of one day -------------------------------------------
INGEST_STEP = """
from include.mlops.core.config import parse_config
from include.mlops.data.lake import Lake
from include.mlops.data.ingest import land_batch, validate_landed, publish
cfg = parse_config({{"lake": {{"root": {root!r}}}, "simulator": {{"rows_per_day": {rows}}},
                    "dataset": {{"suite": {suite!r}}}}})
lake = Lake.at({root!r})
day = dt.date(2026, 3, 4)
t = time.perf_counter()
out = {step}(cfg, lake, day)
done(seconds=time.perf_counter() - t, rows=getattr(out, "rows", None))
"""


# -- batch scoring: the seed champion and one scored day (bench.py's comment above bench_score says more) ------
SCORE_DAY = dt.date(2026, 3, 4)  # a Wednesday: the simulator's weekday volume factor is 1.0, so rows_per_day rows
SCORE_TRAIN_DAYS = 4  # the seed champion's days (the last one its holdout), before SCORE_DAY
SCORE_CONFIG = """
from include.mlops.core.config import parse_config
def config(rows):
    return parse_config({{"lake": {{"root": {root!r}}}, "simulator": {{"rows_per_day": rows}},
                         "dataset": {{"suite": {suite!r}, "label_delay_days": 0}}, "evaluation": {{"floor": 0.0}}}})
uri = {uri!r}
"""
SCORE_SETUP = (
    SCORE_CONFIG
    + """
import mlflow
from mlflow import MlflowClient
from include.mlops.data.ingest import land_batch, publish
from include.mlops.data.lake import Lake
from include.mlops.promotion.evaluation import evaluate
from include.mlops.promotion.aliases import promote
from include.mlops.model.training import train_and_register
from include.mlops.model.window import Window, assemble_window
small, big = config(5000), config({rows})
lake = Lake.at(small.lake_root)
day = dt.date.fromisoformat({day!r})
window = Window(day - dt.timedelta(days={train_days}), day - dt.timedelta(days=1), day)
for d in window.days():
    land_batch(small, lake, d); publish(small, lake, d)
land_batch(big, lake, day); publish(big, lake, day)
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
data = assemble_window(lake, small, window)
trained = train_and_register(client, small, data, window, "bench/score-champion", {{}})
ev = evaluate(client, small, trained.version, data.holdout)
promote(client, small.model.name, trained.version, None, promote_decision=ev.decision.promote,
        reason=ev.decision.reason, actor="bench score seed")
done(version=trained.version, train_rows=len(data.train),
     rows=lake.partition_info("curated", big.dataset.name, day).rows)
"""
)
SCORE_OURS = (
    SCORE_CONFIG
    + """
import os
import mlflow
from mlflow import MlflowClient
from include.mlops.data.lake import Lake
from include.mlops.serve.scoring import resolve_models, score_with
cfg = config({rows})
lake = Lake.at(cfg.lake_root)
day = dt.date.fromisoformat({day!r})
io = {{"read": 0.0, "write": 0.0}}
def timed(kind, call):  # the lake's own read and write, timed on this instance only
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            io[kind] += time.perf_counter() - t0
    return wrapper
lake.read_partition = timed("read", lake.read_partition)
lake.write_partition = timed("write", lake.write_partition)
load_avg = os.getloadavg()[0]
t, cpu = time.perf_counter(), time.process_time()
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.search_registered_models(max_results=1)  # opens the SQLite store (schema check): no cost with a server
opened, opened_cpu = time.perf_counter(), time.process_time()
models = resolve_models(client, cfg)
loaded, loaded_cpu = time.perf_counter(), time.process_time()
scored = score_with(models, cfg, lake, day, run_id="bench__score")
end, end_cpu = time.perf_counter(), time.process_time()
if lake.read_json(scored.report_key)["rows"] != scored.rows:
    raise SystemExit("the scoring summary does not match the predictions written")
done(seconds=end - t, cpu_seconds=time.process_time() - cpu, store_seconds=opened - t, load_seconds=loaded - opened,
     read_seconds=io["read"], write_seconds=io["write"], predict_seconds=end - loaded - io["read"] - io["write"],
     rows=scored.rows, version=scored.model_version, features=len(models.main.features), load_avg=load_avg,
     store_cpu_seconds=opened_cpu - cpu, load_cpu_seconds=loaded_cpu - opened_cpu,
     score_cpu_seconds=end_cpu - loaded_cpu)
"""
)
