"""Example data for a second pipeline: hourly-ish electricity load readings, a regression target.

``make run`` writes them (``python -m include.mlops.cli example-data``) as one Parquet file per day under
``data/examples/energy/`` for the example pipeline ``include/config/pipelines/energy.yaml``, so the UI shows a
regression pipeline beside the simulator's fraud model. Deterministic for a (seed, day), like the simulator.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SITES = ("harbor", "hillside", "airport", "old_town", "campus", "mill")
FEEDERS = ("residential", "commercial", "industrial")
_SITE_BASE = (42.0, 31.0, 55.0, 27.0, 38.0, 61.0)
_FEEDER_FACTOR = (1.0, 1.3, 1.8)


def energy_day(day: dt.date, rows: int = 2000, seed: int = 3) -> pd.DataFrame:
    """One day of meter readings: site, feeder type, weather and hour; ``load_mw`` depends on all of them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([seed, day.toordinal()])
    site = rng.integers(0, len(SITES), rows)
    feeder = rng.choice(len(FEEDERS), rows, p=[0.5, 0.3, 0.2])
    seconds = np.sort(rng.integers(0, 86_400, rows))
    hour = seconds // 3600
    season = np.cos(2 * np.pi * (day.timetuple().tm_yday - 20) / 365.0)  # cold in January
    temperature = 12 - 9 * season + 6 * np.sin(np.pi * (hour - 8) / 12) + rng.normal(0, 2.5, rows)
    humidity = np.clip(rng.normal(65, 12, rows), 10, 100)
    weekend = day.weekday() >= 5
    daily_shape = 0.75 + 0.35 * np.exp(-((hour - 18) ** 2) / 8) + 0.2 * np.exp(-((hour - 8) ** 2) / 6)
    load = (
        np.take(_SITE_BASE, site) * np.take(_FEEDER_FACTOR, feeder) * daily_shape * (0.85 if weekend else 1.0)
        + 0.9 * np.abs(temperature - 17)
        + 0.05 * humidity
        + rng.normal(0, 3.0, rows)
    )
    start = pd.Timestamp(day, tz="UTC")
    return pd.DataFrame(
        {
            "reading_id": [f"{day:%Y%m%d}-{i:06d}" for i in range(rows)],
            "measured_at": start + pd.to_timedelta(seconds, unit="s"),
            "site": pd.Categorical.from_codes(site, SITES).astype(str),
            "feeder_type": pd.Categorical.from_codes(feeder, FEEDERS).astype(str),
            "hour": hour.astype("int64"),
            "is_weekend": np.full(rows, int(weekend), dtype="int64"),
            "temperature_c": temperature.round(2),
            "humidity_pct": humidity.round(1),
            "load_mw": load.round(3),
        }
    )


def write_energy(folder: str | Path, end: dt.date, days: int, rows: int = 2000, seed: int = 3) -> list[Path]:
    """``days`` days ending at ``end`` (inclusive) as ``<folder>/<YYYY-MM-DD>.parquet``; existing files are kept
    (a day's data never changes)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(days):
        day = end - dt.timedelta(days=days - 1 - i)
        path = out / f"{day.isoformat()}.parquet"
        if not path.exists():
            tmp = path.with_suffix(".parquet.tmp")
            energy_day(day, rows, seed).to_parquet(tmp, index=False)
            tmp.replace(path)
        written.append(path)
    return written
