#!/usr/bin/env bash
# Create (or reset the password of) the Airflow admin of the FAB auth manager, from the environment.
# Run after `airflow db migrate` (compose: the airflow-init service; tests/integration/test_team_auth.py).
#   AIRFLOW_ADMIN_USERNAME, AIRFLOW_ADMIN_PASSWORD (required), AIRFLOW_ADMIN_EMAIL (optional)
# The password is passed through the environment, never written to the repository or a file.
set -euo pipefail
: "${AIRFLOW_ADMIN_USERNAME:?set AIRFLOW_ADMIN_USERNAME}"
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD (in .env for compose)}"
if airflow users list -o json | python -c '
import json, os, sys
lines = [ln for ln in sys.stdin.read().splitlines() if ln.startswith("[")]  # log lines may come first
users = json.loads(lines[-1]) if lines else []
sys.exit(0 if any(u.get("username") == os.environ["AIRFLOW_ADMIN_USERNAME"] for u in users) else 1)'; then
  airflow users reset-password --username "$AIRFLOW_ADMIN_USERNAME" --password "$AIRFLOW_ADMIN_PASSWORD" >/dev/null
  echo "admin user $AIRFLOW_ADMIN_USERNAME: password set from the environment"
else
  airflow users create --username "$AIRFLOW_ADMIN_USERNAME" --password "$AIRFLOW_ADMIN_PASSWORD" --role Admin \
    --firstname Airflow --lastname Admin --email "${AIRFLOW_ADMIN_EMAIL:-$AIRFLOW_ADMIN_USERNAME@example.invalid}" >/dev/null
  echo "admin user $AIRFLOW_ADMIN_USERNAME: created (role Admin)"
fi
