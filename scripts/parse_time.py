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


def measure(dag_file: Path, runs: int, preload: str = "sdk", pipelines_folder: str = "") -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLOPS_PIPELINES": pipelines_folder,  # empty: the main pipeline only
    }
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(dag_file), preload], capture_output=True, text=True, env=env, check=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def pipeline_folder(folder: Path, count: int) -> Path:
    """``count - 1`` folder pipelines (copies of the shipped example, each its own name), so with the main one
    the DAG files define ``count`` pipelines' DAGs."""
    example = (ROOT / "include" / "config" / "pipelines" / "energy.yaml").read_text()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, count):
        text = example.replace("name: energy\n", f"name: p{i:02d}\n", 1)
        (folder / f"p{i:02d}.yaml").write_text(text.replace("name: energy_load", f"name: load_p{i:02d}"))
    return folder


def pipelines_cost(runs: int, count: int = 20) -> dict:
    """Each DAG file's extra parse time with the main pipeline only and with ``count`` pipelines, and what each
    added pipeline costs per file (ms)."""
    import tempfile

    files = sorted((ROOT / "dags").glob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(pipeline_folder(Path(tmp) / "pipelines", count))
        one = {p.stem: round(measure(p, runs), 1) for p in files}
        many = {p.stem: round(measure(p, runs, pipelines_folder=folder), 1) for p in files}
    per = {k: round((many[k] - one[k]) / (count - 1), 2) for k in one}
    return {
        "parse_ms_1_pipeline": one,
        f"parse_ms_{count}_pipelines": many,
        "parse_ms_per_added_pipeline": per,
        "parse_ms_per_added_pipeline_max": max(per.values()),
        "parse_pipelines": count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--pipelines", type=int, default=0, help="also measure with N pipelines (the main one and N-1 folder ones)"
    )
    args = parser.parse_args()
    if args.pipelines > 1:
        cost = pipelines_cost(args.runs, args.pipelines)
        for name, ms in cost["parse_ms_1_pipeline"].items():
            print(
                f"{name:<22} {ms:8.1f} ms with 1 pipeline, {cost[f'parse_ms_{args.pipelines}_pipelines'][name]:8.1f} "
                f"ms with {args.pipelines}: {cost['parse_ms_per_added_pipeline'][name]:5.2f} ms per added pipeline"
            )
        print(json.dumps(cost))
        return 0
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
