"""Airflow operators and hooks for the MLOps DAGs: thin shells over ``include.mlops``.

Nothing here imports pandas, sklearn, mlflow, great_expectations or evidently at module level.
"""
