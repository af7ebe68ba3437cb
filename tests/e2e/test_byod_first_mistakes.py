"""A new user's first mistakes with their own data, and their fixes, on data these tests make (not the
simulator's schema): each ends with a clear message, a non-zero exit where a person must act, and no
curated day lost.

The datasets: a credit-default table (CSV, a Yes/No label, 12 days) and an hourly energy table (Parquet,
regression, 12 days).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from include.mlops.cli import main as cli
from include.mlops.data.lake import Lake
from tests.e2e.conftest import day, lake_snapshot, run_dag, task_instances

ROOT = Path(__file__).resolve().parents[2]
DAYS = 12


def credit_frame(labels: str = "yes_no", seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = DAYS * 150
    ts = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, DAYS * 86400, n), unit="s")
    income = rng.normal(50_000, 15_000, n).round()
    limit = rng.integers(1_000, 20_000, n)
    p = 1 / (1 + np.exp(-((limit / 20_000) * 3 - income / 50_000 - 1)))
    positive = rng.random(n) < p
    frame = pd.DataFrame(
        {
            "applied_at": ts.strftime("%Y-%m-%d %H:%M:%S"),
            "customer_id": np.arange(n),
            "income": income,
            "credit_limit": limit,
            "education": rng.choice(["school", "college", "university"], n),
            "default": np.where(positive, "Yes", "No") if labels == "yes_no" else positive.astype(int),
        }
    )
    return frame.sort_values("applied_at").reset_index(drop=True)


def energy_frame(seed: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2026-06-01", periods=DAYS * 24, freq="h", tz="UTC")
    temp = 20 + 8 * np.sin(np.arange(len(hours)) * 2 * np.pi / 24) + rng.normal(0, 2, len(hours))
    load = 300 + 12 * temp + rng.normal(0, 10, len(hours))
    return pd.DataFrame(
        {
            "measured_at": hours,
            "temperature_c": temp.round(2),
            "hour": hours.hour,
            "region": rng.choice(["north", "south"], len(hours)),
            "load_mw": load.round(1),
        }
    )


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A user's workspace: their data file, their config (written from a dict), the lake. ``run(...)`` is
    the CLI as they call it (in-process), returning (exit code, stdout, stderr)."""

    class User:
        lake_root = tmp_path / "lake"
        config_path = tmp_path / "my.yaml"

        def write_config(self, doc: dict) -> None:
            self.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
            monkeypatch.setenv("MLOPS_CONFIG", str(self.config_path))

        def credit(self, labels: str = "yes_no", **dataset) -> Path:
            path = tmp_path / "credit.csv"
            frame = dataset.pop("frame", None)
            (credit_frame(labels) if frame is None else frame).to_csv(path, index=False)
            self.write_config(
                {
                    "dataset": {
                        "name": "credit",
                        "uri": str(path),
                        "timestamp_column": "applied_at",
                        "target": "default",
                        "task": "classification",
                        "suite": None,
                        "exclude_columns": ["customer_id"],
                        **dataset,
                    },
                    "lake": {"root": str(self.lake_root)},
                }
            )
            return path

        def lake(self) -> Lake:
            return Lake.at(str(self.lake_root))

        def snapshot(self, dataset: str = "credit") -> dict:
            return lake_snapshot(self.lake(), dataset)

    return User()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. a wrong target name ---------------------------------------------------------------------------------------


def test_a_wrong_target_stops_before_anything_is_written_and_names_the_column(user, capsys):
    user.credit(target="defaulted", positive_label="Yes")
    code, out, err = run(capsys, "load-history")
    assert code == 2
    assert "'defaulted' (dataset.target) is not in" in err and "credit.csv" in err
    assert "Did you mean 'default'?" in err and str(user.config_path) in err
    assert not user.lake_root.exists()  # nothing landed, no suite derived


def test_a_listed_feature_or_excluded_column_that_is_not_in_the_data_is_named(user, capsys):
    user.credit(positive_label="Yes", exclude_columns=["customer"])
    code, _, err = run(capsys, "load-history")
    assert code == 2 and "dataset.exclude_columns names 'customer'" in err and "Did you mean 'customer_id'?" in err
    user.credit(positive_label="Yes", features=["income", "limit"])
    code, _, err = run(capsys, "load-history")
    assert code == 2 and "dataset.features names 'limit'" in err
    assert not user.lake_root.exists()


# -- 4. a Yes/No label ----------------------------------------------------------------------------------------------


def test_a_yes_no_label_is_refused_up_front_naming_the_values_and_the_key(user, capsys):
    user.credit()
    code, _, err = run(capsys, "load-history")
    assert code == 2
    assert "'No', 'Yes'" in err and "dataset.positive_label" in err
    assert not user.lake_root.exists()


