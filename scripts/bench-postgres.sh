#!/usr/bin/env bash
# A throwaway PostgreSQL server for benchmarks whose memory is sized for their working set, beside the machine's
# own server (which keeps its settings: CI and the tests use it). At 200,000 chunks the vectors alone are ~1.3 GB
# in the heap and as much in the HNSW indexes, against the 128 MB of shared buffers a default server has; every
# page a search reads then comes from the OS page cache (docs/BENCHMARKS.md, "Server memory"). Run as the
# `postgres` OS user (PostgreSQL refuses root), with pgvector installed first and the roles of
# scripts/db-roles.sql created. Idempotent: start on a running server only checks it.
#
# Usage: scripts/bench-postgres.sh start|stop|status|url|destroy [--help]
#   start    install pgvector when missing, create the data directory on first use, start the server and
#            create the roles; prints the owner URL to pass to a benchmark's --url
#   stop     stop the server (data kept)
#   status   whether it answers, and its memory settings
#   url      print the owner URL of database BENCH_PG_DB on this server
#   destroy  stop it and delete BENCH_PG_DIR (only a directory this script created)
# Env:
#   BENCH_PG_DIR              data and log (default /tmp/srg-bench-postgres)
#   BENCH_PG_PORT             port (default 5450)
#   BENCH_PG_DB               database name `url` prints (default srg_bench; the benchmark creates it)
#   BENCH_PG_SHARED_BUFFERS   shared_buffers (default 4GB; applied on every start)
#   PG_MAJOR                  server version (default: newest under /usr/lib/postgresql)
# Every other setting is the machine server's as found here (autovacuum off, max_connections 100), so that a run
# against this server differs from one against the machine's only by its memory.
set -euo pipefail

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
cmd="${1:-}"
case "${cmd}" in
  --help | -h | help) usage; exit 0 ;;
  start | stop | status | url | destroy) ;;
  *) usage >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)}"
BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
DIR="${BENCH_PG_DIR:-/tmp/srg-bench-postgres}"
PORT="${BENCH_PG_PORT:-5450}"
DB="${BENCH_PG_DB:-srg_bench}"
SHARED_BUFFERS="${BENCH_PG_SHARED_BUFFERS:-4GB}"
DATA="${DIR}/data"
MARK="${DIR}/.srg-bench-postgres"

[[ "${PORT}" =~ ^[0-9]+$ ]] || { echo "bench-postgres: BENCH_PG_PORT must be a number" >&2; exit 2; }
[[ "${DB}" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "bench-postgres: BENCH_PG_DB must be a plain identifier" >&2; exit 2; }
[[ "${SHARED_BUFFERS}" =~ ^[0-9]+(kB|MB|GB)$ ]] || {
  echo "bench-postgres: BENCH_PG_SHARED_BUFFERS must look like 4GB or 512MB" >&2
  exit 2
}

if [ "${cmd}" = "url" ]; then
  echo "postgres://postgres@127.0.0.1:${PORT}/${DB}"
  exit 0
fi

as_pg() {
  if [ "$(id -un)" = "postgres" ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
running() { [ -f "${DATA}/PG_VERSION" ] && as_pg "${BIN}/pg_ctl" -D "${DATA}" status >/dev/null 2>&1; }
psql_srv() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${PORT}" -U postgres "$@"; }

case "${cmd}" in
  stop)
    if running; then as_pg "${BIN}/pg_ctl" -D "${DATA}" -m fast -w stop >/dev/null; echo "bench-postgres: stopped (${PORT})"; fi
    exit 0
    ;;
  destroy)
    if running; then as_pg "${BIN}/pg_ctl" -D "${DATA}" -m fast -w stop >/dev/null; fi
    if [ -d "${DIR}" ]; then
      if [ -f "${MARK}" ]; then rm -rf "${DIR}"; echo "bench-postgres: removed ${DIR}"; else
        echo "bench-postgres: ${DIR} was not created by this script; left alone" >&2
        exit 1
      fi
    fi
    exit 0
    ;;
  status)
    if pg_isready -q -h 127.0.0.1 -p "${PORT}"; then
      echo "up on 127.0.0.1:${PORT}"
      psql_srv -d postgres -Atc "SELECT name || ' = ' || current_setting(name) FROM unnest(ARRAY['shared_buffers','effective_cache_size','work_mem','autovacuum']) name"
    else
      echo "down (127.0.0.1:${PORT})"
    fi
    exit 0
    ;;
esac

# start
bash "${ROOT}/scripts/install-pgvector.sh" "${PG_MAJOR}"
if [ -d "${DIR}" ] && [ ! -f "${MARK}" ]; then
  echo "bench-postgres: ${DIR} exists and was not created by this script; set BENCH_PG_DIR" >&2
  exit 1
fi
mkdir -p "${DIR}"
touch "${MARK}"
chown postgres:postgres "${DIR}"
if [ ! -f "${DATA}/PG_VERSION" ]; then
  as_pg "${BIN}/initdb" -D "${DATA}" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"${DATA}/postgresql.conf" <<CONF
# support-rag-gateway benchmark server (scripts/bench-postgres.sh)
port = ${PORT}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${DIR}'
max_connections = 100
autovacuum = off
max_wal_size = 1GB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
include_if_exists = 'memory.conf'
CONF
  echo "bench-postgres: initialized ${DATA}"
fi
# Memory is rewritten on every start, so a second start with another size takes effect (after a stop).
as_pg tee "${DATA}/memory.conf" >/dev/null <<CONF
shared_buffers = ${SHARED_BUFFERS}
CONF
if ! running; then
  as_pg "${BIN}/pg_ctl" -D "${DATA}" -l "${DIR}/server.log" -w -t 120 start >/dev/null
  echo "bench-postgres: started on 127.0.0.1:${PORT}"
fi
bash "${ROOT}/scripts/create-db-roles.sh" "postgres://postgres@127.0.0.1:${PORT}/postgres" >/dev/null
echo "bench-postgres: shared_buffers = $(psql_srv -d postgres -Atc 'SHOW shared_buffers'); url postgres://postgres@127.0.0.1:${PORT}/${DB}"
