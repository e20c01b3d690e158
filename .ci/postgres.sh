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

# pgvector (before the server starts: installing the dev package may upgrade and restart it),
# for the vector index (amend/store/vectors.py). Debian ships it as
# postgresql-NN-pgvector from trixie on; bookworm (PostgreSQL 15) has no binary package, so there it
# is built from Debian's own source package (trixie's, fetched and checked by apt from a private
# sources list: the system's apt configuration is left as it is) against postgresql-server-dev-NN.
if [ ! -f "/usr/share/postgresql/$version/extension/vector.control" ]; then
  echo "== installing pgvector for PostgreSQL $version"
  $SUDO apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-$version-pgvector"; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "postgresql-server-dev-$version" build-essential
    work=$(mktemp -d)
    mkdir -p "$work/lists/partial"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
      > "$work/sources.list"
    apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
                 -o "Dir::State::Lists=$work/lists")
    $SUDO apt-get "${apt_private[@]}" update -qq
    (cd "$work" && $SUDO apt-get "${apt_private[@]}" source --download-only -qq pgvector)
    tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
    src=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -1)
    $SUDO make -s -C "$src" PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" with_llvm=no
    $SUDO make -s -C "$src" PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" with_llvm=no install
    $SUDO rm -rf "$work"
  fi
fi

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
# in `public`: the store tests each work in a schema of their own (search_path), and the store
# finds the extension's schema itself. Creating an extension needs a superuser (pgvector is not
# "trusted"), so it is done here, once.
psql_admin -d "$PGDB" -c "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"
echo "== PostgreSQL $version ready: database $PGDB (pgvector), user $PGUSER_NAME, port $port"

echo "export AMEND_TEST_POSTGRES_URL=postgresql+psycopg://$PGUSER_NAME:$PGPASS@localhost:$port/$PGDB" >&3
