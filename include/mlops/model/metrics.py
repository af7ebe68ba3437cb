"""How a model is measured and scored: ``compute_metrics`` on one set of true values and scores, ``score`` (the
positive-class probability or the regression value, in chunks), used by training, evaluation and drift alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def compute_metrics(task: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Metrics for ``task``. ``scores`` are positive-class probabilities or regression predictions."""
    import numpy as np
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype="float64")
    if task == "regression":
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, scores))),
            "mae": float(skm.mean_absolute_error(y_true, scores)),
            "r2": float(skm.r2_score(y_true, scores)),
        }
    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "average_precision": float(skm.average_precision_score(y_true, scores)) if both else float("nan"),
        "roc_auc": float(skm.roc_auc_score(y_true, scores)) if both else float("nan"),
        "f1": float(skm.f1_score(y_true, predicted, zero_division=0)),
        "precision": float(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y_true, scores)),
    }


SCORE_CHUNK_ROWS = 250_000  # rows a model scores at once (``score``)


def score(model: Any, frame: pd.DataFrame, task: str) -> Any:
    """Positive-class probability for classification, the prediction for regression.

    A frame of more than ``SCORE_CHUNK_ROWS`` rows is scored that many rows at a time: a pipeline's preprocessing
    of the whole frame at once (float64, dense one-hot) would cost several times the frame. Rows are scored one by
    one either way, so the scores are the same."""
    import numpy as np

    if len(frame) <= SCORE_CHUNK_ROWS:
        return _score(model, frame, task)
    rows = frame.iloc if hasattr(frame, "iloc") else frame
    parts = [_score(model, rows[i : i + SCORE_CHUNK_ROWS], task) for i in range(0, len(frame), SCORE_CHUNK_ROWS)]
    return np.concatenate(parts)


def _score(model: Any, frame: pd.DataFrame, task: str) -> Any:
    if task == "classification":
        return model.predict_proba(frame)[:, 1]
    return model.predict(frame)
