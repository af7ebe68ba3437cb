"""The one JSON sanitiser: what goes to XCom, to a report in the lake or to an MLflow JSON artifact."""

from __future__ import annotations

import math
from typing import Any

_KEYS = {None: "null", True: "true", False: "false"}


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: mappings with string keys, lists (from tuples, lists and sets), str, int,
    finite float, bool, None. A non-finite float becomes None (strict JSON has no NaN); anything else, such as
    a date, a numpy scalar or a pandas Timestamp, becomes ``str(value)``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return _KEYS[key]
    return str(key)
