"""The evaluation card on small synthetic data of its own (not the simulator's): figures, the self-contained
HTML, the two-line description, and what lands in a real MLflow store and the lake."""

from __future__ import annotations

import base64
import re
import uuid
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from include.mlops.core.config import REGRESSION_EVALUATION, EvaluationConfig
from include.mlops.core.exceptions import CardFailed
from include.mlops.core.jsonsafe import json_safe
from include.mlops.data.lake import Lake
from include.mlops.model.metrics import compute_metrics, score
from include.mlops.promotion.card import build_card, describe, log_card, record_card
from include.mlops.promotion.decision import decide

pytestmark = pytest.mark.unit

WINDOW = {"start": "2026-05-01", "holdout_start": "2026-05-08", "end": "2026-05-11"}
HASH = "c0ffee" * 10


def _pipeline(task: str, numeric: list[str], categorical: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [("num", "passthrough", numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]
    )
    return Pipeline(
        [("pre", pre), ("model", LogisticRegression(max_iter=500) if task == "classification" else Ridge())]
    )


def _frame(task: str, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "width": rng.normal(size=rows),
            "depth": rng.normal(size=rows),
            "shop": rng.choice(["north", "south", "east"], size=rows),
        }
    )
    signal = 1.5 * frame["width"] - 0.7 * frame["depth"] + (frame["shop"] == "east") * 0.8
    if task == "classification":
        frame["bought"] = (signal + rng.normal(scale=1.0, size=rows) > 1.0).astype(int)
    else:
        frame["price"] = 10 + 3 * signal + rng.normal(scale=1.0, size=rows)
    return frame


TARGET = {"classification": "bought", "regression": "price"}


def _segments(task: str, holdout: pd.DataFrame, metric: str) -> list[dict]:
    """A segment table in the shared contract's shape (include.mlops.promotion.decision.SegmentCheck as dicts)."""
    rows = []
    for i, (value, part) in enumerate(holdout.groupby("shop")):
        rows.append(
            {
                "column": "shop",
                "value": str(value),
                "rows": len(part),
                "positives": int(part["bought"].sum()) if task == "classification" else None,
                "challenger": 0.8 - 0.1 * i,
                "champion": 0.7,
                "regression": -0.1 + 0.1 * i,
                "judged": i < 2,
                "passed": i == 0,
            }
        )
    return rows


def _evaluated(task: str):
    """Two fitted models (the champion sees fewer features), a holdout and the evaluation report for them."""
    target = TARGET[task]
    train, holdout = _frame(task, 1200, 1), _frame(task, 600, 2)
    challenger = _pipeline(task, ["width", "depth"], ["shop"]).fit(train[["width", "depth", "shop"]], train[target])
    champion = _pipeline(task, ["depth"], []).fit(train[["depth"]], train[target])
    policy = EvaluationConfig() if task == "classification" else REGRESSION_EVALUATION
    y = holdout[target].to_numpy()
    chal_m = compute_metrics(task, y, score(challenger, holdout, task))
    champ_m = compute_metrics(task, y, score(champion, holdout, task))
    decision = decide(chal_m, champ_m, policy).as_dict()
    decision["segments"] = _segments(task, holdout, policy.primary_metric)
    report = json_safe(
        {
            "model_name": f"card_{task}_{uuid.uuid4().hex[:8]}",
            "challenger_version": "2",
            "champion_version": "1",
            "challenger_metrics": chal_m,
            "champion_metrics": champ_m,
            "holdout_rows": len(holdout),
            "decision": decision,
            "evaluated_at": "2026-05-11T03:00:00+00:00",
            "already_champion": False,
            "trigger": {"run_key": "train_and_promote/manual__1", "reason": "weekly <retrain> & check"},
        }
    )
    return holdout, challenger, champion, report


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("classification", {"precision_recall", "roc", "calibration", "permutation_importance", "segments"}),
        ("regression", {"residuals", "calibration", "permutation_importance", "segments"}),
    ],
)
def test_card_draws_the_task_figures_and_a_self_contained_page(task, expected):
    holdout, challenger, champion, report = _evaluated(task)
    card = build_card(
        task=task,
        target=TARGET[task],
        holdout=holdout,
        challenger=challenger,
        champion=champion,
        report=report,
        window=WINDOW,
        content_hash=HASH,
    )
    assert set(card.figures) == expected
    page = card.html
    # self-contained: no script, nothing fetched from elsewhere
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, flags=re.IGNORECASE)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(expected)
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    # the decision, the metrics of both models, the window, the data hash and the segment rows
    assert ("BLESSED" if report["decision"]["promote"] else "REJECTED") in page
    assert f"<td>{report['decision']['primary_metric']} (" in page
    assert report["decision"]["reason"].replace(">", "&gt;").replace("<", "&lt;").split(";")[0] in page
    assert "weekly &lt;retrain&gt; &amp; check" in page  # free text escaped, never markup
    assert HASH in page and "2026-05-01 .. 2026-05-11" in page
    for seg in report["decision"]["segments"]:
        assert f'<td>shop</td><td>{seg["value"]}</td><td class="n">{seg["rows"]}</td>' in page
    assert page.count('<tr class="fail">') >= 1  # the segment that blocks is marked
    # the importance table ranks the features the challenger was fitted on, the strongest first
    ranked = re.findall(r"<tr><td>(\w+)</td>", page.split("<h2>Permutation importance (challenger)</h2>")[1])
    assert ranked[0] == "width" and sorted(ranked) == ["depth", "shop", "width"]


