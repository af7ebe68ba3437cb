"""A source-system simulator: card transactions for a fraud-detection model.

Deterministic for a (seed, date): the same call always returns the same frame. About 5k rows a
day by default, scalable to millions (vectorised numpy). Weekday/hour and holiday-season patterns,
a rare label (about 2 % fraud) that depends on the features, and named scenarios:

- ``baseline``: stationary.
- ``gradual_drift``: from ``scenario_start`` amounts inflate and the channel mix moves online,
  a little more every day.
- ``abrupt_drift``: from ``scenario_start`` the channel mix jumps to mobile and a new fraud pattern
  appears (small amounts at gaming merchants from new devices).

Data-quality faults (``FAULTS`` in the config module) are applied to one day's frame by
``inject_fault``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MERCHANT_CATEGORIES = (
    "grocery",
    "restaurants",
    "fuel",
    "electronics",
    "travel",
    "online_retail",
    "gaming",
    "pharmacy",
)
CHANNELS = ("pos", "online", "mobile")
COUNTRIES = ("home", "neighbor", "foreign")
CARD_TIERS = ("standard", "gold", "platinum")

NUMERIC_COLUMNS = (
    "amount",
    "hour",
    "day_of_week",
    "customer_age",
    "account_age_days",
    "txn_count_24h",
    "avg_amount_30d",
    "amount_to_avg_ratio",
    "distance_from_home_km",
    "device_risk_score",
    "failed_logins_24h",
)
FLAG_COLUMNS = ("card_present", "is_new_device")
CATEGORICAL_COLUMNS = ("merchant_category", "channel", "country", "card_tier")
FEATURES = NUMERIC_COLUMNS + FLAG_COLUMNS + CATEGORICAL_COLUMNS
TARGET = "is_fraud"
TIMESTAMP = "event_time"
ID_COLUMN = "transaction_id"
COLUMNS = (ID_COLUMN, TIMESTAMP, *FEATURES, TARGET)

_WEEKDAY_VOLUME = (0.95, 0.95, 1.0, 1.0, 1.1, 1.15, 0.85)  # Monday..Sunday
# diurnal shape: quiet at night, peaks at lunch and early evening
_HOUR_WEIGHTS = (
    0.4,
    0.25,
    0.2,
    0.15,
    0.15,
    0.25,
    0.6,
    1.2,
    1.8,
    2.0,
    2.2,
    2.6,
    3.0,
    2.8,
    2.3,
    2.2,
    2.4,
    2.9,
    3.2,
    3.0,
    2.5,
    1.9,
    1.2,
    0.7,
)


def holiday_factor(day: dt.date) -> float:
    """Volume multiplier: up to +40 % from late November to the end of December."""
    start = dt.date(day.year, 11, 20)
    if day < start:
        return 1.0
    return 1.0 + 0.4 * min(1.0, (day - start).days / 25)


def rows_for_day(day: dt.date, rows_per_day: int) -> int:
    return int(round(rows_per_day * _WEEKDAY_VOLUME[day.weekday()] * holiday_factor(day)))


def drift_intensity(day: dt.date, scenario: str, scenario_start: dt.date | None) -> float:
    """0 before the scenario starts; for gradual drift it grows to 1 over 60 days; abrupt jumps to 1."""
    if scenario == "baseline" or scenario_start is None or day < scenario_start:
        return 0.0
    if scenario == "abrupt_drift":
        return 1.0
    return min(1.0, ((day - scenario_start).days + 1) / 60)


def generate_day(
    day: dt.date,
    *,
    seed: int = 42,
    rows_per_day: int = 5000,
    scenario: str = "baseline",
    scenario_start: dt.date | None = None,
) -> pd.DataFrame:
    """Return the transactions of ``day`` (UTC), deterministic for (seed, day, scenario)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([seed, day.toordinal()])
    n = rows_for_day(day, rows_per_day)
    drift = drift_intensity(day, scenario, scenario_start)
    abrupt = scenario == "abrupt_drift" and drift > 0
    season = holiday_factor(day) - 1.0  # 0 .. 0.4

    hour_p = np.asarray(_HOUR_WEIGHTS) / sum(_HOUR_WEIGHTS)
    hour = rng.choice(24, size=n, p=hour_p)
    seconds = hour * 3600 + rng.integers(0, 3600, size=n)
    midnight = np.datetime64(day.isoformat(), "s")
    event_time = midnight + seconds.astype("timedelta64[s]")

    channel_p = np.array([0.55, 0.30, 0.15])
    channel_p = channel_p + season * np.array([-0.25, 0.25, 0.0])  # holidays shop online
    if scenario == "gradual_drift":
        channel_p = channel_p + drift * np.array([-0.25, 0.20, 0.05])
    if abrupt:
        channel_p = np.array([0.20, 0.25, 0.55])
    channel_p = channel_p / channel_p.sum()
    channel_idx = rng.choice(3, size=n, p=channel_p)

    merchant_p = np.array([0.24, 0.16, 0.10, 0.08, 0.06, 0.20, 0.06, 0.10])
    if abrupt:
        merchant_p = merchant_p + np.array([0, 0, 0, 0, 0, 0, 0.10, 0])
    merchant_p = merchant_p / merchant_p.sum()
    merchant_idx = rng.choice(len(MERCHANT_CATEGORIES), size=n, p=merchant_p)
    country_idx = rng.choice(3, size=n, p=[0.86, 0.09, 0.05])
    tier_idx = rng.choice(3, size=n, p=[0.7, 0.22, 0.08])

    customer_age = np.clip(rng.normal(44, 15, size=n), 18, 95).round().astype("int64")
    account_age_days = np.minimum(rng.exponential(900, size=n), 365 * 30).astype("int64")
    avg_amount_30d = rng.lognormal(3.6, 0.6, size=n) * (1 + 0.5 * tier_idx)
    merchant_scale = np.array([0.8, 0.9, 1.0, 3.5, 4.0, 1.6, 0.6, 0.7])[merchant_idx]
    amount_inflation = 1.0 + (0.6 * drift if scenario == "gradual_drift" else 0.0)
    amount = avg_amount_30d * merchant_scale * rng.lognormal(-0.3, 0.5, size=n) * amount_inflation
    card_present = (channel_idx == 0).astype("int64")
    is_new_device = ((channel_idx != 0) & (rng.random(n) < 0.08 + (0.25 if abrupt else 0.0))).astype("int64")
    distance = rng.exponential(8, size=n) + np.array([0.0, 150.0, 2500.0])[country_idx] * rng.random(n)
    txn_count_24h = rng.poisson(2.0 + 1.5 * (channel_idx == 2), size=n)
    device_risk = np.clip(rng.beta(1.5, 12, size=n) + 0.15 * is_new_device, 0, 1)
    failed_logins = rng.poisson(0.1 + 0.4 * is_new_device, size=n)

    # the label: a logistic model over the features, tuned to about 2 % positives
    logit = (
        -6.4
        + 1.1 * np.log1p(amount / avg_amount_30d)
        + 1.2 * (country_idx == 2)
        + 0.5 * (country_idx == 1)
        + 0.9 * (channel_idx != 0)
        + 1.4 * is_new_device
        + 3.0 * device_risk
        + 0.35 * failed_logins
        + 0.6 * ((hour >= 0) & (hour <= 5))
        + 0.5 * np.isin(merchant_idx, (3, 5))  # electronics, online retail
        - 0.5 * (account_age_days > 720)
        + 0.3 * np.minimum(txn_count_24h, 8) / 4
    )
    if abrupt:
        # a new fraud pattern: small card-not-present amounts at gaming merchants from new devices
        logit = logit + 2.2 * ((merchant_idx == 6) & (is_new_device == 1)) + 0.8 * (amount < 20) * (channel_idx == 2)
    is_fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    # fraud inflates the amount and the velocity a little more
    amount = np.where(is_fraud == 1, amount * rng.uniform(1.0, 2.2, size=n), amount).round(2)
    txn_count_24h = txn_count_24h + is_fraud * rng.poisson(1.5, size=n)

    order = np.argsort(seconds, kind="stable")
    ids = np.char.add(f"{day:%Y%m%d}-", np.char.zfill(np.arange(n).astype(str), 7))
    frame = pd.DataFrame(
        {
            ID_COLUMN: ids,
            TIMESTAMP: pd.to_datetime(event_time).tz_localize("UTC").astype("datetime64[ns, UTC]"),
            "amount": amount,
            "hour": hour.astype("int64"),
            "day_of_week": np.full(n, day.weekday(), dtype="int64"),
            "customer_age": customer_age,
            "account_age_days": account_age_days,
            "txn_count_24h": txn_count_24h.astype("int64"),
            "avg_amount_30d": avg_amount_30d.round(2),
            "amount_to_avg_ratio": (amount / avg_amount_30d).round(4),
            "distance_from_home_km": distance.round(1),
            "device_risk_score": device_risk.round(4),
            "failed_logins_24h": failed_logins.astype("int64"),
            "card_present": card_present,
            "is_new_device": is_new_device,
            "merchant_category": np.asarray(MERCHANT_CATEGORIES)[merchant_idx],
            "channel": np.asarray(CHANNELS)[channel_idx],
            "country": np.asarray(COUNTRIES)[country_idx],
            "card_tier": np.asarray(CARD_TIERS)[tier_idx],
            TARGET: is_fraud,
        }
    )
    return frame.iloc[order].reset_index(drop=True)