def test_positive_label_maps_the_label_to_0_1_in_the_lake(user, capsys):
    source = credit_frame()
    user.credit(positive_label="Yes")
    code, out, _ = run(capsys, "load-history")
    assert code == 0, out
    lake = user.lake()
    curated = pd.concat(lake.read_partition("curated", "credit", d) for d in lake.list_partitions("curated", "credit"))
    assert sorted(curated["default"].unique().tolist()) == [0, 1]
    assert int(curated["default"].sum()) == int((source["default"] == "Yes").sum())
    assert f"0 of {DAYS} days quarantined, {DAYS} published" in out


@pytest.mark.parametrize(
    ("labels", "positive", "fragment"),
    [
        (["Yes", "No", "Maybe"], "Yes", "3 distinct value(s)"),
        (["Y", "N"], "Yes", "positive_label is 'Yes'"),
        ([1, 2, 3], None, "holds 3"),
    ],
)
def test_labels_that_do_not_fit_binary_classification_are_refused(user, capsys, labels, positive, fragment):
    frame = credit_frame()
    frame["default"] = [labels[i % len(labels)] for i in range(len(frame))]
    user.credit(frame=frame, **({"positive_label": positive} if positive else {}))
    code, _, err = run(capsys, "load-history")
    assert code == 2 and fragment in err, err
    assert not user.lake_root.exists()


def test_a_text_target_for_regression_is_refused(user, capsys):
    user.credit(task="regression")
    code, _, err = run(capsys, "load-history")
    assert code == 2 and "task regression needs a numeric target" in err


# -- 5. missing labels on some rows ----------------------------------------------------------------------------------


def test_a_day_with_missing_labels_is_quarantined_and_the_console_says_why(user, capsys):
    frame = credit_frame()
    bad_day = frame["applied_at"].str.startswith("2026-03-04")
    frame.loc[bad_day[bad_day].index[:7], "default"] = None
    user.credit(frame=frame, positive_label="Yes")
    code, out, _ = run(capsys, "load-history")
    assert code == 0  # the other days are published: training can go on
    line = next(x for x in out.splitlines() if x.startswith("2026-03-04"))
    assert "QUARANTINED" in line and "column 'default'" in line and "7 rows" in line and "are null" in line
    assert f"1 of {DAYS} days quarantined, {DAYS - 1} published" in out
    assert "2026-03-04" in user.lake().list_partitions("quarantine", "credit")


# -- every day quarantined: exit 1 -------------------------------------------------------------------------------------


def test_when_every_day_is_quarantined_load_history_exits_1_and_names_the_first_failed_check(user, capsys, tmp_path):
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "strict",
                "expectations": [
                    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "income", "max_value": 0}}
                ],
            }
        )
    )
    user.credit(positive_label="Yes", suite=str(suite))
    code, out, _ = run(capsys, "load-history", "--to", "2026-03-04")
    assert code == 1
    assert "4 of 4 days quarantined, 0 published" in out
    assert "every day was quarantined" in out and "column 'income'" in out
    assert sorted(user.lake().list_partitions("quarantine", "credit")) == [f"2026-03-0{d}" for d in range(1, 5)]


# -- 2./3. fixing a mistake after a first load: nothing curated is lost ------------------------------------------


def test_a_label_encoding_change_after_a_first_load_loses_no_curated_day(user, capsys):
    user.credit(positive_label="Yes")
    assert run(capsys, "load-history")[0] == 0
    before = user.snapshot()
    assert len(before["curated"]) == DAYS

    # the source is re-exported with 0/1 labels, the config still maps "Yes": refused before anything is touched
    user.credit(labels="zero_one", positive_label="Yes")
    code, _, err = run(capsys, "load-history")
    assert code == 2 and "positive_label is 'Yes'" in err and "0, 1" in err
    assert user.snapshot() == before

    # the user drops positive_label: the suite no longer fits the config, is derived again (old kept), all publish
    user.credit(labels="zero_one")
    code, out, _ = run(capsys, "load-history")
    assert code == 0, out
    after = user.snapshot()
    assert after["curated"] == before["curated"]  # same days, same bytes: the labels mean the same
    suites = sorted(k for k in user.lake().storage.list("suites/"))
    assert len(suites) == 2 and "suites/credit.json" in suites


