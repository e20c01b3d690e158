#!/usr/bin/env bash
# Install (Debian's postgresql package) and start a local PostgreSQL server for the store tests,
# with a user and database of their own. Prints one line on stdout, for eval:
#   export AMEND_TEST_POSTGRES_URL=postgresql+psycopg://amend:amend@localhost:5432/amend_test
# Everything else goes to stderr. Safe to run again: it reuses what is already there.
set -euo pipefail
exec 3>&1 1>&2  # stdout is for the export line only

PGUSER_NAME=${AMEND_PG_USER:-amend}
PGPASS=${AMEND_PG_PASSWORD:-amend}
PGDB=${AMEND_PG_DB:-amend_test}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
as_postgres() { if [ -z "$SUDO" ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  echo "== installing postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  $SUDO pg_createcluster "$version" main
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  echo "== starting PostgreSQL $version on port $port"
  # 3>&- : the server must not inherit the export pipe (fd 3), or the caller's $(...) would wait
  # for it to exit and never return.
  $SUDO pg_ctlcluster "$version" main start 3>&- </dev/null
fi
for _ in $(seq 30); do
  as_postgres pg_isready -q -p "$port" && break
  sleep 1
done

psql_admin() { (cd / && as_postgres psql -v ON_ERROR_STOP=1 -q -p "$port" "$@"); }
if [ -z "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$PGUSER_NAME'")" ]; then
  psql_admin -c "CREATE ROLE $PGUSER_NAME LOGIN PASSWORD '$PGPASS'"
fi
if [ -z "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$PGDB'")" ]; then
  psql_admin -c "CREATE DATABASE $PGDB OWNER $PGUSER_NAME"
fi
echo "== PostgreSQL $version ready: database $PGDB, user $PGUSER_NAME, port $port"

echo "export AMEND_TEST_POSTGRES_URL=postgresql+psycopg://$PGUSER_NAME:$PGPASS@localhost:$port/$PGDB" >&3
