"""The one JSON sanitiser (XCom results, lake reports, MLflow decision artifacts, validation summaries)."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from include.mlops.core.jsonsafe import json_safe


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (3, 3),
        ("1.10", "1.10"),
        (0.25, 0.25),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (np.float64(0.5), 0.5),
        (np.float64("nan"), None),
        (np.int64(7), "7"),
        (dt.date(2026, 3, 1), "2026-03-01"),
        (pd.Timestamp("2026-03-01 12:00"), "2026-03-01 12:00:00"),
        ((1, "a"), [1, "a"]),
        ({2: "a", None: "b", False: "c"}, {"2": "a", "null": "b", "false": "c"}),
        ({"m": {"auc": math.nan, "days": (dt.date(2026, 1, 2),)}}, {"m": {"auc": None, "days": ["2026-01-02"]}}),
    ],
)
def test_plain_json_types_only(value, expected):
    out = json_safe(value)
    assert out == expected
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # strict JSON: no NaN, nothing but plain types


def test_a_set_becomes_a_list():
    assert sorted(json_safe({"b", "a"})) == ["a", "b"]