def test_a_stale_suite_kept_by_an_older_version_no_longer_empties_curated(user, capsys, caplog):
    """The reported case: a lake whose derived suite expects ['No', 'Yes'] (no record of what it was derived
    from), labels fixed to 0/1, load-history run again. It used to move every curated day to quarantine."""
    user.credit(labels="zero_one")
    assert run(capsys, "load-history")[0] == 0
    lake = user.lake()
    old = lake.read_json("suites/credit.json")
    old.pop("meta")
    for e in old["expectations"]:
        if e["kwargs"].get("column") == "default" and e["type"] == "expect_column_values_to_be_in_set":
            e["kwargs"]["value_set"] = ["No", "Yes"]
    lake.write_json("suites/credit.json", old)
    before = user.snapshot()

    code, out, err = run(capsys, "load-history")
    assert code == 0, out
    assert user.snapshot()["curated"] == before["curated"]
    assert "has no record of what it was derived from" in caplog.text  # the WARNING line says why


def test_a_renamed_column_after_a_first_load_keeps_curated_days_and_says_how_to_move_on(user, capsys):
    user.credit(positive_label="Yes")
    assert run(capsys, "load-history")[0] == 0
    before = user.snapshot()

    renamed = credit_frame().rename(columns={"income": "annual_income"})
    user.credit(frame=renamed, positive_label="Yes")
    code, out, _ = run(capsys, "load-history")
    assert code == 1  # a person must decide
    assert f"{DAYS} day(s) already published would have moved from curated/ to quarantine" in out
    assert "--requarantine-curated" in out and "suite show" in out
    assert "KEPT CURATED" in out and "'income'" in out
    assert user.snapshot()["curated"] == before["curated"]  # not one curated byte moved
    assert user.lake().list_partitions("quarantine", "credit") == []

    # the suite explains what changed in the source; re-deriving it is the fix for an intended rename
    code, out, _ = run(capsys, "suite", "explain")
    assert code == 0 and "gone ['income']" in out and "new ['annual_income']" in out
    assert run(capsys, "suite", "derive")[0] == 0
    code, out, _ = run(capsys, "load-history")
    assert code == 0, out
    lake = user.lake()
    assert len(lake.list_partitions("curated", "credit")) == DAYS
    assert "annual_income" in lake.read_partition("curated", "credit", "2026-03-01").columns


def test_requarantine_curated_moves_the_days_and_deletes_nothing(user, capsys):
    user.credit(positive_label="Yes")
    assert run(capsys, "load-history", "--to", "2026-03-02")[0] == 0
    before = user.snapshot()
    renamed = credit_frame().rename(columns={"income": "annual_income"})
    user.credit(frame=renamed, positive_label="Yes")
    code, out, _ = run(capsys, "load-history", "--to", "2026-03-02", "--requarantine-curated")
    assert code == 1 and "2 of 2 days quarantined" in out
    lake = user.lake()
    assert lake.list_partitions("curated", "credit") == []
    for ds, digest in before["curated"].items():  # the old curated bytes are kept beside the quarantined batch
        kept = lake.storage.read_bytes(f"quarantine/credit/ds={ds}/previously-curated.parquet")
        assert hashlib.sha256(kept).hexdigest() == digest


def test_a_corrected_target_derives_the_suite_again_and_keeps_the_old_one(user, capsys, caplog):
    frame = credit_frame(labels="zero_one")
    user.credit(frame=frame)
    assert run(capsys, "load-history")[0] == 0
    user.credit(frame=frame.rename(columns={"default": "defaulted"}), target="defaulted")
    code, out, err = run(capsys, "load-history")
    assert code == 0, out
    assert "changed since it was derived: dataset.target" in caplog.text
    assert len(user.lake().storage.list("suites/")) == 2
    code, out, _ = run(capsys, "suite", "show")
    assert "for target 'defaulted'" in out and "current" in out


# -- 6. a regression config copied from the shipped (classification) file ----------------------------------------


def test_a_regression_config_copied_from_the_shipped_file_says_what_to_do(user, capsys, tmp_path):
    data = tmp_path / "energy.parquet"
    energy_frame().to_parquet(data)
    doc = yaml.safe_load((ROOT / "include/config/mlops.yaml").read_text())
    doc["dataset"].update(
        name="energy", uri=str(data), timestamp_column="measured_at", target="load_mw", task="regression", suite=None
    )
    doc["dataset"]["exclude_columns"] = []
    doc["dataset"].update(key_column=None, label_delay_days=0)  # this source holds its labels
    doc["lake"]["root"] = str(user.lake_root)
    user.write_config(doc)
    code, _, err = run(capsys, "load-history")
    assert code == 2
    assert "'average_precision' is not computed for regression" in err
    assert "Leaving the `evaluation` section out" in err and "examples/regression.yaml" in err
    # the shipped candidates include a classifier: named in the same message, not one mistake at a time
    assert "`model.candidates[2].estimator` 'logistic_regression' does not fit task 'regression'" in err
    assert not user.lake_root.exists()


