"""Assets the DAGs produce, defined once per pipeline. `x-` URI schemes skip provider URI normalizers (which
import boto3). The main pipeline's keep their plain names; a folder pipeline's are suffixed ``__<name>``
(``mlops_pipelines``)."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

from include.mlops.core.pipelines import Pipeline

MAIN = Pipeline()


def curated_batch(p: Pipeline = MAIN) -> Asset:
    return Asset(name=p.asset_name("mlops_curated_batch"), uri=_uri(p, "lake/curated"), group="mlops")


def champion_model(p: Pipeline = MAIN) -> Asset:
    return Asset(name=p.asset_name("mlops_champion_model"), uri=_uri(p, "registry/champion"), group="mlops")


def predictions(p: Pipeline = MAIN) -> Asset:
    return Asset(name=p.asset_name("mlops_predictions"), uri=_uri(p, "lake/predictions"), group="mlops")


def champion_moves(p: Pipeline = MAIN) -> AssetAlias:
    """The outlet of the tasks that may move the champion: they add a ``champion_model`` event to it only when
    it moved."""
    return AssetAlias(name=p.asset_name("mlops_champion_moves"), group="mlops")


def _uri(p: Pipeline, path: str) -> str:
    return f"x-mlops://{path}" if p.name is None else f"x-mlops://{p.name}/{path}"


CURATED_BATCH = curated_batch()
CHAMPION_MODEL = champion_model()
PREDICTIONS = predictions()
CHAMPION_MOVES = champion_moves()
