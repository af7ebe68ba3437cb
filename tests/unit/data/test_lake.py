from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from include.mlops.data.lake import Lake


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


@pytest.fixture(params=["local", "s3"])
def any_lake(request, tmp_path, monkeypatch):
    if request.param == "local":
        yield Lake.at(str(tmp_path / "lake"))
        return
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        yield Lake.at("s3://lake/prod", client)


def test_partition_file_is_a_local_path_to_the_stored_file(any_lake):
    """Local: the file itself, read in place; S3: a temporary copy, removed after. Same bytes as stored either way,
    and a day that is not there raises as reading its bytes does."""
    import os

    import pyarrow.parquet as pq

    frame = pd.DataFrame({"a": range(1000), "b": ["x", "y"] * 500})
    any_lake.write_partition("landing", "ds", "2026-03-04", frame)
    with any_lake.partition_file("landing", "ds", "2026-03-04") as path:
        with open(path, "rb") as file:
            assert file.read() == any_lake.read_partition_bytes("landing", "ds", "2026-03-04")
        assert pq.ParquetFile(path).read().to_pandas().equals(frame)
        in_place = path == any_lake.storage.uri("landing/ds/ds=2026-03-04/part-0.parquet")
        assert in_place == (not any_lake.storage.uri("x").startswith("s3://"))
    assert os.path.exists(path) == in_place  # a temporary copy is gone, the lake's own file stays
    with pytest.raises(Exception) as missing_bytes:
        any_lake.read_partition_bytes("landing", "ds", "2026-03-05")
    with pytest.raises(type(missing_bytes.value)):
        with any_lake.partition_file("landing", "ds", "2026-03-05"):
            pass


def test_a_partial_read_still_refuses_a_damaged_page_in_a_column_it_does_not_return(tmp_path):
    """Reading only some columns (the window check reads the target) still decodes the others, one at a time:
    a damaged page anywhere raises CorruptPartition, as reading the whole partition does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.mlops.core.exceptions import CorruptPartition

    lake = Lake.at(str(tmp_path))
    table = pa.table({"label": [0, 1] * 5000, "text": [f"value-{i}" for i in range(10000)]})
    path = tmp_path / "curated" / "t" / "ds=2026-01-01" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, compression="snappy", use_dictionary=False)
    meta = pq.ParquetFile(path).metadata.row_group(0).column(1)  # the text column's pages
    data = bytearray(path.read_bytes())
    start = meta.data_page_offset + 64
    data[start : start + 256] = bytes(256)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPartition):
        lake.read_partition("curated", "t", "2026-01-01", columns=["label"])
    with pytest.raises(CorruptPartition):
        lake.read_partition("curated", "t", "2026-01-01", columns=lambda names: [n for n in names if n == "label"])
