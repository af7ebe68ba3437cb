#!/usr/bin/env bash
# The stand-in image's entrypoint (deploy/podman/airflow-base.Containerfile). Written for this project; it behaves
# like the official apache/airflow image's entrypoint in what docker-compose.yaml relies on:
#   - waits for the metadata database (`airflow db check`, CONNECTION_CHECK_MAX_COUNT tries, default 20, every
#     CONNECTION_CHECK_SLEEP_TIME seconds, default 3; 0 skips the wait), then exits 1 with the last error, so that a
#     service with `restart: always` tries again when PostgreSQL comes up late;
#   - `bash ...` and `python ...` are exec'd as they are (after the database wait);
#   - anything else is an airflow command (`scheduler`, `celery worker`, `airflow api-server`...), exec'd as
#     `airflow ...`; `scheduler` and `celery ...` first wait for the Celery broker when the executor is Celery;
#   - umask 0002, so files on shared volumes stay group-writable for gid 0.
set -euo pipefail
umask 0002

command_name="${1:-}"
max_tries="${CONNECTION_CHECK_MAX_COUNT:-20}"
sleep_seconds="${CONNECTION_CHECK_SLEEP_TIME:-3}"

retry() {
    # retry DESCRIPTION CMD...: run CMD until it succeeds, at most max_tries times
    local what="$1" tries=0 output
    shift
    until output="$("$@" 2>&1)"; do
        tries=$((tries + 1))
        if [[ ${tries} -ge ${max_tries} ]]; then
            echo "ERROR! ${what}: still failing after ${max_tries} tries; last output:" >&2
            echo "${output}" >&2
            exit 1
        fi
        echo "waiting for ${what} (${tries}/${max_tries})" >&2
        sleep "${sleep_seconds}"
    done
}

broker_reachable() {
    python - "$(airflow config get-value celery broker_url)" <<'PY'
import socket, sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
socket.create_connection((url.hostname or "localhost", url.port or 6379), timeout=5).close()
PY
}

if [[ ${max_tries} -gt 0 ]]; then
    retry "the metadata database (airflow db check)" airflow db check
fi

case "${command_name}" in
    bash) shift; exec /bin/bash "$@" ;;
    python) shift; exec python "$@" ;;
    airflow) shift; command_name="${1:-}" ;;
esac

if [[ ${command_name} =~ ^(scheduler|celery)$ && ${max_tries} -gt 0 ]] \
    && [[ "$(airflow config get-value core executor)" == "CeleryExecutor" ]]; then
    retry "the Celery broker" broker_reachable
fi

exec airflow "$@"
