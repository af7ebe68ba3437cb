"""Command line for work outside Airflow: seed demo data, load a whole history into the lake.

    python -m include.mlops.cli seed --days 35            # simulator days ending yesterday
    python -m include.mlops.cli load-history              # every day in dataset.uri ($MLOPS_CONFIG)
    python -m include.mlops.cli load-history --from 2024-01-01 --to 2024-06-30

Each day goes through the same land -> validate -> publish|quarantine path as the
``ingest_and_validate`` DAG, so the lake ends up exactly as a backfill would leave it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys

from include.mlops.config import load_config
from include.mlops.exceptions import MlopsError


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.mlops.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="config file (default: $MLOPS_CONFIG or include/config/mlops.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    seed = sub.add_parser("seed", help="ingest simulator days into the lake")
    seed.add_argument("--days", type=int, default=35)
    seed.add_argument("--end", type=dt.date.fromisoformat, help="last day (default: yesterday, UTC)")
    hist = sub.add_parser("load-history", help="ingest every day of dataset.uri into the lake")
    hist.add_argument("--from", dest="start", type=dt.date.fromisoformat)
    hist.add_argument("--to", dest="end", type=dt.date.fromisoformat)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from include.mlops.ingest import ingest_day
    from include.mlops.lake import Lake

    try:
        cfg = load_config(args.config)
        lake = Lake.at(cfg.lake_root)
        if args.command == "seed":
            if cfg.dataset.uri is not None:
                parser.error("seed uses the simulator; this config has dataset.uri set: use load-history")
            end = args.end or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
            days = _days(end - dt.timedelta(days=args.days - 1), end)
        else:
            if cfg.dataset.uri is None:
                parser.error("load-history needs dataset.uri in the config; the simulator has no history file")
            from include.mlops.sources import days_in_source

            days = [
                d
                for d in days_in_source(cfg)
                if (not args.start or d >= args.start) and (not args.end or d <= args.end)
            ]
        results = []
        for day in days:
            result = ingest_day(cfg, lake, day)
            results.append(result)
            print(json.dumps(result), flush=True)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    published = sum(r["status"] == "published" for r in results)
    print(
        json.dumps(
            {
                "days": len(results),
                "published": published,
                "quarantined": len(results) - published,
                "lake": cfg.lake_root,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
