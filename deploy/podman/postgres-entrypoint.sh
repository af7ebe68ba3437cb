#!/usr/bin/env bash
# deploy/podman/postgres.Containerfile's entrypoint: initialise PGDATA on first start from POSTGRES_USER /
# POSTGRES_PASSWORD / POSTGRES_DB (as the official postgres image does), then run the server as `postgres`.
set -euo pipefail
: "${POSTGRES_PASSWORD:?postgres (stand-in): set POSTGRES_PASSWORD}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-${user}}"
mkdir -p "${PGDATA}" /var/run/postgresql
chown postgres:postgres "${PGDATA}" /var/run/postgresql
chmod 0700 "${PGDATA}"
as_postgres() { runuser -u postgres -- "$@"; }
if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
    pwfile="$(mktemp)"
    printf '%s' "${POSTGRES_PASSWORD}" > "${pwfile}"
    chown postgres "${pwfile}"
    # UTF8 as the official image (en_US.utf8 there; C.UTF-8 is the locale every Debian system has): without it a
    # minimal rootfs gives SQL_ASCII, and psycopg 3 then returns bytes where SQLAlchemy expects text
    as_postgres initdb -D "${PGDATA}" -U "${user}" --pwfile="${pwfile}" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "${pwfile}"
    echo "host all all all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
    as_postgres pg_ctl -D "${PGDATA}" -o "-c listen_addresses=''" -w start >/dev/null
    if [[ "${db}" != "postgres" ]]; then
        as_postgres psql -v ON_ERROR_STOP=1 -U "${user}" -d postgres -q -c "CREATE DATABASE \"${db//\"/\"\"}\""
    fi
    as_postgres pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
    echo "postgres (stand-in): initialised ${PGDATA} for user ${user}, database ${db}"
fi
exec runuser -u postgres -- postgres -D "${PGDATA}" -c listen_addresses='*' "$@"
