#!/usr/bin/env bash
# docker-compose.yaml's Airflow components start through this: `airflow "$@"` once the metadata database is
# migrated (airflow-init migrates it). Docker orders them after airflow-init (service_completed_successfully), but
# podman-compose on podman 4.3 cannot (deploy/podman/compose.podman.yaml), and a component started on a database
# still being migrated fails on missing tables; waiting here makes the order not matter. MLOPS_MIGRATION_WAIT:
# seconds to wait (default 600), then exit 1 so that `restart: always` tries again.
set -euo pipefail
airflow db check-migrations --migration-wait-timeout "${MLOPS_MIGRATION_WAIT:-600}"
exec airflow "$@"
