"""Command line for work outside Airflow: seed demo data, load a whole history, inspect the suite.

    python -m include.mlops.cli seed --days 35            # simulator days ending yesterday
    python -m include.mlops.cli load-history              # every day in dataset.uri ($MLOPS_CONFIG)
    python -m include.mlops.cli load-history --from 2024-01-01 --to 2024-06-30
    python -m include.mlops.cli suite show                # the suite in use: derived from what, stale or current
    python -m include.mlops.cli suite explain             # each expectation in words; the source's columns now
    python -m include.mlops.cli suite derive              # derive it again from the source (the old one kept)

Each day goes through the same land -> validate -> publish|quarantine path as the
``ingest_and_validate`` DAG, so the lake ends up exactly as a backfill would leave it.

Exit codes: 0 done; 1 a person must look (every day quarantined, or curated days a re-validation
would have moved were kept); 2 the config or the source is wrong (nothing was written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from include.mlops.core.config import load_config
from include.mlops.core.exceptions import MlopsError

FAILED_SHOWN = 3  # failed expectations printed per day; the rest are in validation.json


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _progress(days: list[dt.date]):
    """A progress bar on a terminal (stderr), plain iteration otherwise (logs, CI, pipes)."""
    if not sys.stderr.isatty() or len(days) < 2:
        return days
    try:
        from tqdm import tqdm
    except ImportError:
        return days
    return tqdm(days, unit="day", file=sys.stderr, leave=False)


def _say(line: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stdout)  # keeps a running bar intact
    except ImportError:
        print(line, flush=True)


def _day_lines(result: dict[str, Any], lake_uri: str, dataset: str) -> list[str]:
    ds, status, rows = result["ds"], result["status"], result["rows"]
    if status == "published":
        return [f"{ds}  published    {rows:>9,} rows"]
    label = "QUARANTINED" if status == "quarantined" else "KEPT CURATED"
    failed = result.get("failed") or []
    lines = [f"{ds}  {label:<12} {rows:>9,} rows  {failed[0] if failed else ''}"]
    lines += [f"{'':>36}{f}" for f in failed[1:FAILED_SHOWN]]
    where = "quarantine" if status == "quarantined" else "reports/validation"
    if len(failed) > FAILED_SHOWN:
        lines.append(f"{'':>36}... {len(failed) - FAILED_SHOWN} more in {lake_uri}/{where}/{dataset}/ds={ds}/")
    if status == "kept":
        lines.append(f"{'':>36}left in curated/: {result.get('cause')}")
    return lines + _label_lines(result.get("labels"), lake_uri, dataset)


def _label_lines(labels: dict[str, Any] | None, lake_uri: str, dataset: str) -> list[str]:
    """The label feed the day's run landed (late labels): the day they belong to, or why they were quarantined."""
    if labels is None:
        return []
    if labels["status"] == "landed":
        return [f"{'':>12}labels of {labels['ds']} landed {labels['rows']:>9,} rows"]
    failed = labels.get("failed") or []
    lines = [f"{'':>12}labels of {labels['ds']} QUARANTINED  {failed[0] if failed else ''}"]
    lines += [f"{'':>36}{f}" for f in failed[1:FAILED_SHOWN]]
    lines.append(f"{'':>36}in {lake_uri}/quarantine/{dataset}.labels/ds={labels['ds']}/")
    return lines


def _summary_lines(results: list[dict[str, Any]], cfg, requarantine: bool) -> tuple[list[str], int]:
    total = len(results)
    published = [r for r in results if r["status"] == "published"]
    quarantined = [r for r in results if r["status"] == "quarantined"]
    kept = [r for r in results if r["status"] == "kept"]
    lines = [
        f"{len(quarantined)} of {total} days quarantined, {len(published)} published"
        + (f", {len(kept)} kept in curated" if kept else "")
        + f" (dataset {cfg.dataset.name}, lake {cfg.lake_root})"
    ]
    code = 0
    if kept:
        lines.append(
            f"{len(kept)} day(s) already published would have moved from curated/ to quarantine "
            f"({', '.join(r['ds'] for r in kept[:5])}{', ...' if len(kept) > 5 else ''}); they were left in curated/ "
            "and nothing was deleted. If the suite is wrong, see `python -m include.mlops.cli suite show`; to move "
            "them anyway, run load-history again with --requarantine-curated."
        )
        code = 1
    if total and not published and not kept:
        first = next((r["failed"][0] for r in quarantined if r.get("failed")), "see validation.json")
        lines.append(
            f"every day was quarantined: nothing can train. The first failed check: {first}. Fix the source or the "
            f"config ({cfg.source_path}) and run load-history again; quarantined days are re-validated."
        )
        code = 1
    if not total:
        lines.append("no days to load in that range")
        code = 1
    return lines, code


