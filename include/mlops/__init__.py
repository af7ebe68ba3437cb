"""Airflow-free MLOps library: simulator, lake, validation, training, evaluation, registry.

Nothing in this package imports Airflow. Heavy libraries (pandas, sklearn, mlflow, great_expectations)
are imported inside the functions that need them so that importing a module here stays cheap.
"""
