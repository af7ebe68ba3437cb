"""Model: the training window (assembly, sampling, checks), candidates, training logged to MLflow, metrics
and scoring of a model, and the registry reads and registration of a trained version."""
