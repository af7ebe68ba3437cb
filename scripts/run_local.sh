#!/usr/bin/env bash
# `make run`: the embedded default stack on one machine, no Docker.
#   Airflow standalone (SQLite metadata, home in .airflow/), an MLflow tracking server (SQLite store,
#   local artifacts in .mlflow/), the lake in data/lake. Seeds demo data, unpauses the DAGs, prints
#   the URLs and the login. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
export PATH="$BIN:$PATH"   # airflow standalone starts its components as `airflow ...` subprocesses
AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
SEED_DAYS=${SEED_DAYS:-35}

export AIRFLOW_HOME="$ROOT/.airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="http://localhost:$AIRFLOW_PORT"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"   # user admin with role admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"  # generated, git-ignored
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export PYTHONPATH="$ROOT:$ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW_CONN_MLFLOW_DEFAULT="{\"conn_type\": \"http\", \"host\": \"http://127.0.0.1:$MLFLOW_PORT\"}"
# MLflow 3's job runner (huey workers, /dev/shm folders) serves nothing this project uses
export MLFLOW_ENABLE_TELEMETRY=false GIT_PYTHON_REFRESH=quiet MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
mkdir -p "$AIRFLOW_HOME" "$ROOT/.mlflow/artifacts" "$ROOT/logs"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do   # up to 10 s for a graceful stop, then SIGKILL what is left
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  echo "stopped."
  exit 0
}
trap cleanup INT TERM EXIT

wait_for() {  # wait_for URL SECONDS NAME
  local url=$1 limit=$2 name=$3 waited=0
  until curl -fs -o /dev/null "$url"; do
    sleep 2; waited=$((waited + 2))
    if [ "$waited" -ge "$limit" ]; then echo "$name did not come up within ${limit}s; see logs/" >&2; exit 1; fi
  done
}

echo "==> MLflow tracking server on :$MLFLOW_PORT (logs/mlflow.log)"
setsid "$BIN/mlflow" server --backend-store-uri "sqlite:///$ROOT/.mlflow/mlflow.db" \
  --artifacts-destination "$ROOT/.mlflow/artifacts" --serve-artifacts \
  --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 >"$ROOT/logs/mlflow.log" 2>&1 &
pids+=($!)

echo "==> Airflow metadata database (SQLite in .airflow/)"
"$BIN/airflow" db migrate >"$ROOT/logs/airflow-migrate.log" 2>&1
"$BIN/airflow" pools set mlops_promotion 1 "Serializes champion promotions (compare-and-set on the alias)" >/dev/null

echo "==> Seeding $SEED_DAYS days of demo data into data/lake (skips days already curated)"
"$BIN/python" -m include.mlops.cli seed --days "$SEED_DAYS" | tail -n 1

echo "==> Airflow standalone on :$AIRFLOW_PORT (logs/airflow.log)"
setsid "$BIN/airflow" standalone >"$ROOT/logs/airflow.log" 2>&1 &
pids+=($!)

wait_for "http://127.0.0.1:$MLFLOW_PORT/health" 120 "MLflow"
wait_for "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" 240 "Airflow"
for dag in ingest_and_validate train_and_promote drift_monitor; do
  for _ in $(seq 1 60); do
    "$BIN/airflow" dags unpause "$dag" >/dev/null 2>&1 && break
    sleep 3
  done
done

PASSWORD=$("$BIN/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
cat <<MSG

  Airflow UI      http://localhost:$AIRFLOW_PORT   login: admin / $PASSWORD (random, kept in .airflow/passwords.json)
  MLflow UI       http://localhost:$MLFLOW_PORT
  Lake            $ROOT/data/lake
  Logs            $ROOT/logs/ (services), $AIRFLOW_HOME/logs/ (task logs)
  REST token      curl -s -X POST http://localhost:$AIRFLOW_PORT/auth/token \\
                    -H 'Content-Type: application/json' -d '{"username":"admin","password":"$PASSWORD"}'

  DAGs ingest_and_validate, train_and_promote and drift_monitor are unpaused (rollback_champion is manual).
  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "a service exited; see logs/" >&2