def test_the_description_is_two_lines_verdict_and_reason():
    _, _, _, report = _evaluated("classification")
    report["decision"]["reason"] = "first part\nsecond part " + "x" * 1000
    text = describe(report)
    first, second = text.split("\n")
    metric = report["decision"]["primary_metric"]
    assert first.startswith(("BLESSED: ", "REJECTED: ")) and f"{metric} " in first and "champion v1" in first
    assert second.startswith("first part second part xxx") and second.endswith("…") and len(second) <= 300

    alone = {**report, "champion_version": None}
    alone["decision"] = {**report["decision"], "promote": True, "champion_value": None, "reason": "no champion yet"}
    assert describe(alone).split("\n") == [
        f"BLESSED: {metric} {report['decision']['challenger_value']:.4f} (no champion)",
        "no champion yet",
    ]


def test_a_card_without_champion_segments_or_second_class_says_what_it_left_out():
    holdout, challenger, _, report = _evaluated("classification")
    holdout = holdout.assign(bought=0)
    report = {**report, "champion_version": None, "champion_metrics": None}
    report["decision"] = {**report["decision"], "segments": [], "guardrails": []}
    card = build_card(
        task="classification", target="bought", holdout=holdout, challenger=challenger, champion=None, report=report
    )
    assert set(card.figures) == {"calibration"}
    assert len(card.notes) == 2 and all("one class only" in n for n in card.notes) and "one class only" in card.html
    assert "No segment table" in card.html


