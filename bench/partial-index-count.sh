#!/usr/bin/env bash
# What every partial HNSW index on document_chunks costs the statements of every other merchant: a table shaped like
# document_chunks with 0…N merchant-dedicated partial indexes (docs/RETRIEVAL.md, "How many dedicated indexes").
set -euo pipefail
usage() {
  cat <<'EOF'
Usage: bash bench/partial-index-count.sh --server postgres://postgres@127.0.0.1:5432/postgres
                                         [--counts 0,100,300,1000] [--seconds 4]

Creates its own database srg_partial_index_bench on that server (it refuses to run when the database exists), with a
table shaped like document_chunks (merchant_id, id, acl, a 3-d vector; 2,000 merchants of 100 rows), and adds partial
HNSW indexes in the product's form (WHERE merchant_id = '…' AND vector_dims(embedding) = 3 AND id <= N), one per
merchant, up to each count of --counts. At each count pgbench times, for a merchant without an index of its own:
a lookup by (merchant_id, id) sent unprepared (planned each time, as TypeORM's and the writes' statements are), the
same prepared, and a one-row INSERT. Prints a table, writes docs/benchmarks/partial-index-count.md, and drops the
database at the end. Needs pgvector and pgbench on the server's machine.
EOF
}
SERVER=""
COUNTS="0,100,300,1000"
SECONDS_EACH=4
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --server) SERVER="$2"; shift 2 ;;
    --counts) COUNTS="$2"; shift 2 ;;
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "${SERVER}" ] || { usage >&2; exit 2; }
[[ "${COUNTS}" =~ ^[0-9]+(,[0-9]+)*$ && "${SECONDS_EACH}" =~ ^[0-9]+$ ]] || {
  echo "--counts is a comma-separated list of integers, --seconds an integer" >&2
  exit 2
}
cd "$(dirname "$0")/.."
DB=srg_partial_index_bench
if [ "$(psql "${SERVER}" -Atc "SELECT count(*) FROM pg_database WHERE datname = '${DB}'")" != 0 ]; then
  echo "refusing: database ${DB} exists (drop it yourself if it is a leftover of this script)" >&2
  exit 1
fi
psql "${SERVER}" -q -c "CREATE DATABASE ${DB}"
URL="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "${SERVER}" "${DB}")"
work="$(mktemp -d)"
trap 'rm -rf "${work}"; psql "${SERVER}" -q -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)"' EXIT

psql "${URL}" -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE chunks (merchant_id text NOT NULL, id bigint NOT NULL, acl text[] NOT NULL, embedding vector NOT NULL,
                     PRIMARY KEY (merchant_id, id));
INSERT INTO chunks
  SELECT 'm' || lpad((g % 2000)::text, 4, '0'), g, ARRAY['role-staff'], ARRAY[random(), random(), random()]::vector
    FROM generate_series(1, 200000) g;
ANALYZE chunks;
SQL
# A merchant past every count: it never has an index of its own, like the many small merchants beside the indexed ones.
echo "SELECT id FROM chunks WHERE merchant_id = 'm1999' AND id = 3999 AND acl && ARRAY['role-staff'];" >"${work}/select.sql"
echo "INSERT INTO chunks VALUES ('m1999', 1000000 + (random() * 1e9)::bigint, ARRAY['role-staff'], '[1,2,3]');" \
  >"${work}/insert.sql"
latency() {
  pgbench "${URL}" -n -M "$1" -T "${SECONDS_EACH}" -f "${work}/$2.sql" 2>/dev/null | awk '/latency average/ {print $4}'
}
rows="| partial HNSW indexes | lookup, unprepared (ms) | lookup, prepared (ms) | one-row INSERT (ms) |"$'\n'"|---:|---:|---:|---:|"
made=0
IFS=',' read -r -a counts <<<"${COUNTS}"
for n in "${counts[@]}"; do
  [ "${n}" -le 1999 ] || { echo "counts stop at 1999 (merchant m1999 keeps no index)" >&2; exit 2; }
  while [ "${made}" -lt "${n}" ]; do
    m="m$(printf %04d "${made}")"
    psql "${URL}" -q -c "CREATE INDEX ON chunks USING hnsw ((embedding::vector(3)) vector_cosine_ops)
                         WHERE merchant_id = '${m}' AND vector_dims(embedding) = 3 AND id <= 1000000"
    made=$((made + 1))
  done
  line="| ${n} | $(latency simple select) | $(latency prepared select) | $(latency prepared insert) |"
  echo "${line}"
  rows+=$'\n'"${line}"
done

{
  echo "# Partial HNSW indexes: what each costs the statements of other merchants"
  echo
  echo "\`bash bench/partial-index-count.sh --counts ${COUNTS} --seconds ${SECONDS_EACH}\` — $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$(git rev-parse --short HEAD)\`, $(psql "${URL}" -Atc 'SHOW server_version' | cut -d' ' -f1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "A table shaped like document_chunks (200,000 rows of 2,000 merchants), one partial HNSW index per merchant in the"
  echo "product's form, up to each count; pgbench, one client, a merchant without an index of its own. Average latency."
  echo
  echo "${rows}"
} >docs/benchmarks/partial-index-count.md
echo "written: docs/benchmarks/partial-index-count.md"