def test_the_shipped_examples_load_and_default_the_model_name(user, capsys, tmp_path):
    data = tmp_path / "energy.parquet"
    energy_frame().to_parquet(data)
    doc = yaml.safe_load((ROOT / "include/config/examples/regression.yaml").read_text())
    doc["dataset"]["uri"] = str(data)
    doc["lake"]["root"] = str(user.lake_root)
    user.write_config(doc)
    code, out, _ = run(capsys, "load-history")
    assert code == 0 and f"0 of {DAYS} days quarantined" in out
    from include.mlops.core.config import load_config

    cfg = load_config()
    assert (cfg.model.name, cfg.evaluation.primary_metric) == ("energy_regression", "rmse")


# -- the console, as a user sees it (a real process) ------------------------------------------------------------------


def test_load_history_console_has_no_gx_chatter(user, tmp_path):
    user.credit(positive_label="Yes")
    env = {**os.environ, "MLOPS_CONFIG": str(user.config_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "include.mlops.cli", "load-history", "--to", "2026-03-03"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ephemeral docs site" not in proc.stderr and "great_expectations" not in proc.stderr, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("0 of 3 days quarantined, 3 published")


# -- the same through the DAG ------------------------------------------------------------------------------------------


def test_land_batch_fails_at_once_on_a_config_that_does_not_fit_the_data(user, dags):
    user.credit(target="defaulted", positive_label="Yes")
    run = _ingest(dags, "2026-03-02")
    tis = task_instances(run)
    assert (tis["land_batch"].state, tis["land_batch"].try_number) == ("failed", 1)
    assert not user.lake_root.exists()


def test_validate_batch_keeps_a_curated_day_unless_asked(user, dags, capsys):
    user.credit(positive_label="Yes")
    assert run(capsys, "load-history", "--to", "2026-03-02")[0] == 0
    before = user.snapshot()
    user.credit(frame=credit_frame().rename(columns={"income": "annual_income"}), positive_label="Yes")

    kept = _ingest(dags, "2026-03-02")
    tis = task_instances(kept)
    assert (tis["validate_batch"].state, tis["validate_batch"].try_number) == ("failed", 1)
    assert tis["publish_batch"].state == "upstream_failed"
    assert user.snapshot()["curated"] == before["curated"]

    moved = _ingest(dags, "2026-03-02", requarantine_curated=True)
    assert task_instances(moved)["validate_batch"].state == "failed"
    assert user.lake().list_partitions("curated", "credit") == ["2026-03-01"]
    assert user.lake().list_partitions("quarantine", "credit") == ["2026-03-02"]


def _ingest(dags, ds: str, **conf):
    import datetime as dt

    logical = dt.datetime.combine(day(ds) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return run_dag(dags, "ingest_and_validate", conf, logical_date=logical)


# -- the README's steps, as written, for a classification dataset that is not the simulator's -------------------------


def test_the_readme_steps_train_a_champion_on_a_yes_no_dataset(tmp_path):
    """Copy the example, fill in the dataset, load-history, then `airflow dags test` with window_end: real
    processes, a fresh Airflow home and MLflow store, as the README says."""
    data = tmp_path / "credit.csv"
    credit_frame().to_csv(data, index=False)
    doc = yaml.safe_load((ROOT / "include/config/examples/classification.yaml").read_text())
    doc["dataset"]["uri"] = str(data)
    doc["lake"]["root"] = str(tmp_path / "lake")
    config = tmp_path / "credit.yaml"
    config.write_text(yaml.safe_dump(doc))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW"))},
        "MLOPS_CONFIG": str(config),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
        "AIRFLOW_HOME": str(tmp_path / "airflow-headless"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
            {"conn_type": "http", "extra": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}
        ),
    }
    airflow = str(Path(sys.executable).parent / "airflow")

    def sh(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    loaded = sh(sys.executable, "-m", "include.mlops.cli", "load-history")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert loaded.stdout.splitlines()[-1].startswith(f"0 of {DAYS} days quarantined, {DAYS} published")
    assert sh(airflow, "db", "migrate").returncode == 0
    trained = sh(
        airflow, "dags", "test", "train_and_promote", "-c", '{"window_end": "2026-03-13", "reason": "first model"}'
    )
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-3000:]
    assert "OUTCOME CHAMPION of credit_classification is now version 1" in log, log[-3000:]

    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("credit_classification", "champion")
    lineage = client.download_artifacts(champion.run_id, "lineage/training_data.json", str(tmp_path))
    used = json.loads(Path(lineage).read_text())
    lake = Lake.at(str(tmp_path / "lake"))
    assert len(used["partitions"]) == DAYS
    for part in used["partitions"]:  # trained on exactly what the lake holds (0/1 labels mapped from Yes/No)
        assert lake.partition_info("curated", "credit", part["ds"]).content_hash == part["content_hash"]