@pytest.fixture
def registered(mlflow_client):
    """A registered model with versions 1 and 2; version 2's run is the challenger's."""

    def _make(model_name: str) -> str:
        exp = mlflow_client.get_experiment_by_name("card-tests") or None
        exp_id = exp.experiment_id if exp else mlflow_client.create_experiment("card-tests")
        mlflow_client.create_registered_model(model_name)
        run_ids = []
        for _ in range(2):
            run = mlflow_client.create_run(exp_id)
            mlflow_client.set_terminated(run.info.run_id)
            mlflow_client.create_model_version(model_name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
            run_ids.append(run.info.run_id)
        return run_ids[1]

    return _make


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_record_card_logs_figures_and_page_to_the_run_writes_the_lake_and_describes_the_version(
    task, tmp_path, mlflow_client, registered
):
    holdout, challenger, champion, report = _evaluated(task)
    name = report["model_name"]
    run_id = registered(name)
    lake = Lake.at(str(tmp_path / "lake"))
    cfg = SimpleNamespace(
        dataset=SimpleNamespace(name="shapes", task=task, target=TARGET[task]),
        training=SimpleNamespace(random_state=3),
    )
    record = SimpleNamespace(
        evaluation=SimpleNamespace(
            model_name=name, challenger_version="2", champion_version="1", already_champion=False
        ),
        report=report,
    )
    models = {"2": challenger, "1": champion}
    check = {"window": WINDOW, "partitions": {}, "content_hash": HASH}
    result = record_card(mlflow_client, lake, cfg, check, record, holdout=holdout, load_model=lambda _n, v: models[v])

    assert result.key == "reports/promotion/shapes/ds=2026-05-11/card_v2.html"
    page = (tmp_path / "lake" / result.key).read_text()
    assert result.uri.endswith(result.key) and "data:image/png;base64," in page
    logged = {f.path for f in mlflow_client.list_artifacts(run_id, "evaluation/card_v2")}
    names = {"classification": ["precision_recall", "roc"], "regression": ["residuals"]}[task]
    assert logged == {
        f"evaluation/card_v2/{n}.png" for n in [*names, "calibration", "permutation_importance", "segments"]
    }
    assert "evaluation/card_v2.html" in {f.path for f in mlflow_client.list_artifacts(run_id, "evaluation")}
    local = mlflow_client.download_artifacts(run_id, "evaluation/card_v2.html", str(tmp_path))
    assert open(local, encoding="utf-8").read() == page
    png = mlflow_client.download_artifacts(run_id, "evaluation/card_v2/calibration.png", str(tmp_path))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    description = mlflow_client.get_model_version(name, "2").description
    assert description == describe(report) and len(description.split("\n")) == 2
    assert set(result.seconds) >= {"drawing the card", "logging the card to MLflow", "writing the card to the lake"}

    # a re-run after version 2 became champion keeps the card and the description it was evaluated with
    replay = SimpleNamespace(
        evaluation=SimpleNamespace(**{**vars(record.evaluation), "already_champion": True}),
        report={**report, "decision": {**report["decision"], "reason": "already champion"}},
    )
    kept = record_card(mlflow_client, lake, cfg, check, replay, holdout=holdout, load_model=lambda _n, v: models[v])
    assert kept.kept and kept.key == result.key and kept.artifacts == []
    assert (tmp_path / "lake" / result.key).read_text() == page
    assert mlflow_client.get_model_version(name, "2").description == description


def test_a_failing_step_is_named(tmp_path, mlflow_client):
    holdout, challenger, _, report = _evaluated("regression")
    cfg = SimpleNamespace(
        dataset=SimpleNamespace(name="shapes", task="regression", target="price"),
        training=SimpleNamespace(random_state=0),
    )
    record = SimpleNamespace(
        evaluation=SimpleNamespace(
            model_name="m", challenger_version="2", champion_version="1", already_champion=False
        ),
        report=report,
    )

    def load(_name, version):
        if version == "1":
            raise OSError("artifact store unreachable")
        return challenger

    with pytest.raises(CardFailed, match="loading champion version 1 failed: OSError: artifact store unreachable"):
        record_card(
            mlflow_client,
            Lake.at(str(tmp_path)),
            cfg,
            {"window": WINDOW, "partitions": {}},
            record,
            holdout=holdout,
            load_model=load,
        )
    assert not (tmp_path / "reports").exists()


def test_log_card_without_a_run_only_describes_the_version(mlflow_client):
    holdout, challenger, champion, report = _evaluated("classification")
    name = report["model_name"]
    mlflow_client.create_registered_model(name)
    mlflow_client.create_model_version(name, "file:///nowhere/model")
    mlflow_client.create_model_version(name, "file:///nowhere/model")
    card = build_card(
        task="classification", target="bought", holdout=holdout, challenger=challenger, champion=champion, report=report
    )
    assert log_card(mlflow_client, name, None, card) == []
    assert mlflow_client.get_model_version(name, "2").description == card.description
