"""Late labels: the maturity rule, the label join, the label suite and its quarantine, and your own labels_uri."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from include.mlops.core.exceptions import DataConfigMismatch, DataValidationFailed, InsufficientData
from include.mlops.data.ingest import ingest_day, land_labels, quarantined, suite_for
from include.mlops.data.lake import Lake
from include.mlops.data.outcomes import join_labels, last_matured_day, matured
from include.mlops.data.sources import load_day, load_labels
from include.mlops.data.validation import derive_suite, label_suite, validate_frame
from include.mlops.model.window import assemble_window, check_window, resolve_window

pytestmark = pytest.mark.unit

KEY = "transaction_id"
E = dt.date(2026, 3, 20)  # a window end (exclusive)


def late(make_config, delay: int = 3, **dataset):
    return make_config(
        dataset={"key_column": KEY, "label_delay_days": delay, **dataset},
        simulator={"rows_per_day": 300},
        training={"window_days": 6, "holdout_days": 2, "min_rows": 200},
    )


# -- the maturity rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "delay", "expected"),
    [
        (E - dt.timedelta(days=1), 0, True),  # no delay: every day before the end is in
        (E, 0, False),  # the end is exclusive
        (E - dt.timedelta(days=8), 7, True),  # D + N == E - 1: arrived the day before the end
        (E - dt.timedelta(days=7), 7, False),  # D + N == E: arrives on the end day, not in yet
        (E - dt.timedelta(days=1), 7, False),
    ],
)
def test_labels_mature_when_day_plus_delay_is_before_the_window_end(day, delay, expected):
    assert matured(day, E, delay) is expected
    assert (day <= last_matured_day(E, delay)) is expected


@pytest.mark.parametrize("delay", [0, 1, 7])
def test_the_training_window_ends_at_the_newest_matured_day(make_config, delay):
    cfg = make_config(dataset={"key_column": KEY, "label_delay_days": delay})  # window 10, holdout 3
    window = resolve_window(E, None, None, cfg)
    assert window.end == E - dt.timedelta(days=delay)  # delay 0: exactly as before
    assert window.end - dt.timedelta(days=1) == last_matured_day(E, delay)
    assert all(matured(d, E, delay) for d in window.days())
    assert (window.end - window.start).days == 10 and (window.end - window.holdout_start).days == 3


# -- the join ------------------------------------------------------------------------------------------------


def test_the_join_drops_and_counts_unlabelled_rows_and_ignores_unknown_keys():
    features = pd.DataFrame({KEY: ["a", "b", "c", "d"], "x": [1, 2, 3, 4]})
    labels = pd.DataFrame({KEY: ["a", "c", "zzz"], "is_fraud": [1, 0, 1]})
    joined, dropped = join_labels(features, labels, KEY, "is_fraud")
    assert dropped == 2  # b and d have no label
    assert joined.to_dict("list") == {KEY: ["a", "c"], "x": [1, 3], "is_fraud": [1, 0]}  # zzz: no such row


def test_the_join_takes_the_last_of_duplicate_label_keys_and_never_duplicates_a_row():
    features = pd.DataFrame({KEY: ["a", "b"], "x": [1, 2], "is_fraud": [9, 9]})  # a stale target is replaced
    labels = pd.DataFrame({KEY: ["a", "a", "b"], "is_fraud": [0, 1, 0]})
    joined, dropped = join_labels(features, labels, KEY, "is_fraud")
    assert dropped == 0 and len(joined) == 2
    assert dict(zip(joined[KEY], joined["is_fraud"], strict=True)) == {"a": 1, "b": 0}


def test_a_window_joins_each_day_with_its_labels_and_counts_the_unlabelled(make_config):
    cfg = late(make_config)
    lake = Lake.at(cfg.lake_root)
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(12)]
    for d in days:
        ingest_day(cfg, lake, d, labels_from=days[0])
    # one day's labels lose two rows: those feature rows are dropped and counted
    ds = "2026-03-05"
    labels = lake.read_partition("labels", cfg.dataset.name, ds)
    lake.write_partition("labels", cfg.dataset.name, ds, labels.iloc[2:])
    # and one day has no labels at all: a missing day
    lake.delete_partition("labels", cfg.dataset.name, "2026-03-06")
    window = resolve_window(dt.date(2026, 3, 13), None, None, cfg)  # ends at 03-10 (delay 3)
    data = assemble_window(lake, cfg, window)
    assert data.missing_days == ["2026-03-06"]
    assert data.unlabelled_rows == 2
    entry = next(p for p in data.partitions if p["ds"] == ds)
    assert entry["unlabelled_rows"] == 2 and entry["labels_rows"] == len(labels) - 2
    assert entry["rows"] == len(labels)  # the curated partition itself is whole
    assert data.train[cfg.dataset.target].notna().all() and data.holdout[cfg.dataset.target].isin([0, 1]).all()
    assert data.labels_matured_through == "2026-03-09"
    assert data.immature_days == ["2026-03-10", "2026-03-11", "2026-03-12"]
    # the evaluation holdout (registry.evaluate_and_record) reads the same join
    holdout = assemble_window(lake, cfg, window, holdout_only=True)
    assert len(holdout.holdout) == len(data.holdout) and cfg.dataset.target in holdout.holdout.columns
    # a check pins the labels too: labels changed after the check are refused
    check = check_window(lake, cfg, window).as_dict()
    assert set(check["label_partitions"]) == set(check["partitions"])
    lake.write_partition("labels", cfg.dataset.name, "2026-03-08", labels.iloc[5:])
    with pytest.raises(InsufficientData, match="labels partition .* changed after it was checked"):
        assemble_window(lake, cfg, window, expected=check["partitions"], expected_labels=check["label_partitions"])


# -- the batch without its label, and the label suite --------------------------------------------------------


def test_with_a_delay_the_batch_has_no_target_and_the_feature_suite_does_not_ask_for_one(make_config):
    cfg = late(make_config)
    day = dt.date(2026, 3, 2)
    batch = load_day(cfg, day)
    assert cfg.dataset.target not in batch.columns and KEY in batch.columns
    feed = load_labels(cfg, day)
    assert list(feed.columns) == [KEY, cfg.dataset.target] and feed[KEY].tolist() == batch[KEY].tolist()
    suite = suite_for(cfg, Lake.at(cfg.lake_root))  # the shipped suite, with its is_fraud expectations
    assert not [e for e in suite["expectations"] if (e.get("kwargs") or {}).get("column") == cfg.dataset.target]
    assert validate_frame(batch, suite).success
    derived = derive_suite(
        load_labels(cfg, day).merge(batch),
        name="t",
        target="is_fraud",
        timestamp_column="event_time",
        task="classification",
        cfg=cfg,
    )
    assert "is_fraud" not in str(derived["expectations"])
    plain = make_config(dataset={"label_delay_days": 0})  # with no delay: the batch and its suite as today
    assert cfg.dataset.target in load_day(plain, day).columns
    assert "is_fraud" in str(suite_for(plain, Lake.at(cfg.lake_root))["expectations"])


@pytest.mark.parametrize(
    ("bad", "failed"),
    [
        (lambda f: f.assign(is_fraud=[2] + f["is_fraud"].tolist()[1:]), "expect_column_values_to_be_in_set"),
        (lambda f: f.assign(transaction_id=[None] + f[KEY].tolist()[1:]), "expect_column_values_to_not_be_null"),
        (lambda f: pd.concat([f, f.head(1)]), "expect_column_values_to_be_unique"),
        (lambda f: f.head(0), "expect_table_row_count_to_be_between"),
    ],
)
def test_a_bad_label_feed_is_quarantined_with_a_message_naming_the_check(make_config, monkeypatch, bad, failed):
    import include.mlops.data.sources as sources

    cfg = late(make_config)
    lake = Lake.at(cfg.lake_root)
    run_day, label_day = dt.date(2026, 3, 10), "2026-03-07"
    good = land_labels(cfg, lake, run_day)
    assert good.ds == label_day and good.rows > 0 and good.run_ds == "2026-03-10"
    real = sources.load_labels
    monkeypatch.setattr(sources, "load_labels", lambda *a, **k: bad(real(*a, **k)))
    with pytest.raises(DataValidationFailed) as caught:
        land_labels(cfg, lake, run_day)
    message = str(caught.value)
    assert f"labels of {cfg.dataset.name} ds={label_day}" in message.splitlines()[0]
    assert failed in message and "clear land_labels" in message and "landed before for that day are kept" in message
    prefix = f"quarantine/{cfg.dataset.name}.labels/ds={label_day}"
    assert lake.storage.exists(f"{prefix}/part-0.parquet") and lake.storage.exists(f"{prefix}/validation.json")
    assert lake.read_json(f"{prefix}/validation.json")["success"] is False
    words = quarantined(caught.value)  # what land_labels' task pushes to XCom and logs as its OUTCOME
    assert words.status == "quarantined" and words.failed and failed in words.first
    assert words.summary["success"] is False and json.loads(json.dumps(words.summary)) == words.summary
    assert lake.partition_info("labels", cfg.dataset.name, label_day).content_hash == good.content_hash  # kept
    monkeypatch.setattr(sources, "load_labels", real)
    assert land_labels(cfg, lake, run_day).content_hash == good.content_hash  # a fixed feed lands again ...
    assert not lake.storage.exists(f"{prefix}/part-0.parquet")  # ... and leaves quarantine


def test_the_label_suite_fits_the_task(make_config):
    cfg = late(make_config)
    kinds = {e["type"] for e in label_suite(cfg)["expectations"]}
    assert {"expect_column_values_to_be_unique", "expect_column_values_to_be_in_set"} <= kinds


# -- your own labels: dataset.labels_uri ---------------------------------------------------------------------


def _events(n: int = 6) -> pd.DataFrame:
    times = pd.date_range("2026-02-01T10:00", periods=n, freq="12h", tz="UTC")
    return pd.DataFrame({"id": [f"e{i}" for i in range(n)], "ts": times.astype(str), "x": range(n)})


def byo(make_config, tmp_path, labels_uri: str, **dataset):
    source = tmp_path / "events.csv"
    _events().to_csv(source, index=False)
    return make_config(
        dataset={
            "uri": str(source),
            "suite": None,
            "timestamp_column": "ts",
            "target": "outcome",
            "key_column": "id",
            "label_delay_days": 2,
            "labels_uri": labels_uri,
            **dataset,
        }
    )


def test_labels_uri_as_a_csv_selects_the_events_of_the_day_and_maps_positive_label(make_config, tmp_path):
    path = tmp_path / "labels.csv"
    labels = _events()[["id", "ts"]].assign(outcome=["Yes", "No", "No", "Yes", "No", "No"])
    labels.to_csv(path, index=False)
    cfg = byo(make_config, tmp_path, str(path), positive_label="Yes")
    feed = load_labels(cfg, dt.date(2026, 2, 2))  # events e2 (10:00) and e3 (22:00)
    assert feed.to_dict("list") == {"id": ["e2", "e3"], "outcome": [0, 1]}
    assert "outcome" not in load_day(cfg, dt.date(2026, 2, 2)).columns  # the source has no target: fine


def test_labels_uri_as_a_folder_reads_every_file(make_config, tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    labels = _events()[["id", "ts"]].assign(outcome=[1, 0, 0, 1, 0, 1])
    labels.iloc[:3].to_csv(folder / "a.csv", index=False)
    labels.iloc[3:].to_parquet(folder / "b.parquet")
    cfg = byo(make_config, tmp_path, str(folder))
    assert load_labels(cfg, dt.date(2026, 2, 2)).to_dict("list") == {"id": ["e2", "e3"], "outcome": [0, 1]}


def test_labels_with_another_key_column_name_are_refused_naming_the_column_and_the_key(make_config, tmp_path):
    path = tmp_path / "labels.csv"
    _events()[["ts"]].assign(idd=[f"e{i}" for i in range(6)], outcome=1).to_csv(path, index=False)
    cfg = byo(make_config, tmp_path, str(path))
    with pytest.raises(DataConfigMismatch) as caught:
        load_labels(cfg, dt.date(2026, 2, 2))
    message = str(caught.value)
    assert "'id' (dataset.key_column) is not in the labels at" in message and str(path) in message
    assert "Did you mean 'idd'?" in message and "set dataset.key_column in" in message


def test_a_failed_validation_in_words_says_whether_the_day_was_quarantined_or_kept():
    from include.mlops.core.exceptions import CuratedDayKept

    failed = {
        "expectation": "expect_column_values_to_not_be_null",
        "column": "amount",
        "unexpected_count": 7,
        "unexpected_percent": 70.0,
    }
    kept = quarantined(CuratedDayKept("kept", {"failed": [failed], "rows": 10, "cause": "suite changed"}))
    assert (kept.status, kept.rows, kept.cause) == ("kept", 10, "suite changed")
    assert kept.first.startswith("expect_column_values_to_not_be_null") and "'amount'" in kept.first
    nothing = quarantined(DataValidationFailed("empty", {}))
    assert (nothing.status, nothing.failed, nothing.first) == ("quarantined", (), "see validation.json")
