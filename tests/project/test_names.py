"""The DAG ids and the promotion pool are named once (plugins/mlops_airflow/names.py) and used everywhere."""

from __future__ import annotations

from pathlib import Path

from mlops_airflow import names

ROOT = Path(__file__).resolve().parents[2]


NOT_A_DAG = {"pipeline_configs"}  # reports broken pipeline configs as its import error; defines no DAG


def test_every_dag_file_is_named_after_its_id_and_uses_the_constant():
    files = sorted(p.stem for p in (ROOT / "dags").glob("*.py"))
    assert sorted(names.DAG_IDS) == [f for f in files if f not in NOT_A_DAG]
    assert "DAG(" not in (ROOT / "dags" / "pipeline_configs.py").read_text()
    assert names.PROMOTION_POOL == "mlops_promotion"


def test_no_dag_or_operator_spells_the_pool_or_a_dag_id_as_code():
    for path in [*(ROOT / "dags").glob("*.py"), *(ROOT / "plugins/mlops_airflow").rglob("*.py")]:
        if path.name == "names.py":
            continue
        code = path.read_text()
        for literal in (*names.DAG_IDS, names.PROMOTION_POOL):
            assert f'"{literal}"' not in code and f"'{literal}'" not in code, (path, literal)