def _load(cfg, lake, days: list[dt.date], as_json: bool, requarantine: bool) -> int:
    from include.mlops.data.ingest import ingest_day

    results = []
    for day in _progress(days):
        result = ingest_day(cfg, lake, day, requarantine_curated=requarantine, labels_from=days[0])
        results.append(result)
        if as_json:
            print(json.dumps(result), flush=True)
        else:
            for line in _day_lines(result, cfg.lake_root, cfg.dataset.name):
                _say(line)
    lines, code = _summary_lines(results, cfg, requarantine)
    if as_json:
        counts = {s: sum(r["status"] == s for r in results) for s in ("published", "quarantined", "kept")}
        labels = [r["labels"] for r in results if "labels" in r]
        if labels:
            counts |= {f"labels_{s}": sum(x["status"] == s for x in labels) for s in ("landed", "quarantined")}
        print(json.dumps({"days": len(results), **counts, "lake": cfg.lake_root, "exit": code}))
    else:
        for line in lines:
            print(line)
        labels = [r["labels"] for r in results if "labels" in r]
        if cfg.dataset.label_delay_days > 0:
            bad = sum(x["status"] == "quarantined" for x in labels)
            print(
                f"labels arrive {cfg.dataset.label_delay_days} days late: landed the labels of "
                f"{len(labels) - bad} days, {bad} label feeds quarantined; the last "
                f"{min(cfg.dataset.label_delay_days, len(results))} days have no labels yet"
            )
    return code


def _suite(cfg, lake, action: str) -> int:
    from include.mlops.data.ingest import DERIVED_SUITE_KEY, derive_and_keep

    path = cfg.suite_path()
    key = DERIVED_SUITE_KEY.format(dataset=cfg.dataset.name)
    if action == "derive":
        if path is not None:
            print(
                f"dataset.suite points at {path}: that suite is yours and is never derived. Set suite: null to derive"
            )
            return 2
        suite = derive_and_keep(cfg, lake, reason="was derived again on request")
        print(f"derived {len(suite['expectations'])} expectations into {lake.storage.uri(key)}")
        return 0
    found = _kept_suite(cfg, lake, path, key)
    if found is None:
        print(f"no suite yet: it is derived from the source on the first validation into {lake.storage.uri(key)}")
        return 0
    suite, origin, stale = found
    record = (suite.get("meta") or {}).get("derived_from") or {}
    _print_suite_status(suite, origin, stale, record, own=path is not None)
    if action == "show":
        print("`suite explain` lists each expectation and compares the source's columns with the recorded ones")
    if action == "explain":
        for e in suite["expectations"]:
            print("  - " + _explain(e))
        _print_source_changes(cfg, record.get("columns"))
    return 0


def _kept_suite(cfg, lake, path, key: str) -> tuple[dict[str, Any], str, list[str]] | None:
    """(the suite validation uses, where it is, the config keys it is stale for); None: none derived yet."""
    from include.mlops.data.validation import load_suite, stale_keys

    if path is not None:
        return load_suite(path), f"{path} (dataset.suite)", []
    if lake.storage.exists(key):
        suite = lake.read_json(key)
        return suite, f"{lake.storage.uri(key)} (derived)", stale_keys(suite, cfg)
    return None


def _print_suite_status(
    suite: dict[str, Any], origin: str, stale: list[str], record: dict[str, Any], *, own: bool
) -> None:
    print(f"suite {suite['name']!r}: {len(suite['expectations'])} expectations, {origin}")
    if record:
        inputs = record.get("inputs", {})
        print(
            f"derived {record.get('derived_at')} from {record.get('rows')} rows for target {inputs.get('target')!r}, "
            f"task {inputs.get('task')}, positive_label {inputs.get('positive_label')!r}"
        )
    if stale:
        print(
            f"STALE: changed since it was derived: {', '.join(stale)}. The next validation derives it again (the "
            "old one is kept beside it); `suite derive` does it now."
        )
    elif not own:
        print("current: it fits the config")


def _print_source_changes(cfg, columns: dict[str, str] | None) -> None:
    """The source's columns against the ones the suite was derived from: gone, new, retyped."""
    if not columns or not cfg.dataset.uri:
        return
    from include.mlops.data.sources import read_source

    now = read_source(cfg)
    seen = {str(c): str(t) for c, t in now.dtypes.items()}
    gone = sorted(set(columns) - set(seen))
    new = sorted(set(seen) - set(columns))
    retyped = sorted(c for c in set(columns) & set(seen) if columns[c] != seen[c])
    if gone or new or retyped:
        print(
            "the source's columns changed since: "
            + "; ".join(
                part
                for part in (
                    f"gone {gone}" if gone else "",
                    f"new {new}" if new else "",
                    f"retyped {[f'{c}: {columns[c]} -> {seen[c]}' for c in retyped]}" if retyped else "",
                )
                if part
            )
            + ". If that is intended, `suite derive`; else fix the source."
        )


