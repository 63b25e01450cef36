#!/usr/bin/env bash
# A local Citus cluster for tests and benchmarks: one coordinator and two workers, each its own PostgreSQL
# cluster on a local port, run as the `postgres` OS user (PostgreSQL refuses root), with Citus preloaded and
# pgvector available, joined with citus_set_coordinator_host / citus_add_node. Idempotent: start on a running
# cluster only checks and re-joins; stop on a stopped one does nothing.
#
# Usage: scripts/citus-cluster.sh start|stop|status|url|recreate-db|destroy [--help]
#   start    install pgvector and Citus when missing (builds Citus from ../shared/vendor/citus, ~10 min), create
#            the nodes' data directories on first use, start them, create the database with the citus and vector
#            extensions and the roles of scripts/db-roles.sql on every node, and join the workers
#   stop     stop the three nodes (data kept)
#   status   which nodes answer, and the coordinator's node list
#   url      print the coordinator's owner URL (what TEST_DATABASE_URL / DATABASE_URL point at)
#   recreate-db  drop CITUS_DB on the three nodes of this cluster (only that database, only these ports), then start
#   destroy  stop and delete the data directories under CITUS_CLUSTER_DIR (only ever that directory)
# Env:
#   CITUS_CLUSTER_DIR   data and logs (default /tmp/srg-citus-cluster)
#   CITUS_PORT          coordinator port; the workers take the next two (default 5440: 5440, 5441, 5442)
#   CITUS_DB            database created on every node (default srg_citus)
#   CITUS_SHARD_COUNT   citus.shard_count for tables distributed later (default 8: few shards on 2 cores)
#   PG_MAJOR            server version (default: newest under /usr/lib/postgresql)
set -euo pipefail

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
cmd="${1:-}"
case "${cmd}" in
  --help | -h | help) usage; exit 0 ;;
  start | stop | status | url | recreate-db | destroy) ;;
  *) usage >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)}"
BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
DIR="${CITUS_CLUSTER_DIR:-/tmp/srg-citus-cluster}"
PORT="${CITUS_PORT:-5440}"
DB="${CITUS_DB:-srg_citus}"
SHARDS="${CITUS_SHARD_COUNT:-8}"
PORTS=("${PORT}" "$((PORT + 1))" "$((PORT + 2))")
NAMES=(coordinator worker1 worker2)

if [ "${cmd}" = "url" ]; then
  echo "postgres://postgres@127.0.0.1:${PORT}/${DB}"
  exit 0
fi

as_pg() {
  if [ "$(id -un)" = "postgres" ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
psql_node() { # port db sql...
  local port="$1" db="$2"
  shift 2
  PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port}" -U postgres -d "${db}" "$@"
}
running() { as_pg "${BIN}/pg_ctl" -D "$1" status >/dev/null 2>&1; }

stop_all() {
  for i in 0 1 2; do
    local data="${DIR}/${NAMES[$i]}"
    if [ -d "${data}" ] && running "${data}"; then
      as_pg "${BIN}/pg_ctl" -D "${data}" -m fast -w stop >/dev/null
      echo "citus-cluster: stopped ${NAMES[$i]} (${PORTS[$i]})"
    fi
  done
}

case "${cmd}" in
  stop) stop_all; exit 0 ;;
  destroy)
    stop_all
    if [ -d "${DIR}" ] && [ -f "${DIR}/.srg-citus-cluster" ]; then rm -rf "${DIR}"; echo "citus-cluster: removed ${DIR}"; fi
    exit 0
    ;;
  status)
    for i in 0 1 2; do
      if pg_isready -q -h 127.0.0.1 -p "${PORTS[$i]}"; then s=up; else s=down; fi
      echo "${NAMES[$i]} 127.0.0.1:${PORTS[$i]} ${s}"
    done
    psql_node "${PORT}" "${DB}" -Atc "SELECT nodename || ':' || nodeport || ' group ' || groupid || CASE WHEN isactive THEN ' active' ELSE ' inactive' END FROM pg_dist_node ORDER BY groupid" 2>/dev/null || true
    exit 0
    ;;
esac

if [ "${cmd}" = "recreate-db" ]; then
  case "${DB}" in postgres | template0 | template1) echo "citus-cluster: refusing to drop ${DB}" >&2; exit 1 ;; esac
  for i in 2 1 0; do
    if pg_isready -q -h 127.0.0.1 -p "${PORTS[$i]}"; then
      psql_node "${PORTS[$i]}" postgres -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" 2>&1 | grep -v NOTICE || true
    fi
  done
