from __future__ import annotations

import datetime as dt

import pandas as pd

from include.mlops.lake import Lake


def test_write_replaces_the_partition_and_lists_days(tmp_path):
    lake = Lake.at(str(tmp_path))
    lake.write_partition("curated", "t", dt.date(2026, 1, 2), pd.DataFrame({"a": [1, 2, 3]}))
    info = lake.write_partition("curated", "t", "2026-01-02", pd.DataFrame({"a": [9]}))
    lake.write_partition("curated", "t", "2026-01-01", pd.DataFrame({"a": [1]}))
    assert lake.list_partitions("curated", "t") == ["2026-01-01", "2026-01-02"]
    assert lake.read_partition("curated", "t", "2026-01-02")["a"].tolist() == [9]
    assert info.rows == 1 and lake.partition_info("curated", "t", "2026-01-02").content_hash == info.content_hash


def test_content_hash_changes_with_content(tmp_path):
    lake = Lake.at(str(tmp_path))
    h1 = lake.write_partition("curated", "t", "2026-01-01", pd.DataFrame({"a": [1]})).content_hash
    h2 = lake.write_partition("curated", "t", "2026-01-01", pd.DataFrame({"a": [2]})).content_hash
    h3 = lake.write_partition("curated", "t", "2026-01-01", pd.DataFrame({"a": [1]})).content_hash
    assert h1 != h2 and h1 == h3


def test_delete_and_json_reports(tmp_path):
    lake = Lake.at(str(tmp_path))
    lake.write_partition("quarantine", "t", "2026-01-01", pd.DataFrame({"a": [1]}))
    lake.delete_partition("quarantine", "t", "2026-01-01")
    assert lake.list_partitions("quarantine", "t") == []
    key = lake.report_key("validation", "t", "2026-01-01", "validation.json")
    lake.write_json(key, {"ok": True})
    assert lake.read_json(key) == {"ok": True}
