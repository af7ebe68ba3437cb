"""The names other code refers to: the DAG ids and the promotion pool. Standard library only (DAG files import it)."""

INGEST_DAG_ID = "ingest_and_validate"
TRAINING_DAG_ID = "train_and_promote"
DRIFT_DAG_ID = "drift_monitor"
ROLLBACK_DAG_ID = "rollback_champion"
SCORE_DAG_ID = "score_batch"
SHADOW_DAG_ID = "review_shadow"
DAG_IDS = (INGEST_DAG_ID, TRAINING_DAG_ID, DRIFT_DAG_ID, ROLLBACK_DAG_ID, SCORE_DAG_ID, SHADOW_DAG_ID)

# One slot: promotions and rollbacks of the champion alias run one at a time.
PROMOTION_POOL = "mlops_promotion"