def inject_fault(frame: pd.DataFrame, fault: str, *, seed: int = 0) -> pd.DataFrame:
    """Return a copy of ``frame`` with one data-quality fault applied."""
    import numpy as np

    out = frame.copy()
    rng = np.random.default_rng(seed)
    n = len(out)
    some = rng.choice(n, size=max(1, n // 10), replace=False) if n else np.array([], dtype=int)
    if fault == "nulls":
        out["amount"] = out["amount"].astype("float64")
        out.loc[out.index[some], "amount"] = np.nan
        out.loc[out.index[some[: len(some) // 2]], "channel"] = None
    elif fault == "out_of_range":
        out.loc[out.index[some], "amount"] = -out.loc[out.index[some], "amount"].abs() - 1
        out.loc[out.index[some[: len(some) // 2]], "customer_age"] = 240
    elif fault == "unknown_category":
        out.loc[out.index[some], "merchant_category"] = "crypto_exchange"
    elif fault == "missing_column":
        out = out.drop(columns=["device_risk_score"])
    elif fault == "wrong_dtype":
        out["amount"] = out["amount"].map(lambda v: f"{v:.2f} EUR")
    elif fault == "duplicate_rows":
        out = out.iloc[np.concatenate([np.arange(n), some])].reset_index(drop=True)
    elif fault == "empty_day":
        out = out.iloc[0:0]
    else:
        raise ValueError(f"unknown fault {fault!r}")
    return out