def _explain(expectation: dict[str, Any]) -> str:
    kind, k = expectation["type"], expectation.get("kwargs", {})
    col = k.get("column")
    text = {
        "expect_table_row_count_to_be_between": lambda: (
            f"at least {k.get('min_value')} rows"
            + (f" and at most {k['max_value']}" if k.get("max_value") is not None else "")
        ),
        "expect_table_columns_to_match_set": lambda: "has the columns " + ", ".join(k.get("column_set", [])),
        "expect_column_values_to_not_be_null": lambda: f"{col!r} is never null",
        "expect_column_values_to_be_between": lambda: f"{col!r} between {k.get('min_value')} and {k.get('max_value')}",
        "expect_column_values_to_be_in_set": lambda: f"{col!r} in {k.get('value_set')}",
        "expect_column_to_exist": lambda: f"{col!r} exists",
    }.get(kind)
    return text() if text else f"{kind} {json.dumps(k, default=str)}"


def _load_chosen(config: str | None, pipeline: str | None) -> Any:
    """``--pipeline NAME``: that pipeline of the ``MLOPS_PIPELINES`` folder; else ``--config`` or the main one."""
    if pipeline is None:
        return load_config(config)
    from include.mlops.core.exceptions import ConfigError
    from include.mlops.core.pipelines import PIPELINES_ENV, scan

    for p in scan()[0]:
        if p.name == pipeline:
            return load_config(p.config_path, pipeline=p.name)
    raise ConfigError(
        f"no pipeline {pipeline!r} in {PIPELINES_ENV}={os.environ.get(PIPELINES_ENV, '')!r}; "
        "point it at the folder of pipeline configs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.mlops.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="config file (default: $MLOPS_CONFIG or include/config/mlops.yaml)")
    parser.add_argument(
        "--pipeline", help="a pipeline of the $MLOPS_PIPELINES folder by name (its config, its own lake)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    example = sub.add_parser("example-data", help="write the example pipeline's data (energy load, regression)")
    example.add_argument("--out", default="data/examples/energy", help="folder (relative to the project root)")
    example.add_argument("--days", type=int, default=35)
    example.add_argument("--end", type=dt.date.fromisoformat, help="last day (default: yesterday, UTC)")
    seed = sub.add_parser("seed", help="ingest simulator days into the lake")
    seed.add_argument("--days", type=int, default=35)
    seed.add_argument("--end", type=dt.date.fromisoformat, help="last day (default: yesterday, UTC)")
    hist = sub.add_parser("load-history", help="ingest every day of dataset.uri into the lake")
    hist.add_argument("--from", dest="start", type=dt.date.fromisoformat)
    hist.add_argument("--to", dest="end", type=dt.date.fromisoformat)
    for p in (seed, hist):
        p.add_argument("--json", action="store_true", help="one JSON object per day and a JSON summary")
        p.add_argument(
            "--requarantine-curated",
            action="store_true",
            help="move already-published days that now fail validation to quarantine (default: keep them curated)",
        )
    suite = sub.add_parser("suite", help="show, explain or re-derive the expectation suite of the dataset")
    suite.add_argument("action", choices=("show", "explain", "derive"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from include.mlops.data.lake import Lake

    if args.command == "example-data":
        from include.mlops.core.config import PROJECT_ROOT
        from include.mlops.data.examples import write_energy

        end = args.end or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
        out = Path(args.out) if Path(args.out).is_absolute() else PROJECT_ROOT / args.out
        files = write_energy(out, end, args.days)
        print(json.dumps({"folder": str(out), "days": len(files), "first": files[0].stem, "last": files[-1].stem}))
        return 0
    try:
        cfg = _load_chosen(args.config, args.pipeline)
        lake = Lake.at(cfg.lake_root)
        if args.command == "suite":
            return _suite(cfg, lake, args.action)
        if args.command == "seed":
            if cfg.dataset.uri is not None:
                parser.error("seed uses the simulator; this config has dataset.uri set: use load-history")
            end = args.end or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
            days = _days(end - dt.timedelta(days=args.days - 1), end)
        else:
            if cfg.dataset.uri is None:
                parser.error("load-history needs dataset.uri in the config; the simulator has no history file")
            from include.mlops.data.sources import days_in_source

            days = [
                d
                for d in days_in_source(cfg)  # reads the source and checks the config against it first
                if (not args.start or d >= args.start) and (not args.end or d <= args.end)
            ]
        return _load(cfg, lake, days, args.json, args.requarantine_curated)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
