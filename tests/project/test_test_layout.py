"""The suite's own layout: pytest (rootdir import mode, no __init__.py in the test folders) refuses to collect two
test modules with the same basename, and the whole run stops at collection."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_test_module_basenames_are_unique():
    seen: dict[str, list[str]] = defaultdict(list)
    for path in [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob(".astro/test_*.py")]:
        seen[path.name].append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
