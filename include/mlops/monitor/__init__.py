"""Monitor: drift of the landed features and of the scores, the realized metric once labels mature,
the retraining trigger policy, and the health samples /metrics exposes."""
