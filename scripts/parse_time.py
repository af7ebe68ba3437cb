"""Extra import time of each DAG file over a bare `import airflow.sdk`, median of fresh interpreters.

    make parse-time            # or: python scripts/parse_time.py --runs 7

Each measurement is a new Python process that imports airflow.sdk, then times running the DAG file,
so the figure is what the DAG processor pays for our file on top of Airflow itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import sys, time, runpy
import airflow.sdk
if sys.argv[2] == "processor":  # what a DAG processor has loaded already: Airflow core's models
    import airflow.models.dag, airflow.models.dagrun, airflow.api.common.trigger_dag
t = time.perf_counter()
runpy.run_path(sys.argv[1])
print((time.perf_counter() - t) * 1000)
"""


def measure(dag_file: Path, runs: int, preload: str = "sdk") -> float:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(dag_file), preload], capture_output=True, text=True, env=env, check=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    files = sorted((ROOT / "dags").glob("*.py"))
    results = {p.stem: round(measure(p, args.runs), 1) for p in files}
    in_processor = {p.stem: round(measure(p, args.runs, "processor"), 1) for p in files}
    width = max(map(len, results))
    for name, ms in results.items():
        print(
            f"{name:<{width}}  {ms:8.1f} ms over import airflow.sdk, {in_processor[name]:6.1f} ms over a DAG "
            f"processor's imports (median of {args.runs})"
        )
    print(
        json.dumps(
            {
                "parse_extra_ms": results,
                "parse_extra_ms_max": max(results.values()),
                "parse_extra_ms_in_dag_processor": in_processor,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