fi

# start
bash "${ROOT}/scripts/install-pgvector.sh" "${PG_MAJOR}"
bash "${ROOT}/scripts/install-citus.sh" "${PG_MAJOR}"

if [ ! -d "${DIR}" ]; then
  mkdir -p "${DIR}"
  touch "${DIR}/.srg-citus-cluster" # marks the directory as ours, for destroy
fi
chown postgres:postgres "${DIR}" 2>/dev/null || true
for i in 0 1 2; do
  data="${DIR}/${NAMES[$i]}"
  if [ ! -f "${data}/PG_VERSION" ]; then
    as_pg "${BIN}/initdb" -D "${data}" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"${data}/postgresql.conf" <<CONF
# support-rag-gateway local Citus cluster (scripts/citus-cluster.sh)
port = ${PORTS[$i]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${DIR}'
shared_preload_libraries = 'citus'
max_connections = 300
shared_buffers = 128MB
max_prepared_transactions = 100
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
citus.shard_count = ${SHARDS}
# The gateway's tenant settings are transaction-local: let Citus carry SET LOCAL to the workers it involves.
citus.propagate_set_commands = 'local'
# A worker that does not answer fails its merchants' requests within seconds (SERVICE_UNAVAILABLE), not after 30 s.
citus.node_connection_timeout = 5000
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
    echo "citus-cluster: initialized ${NAMES[$i]} in ${data}"
  fi
  if ! running "${data}"; then
    as_pg "${BIN}/pg_ctl" -D "${data}" -l "${DIR}/${NAMES[$i]}.log" -w -t 60 start >/dev/null
    echo "citus-cluster: started ${NAMES[$i]} on 127.0.0.1:${PORTS[$i]}"
  fi
done

for i in 0 1 2; do
  p="${PORTS[$i]}"
  # Roles first (cluster-wide on each node): the coordinator also propagates them, but a worker added later or
  # restarted from scratch must have them before any shard's grants refer to them.
  sed '/^\\if/,/^\\endif/d' "${ROOT}/scripts/db-roles.sql" | psql_node "${p}" postgres -f - >/dev/null
  # Recent PostgreSQL minor releases only let listed libraries be logical decoding output plugins; Citus' online
  # shard moves and splits decode through its own. Older minors have no such setting.
  if [ "$(psql_node "${p}" postgres -Atc "SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries' AND NOT 'citus' = ANY (string_to_array(replace(setting, ' ', ''), ','))")" = "1" ]; then
    psql_node "${p}" postgres -c "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'citus'" -c "SELECT pg_reload_conf()" >/dev/null
  fi
  if [ "$(psql_node "${p}" postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '${DB}'")" = "0" ]; then
    psql_node "${p}" postgres -c "CREATE DATABASE ${DB}"
  fi
  # Only when missing: on a worker that already holds the cluster's metadata, DDL (even IF NOT EXISTS) is refused.
  for ext in citus vector; do
    if [ "$(psql_node "${p}" "${DB}" -Atc "SELECT count(*) FROM pg_extension WHERE extname = '${ext}'")" = "0" ]; then
      psql_node "${p}" "${DB}" -c "CREATE EXTENSION ${ext}"
    fi
  done
done

psql_node "${PORT}" "${DB}" <<SQL >/dev/null
SELECT citus_set_coordinator_host('127.0.0.1', ${PORT});
SELECT citus_add_node('127.0.0.1', ${PORTS[1]}) WHERE NOT EXISTS (SELECT FROM pg_dist_node WHERE nodeport = ${PORTS[1]});
SELECT citus_add_node('127.0.0.1', ${PORTS[2]}) WHERE NOT EXISTS (SELECT FROM pg_dist_node WHERE nodeport = ${PORTS[2]});
SELECT citus_activate_node('127.0.0.1', nodeport) FROM pg_dist_node WHERE NOT isactive;
SQL
echo "citus-cluster: coordinator postgres://postgres@127.0.0.1:${PORT}/${DB}, workers 127.0.0.1:${PORTS[1]} and 127.0.0.1:${PORTS[2]}"
psql_node "${PORT}" "${DB}" -Atc "SELECT '  ' || nodename || ':' || nodeport || ' group ' || groupid || CASE WHEN isactive THEN ' active' ELSE ' inactive' END FROM pg_dist_node ORDER BY groupid"
