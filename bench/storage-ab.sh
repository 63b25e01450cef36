#!/usr/bin/env bash
# Exact-scan cost with vectors in the row (STORAGE MAIN, toast_tuple_target 8160) vs in TOAST (the type's default),
# on the same rows: docs/RETRIEVAL.md, "Storage".
set -euo pipefail
usage() {
  cat <<'EOF'
Usage: bash bench/storage-ab.sh --url postgres://…/srg_bench [--rounds 3] [--queries 12]

Runs on a database that `npm run bench` filled (default: its database, srg_bench). For each round it rewrites
document_chunks with VACUUM FULL under each storage (in TOAST, then in the row) and times an exact top-10 (the exact
path's shape: distances of every row of one merchant in a MATERIALIZED CTE, then a top-k sort) over the three
largest merchants, --queries query vectors taken from each merchant's own rows. Prints the median per merchant and
storage. It leaves the table as the migrations define it (in the row). It rewrites the whole table: point it only at
a benchmark database (it refuses a database without the mark `npm run bench` leaves).
EOF
}
URL=""
ROUNDS=3
QUERIES=12
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --url) URL="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --queries) QUERIES="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "${URL}" ] || { usage >&2; exit 2; }
[[ "${ROUNDS}" =~ ^[0-9]+$ && "${QUERIES}" =~ ^[0-9]+$ ]] || { echo "--rounds and --queries are integers" >&2; exit 2; }
mark="$(psql "${URL}" -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")"
case "${mark}" in
  *benchmark*) ;;
  *) echo "refusing: $(psql "${URL}" -Atc 'SELECT current_database()') is not marked as a benchmark database" >&2; exit 1 ;;
esac

sql="$(mktemp)"
trap 'rm -f "${sql}"' EXIT
{
  echo '\timing on'
  echo 'SET jit = off;'
  psql "${URL}" -At -F ' ' -c "
    WITH big AS (SELECT merchant_id, corpus_version FROM document_chunks GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 3)
    SELECT b.merchant_id, b.corpus_version, q.id FROM big b
      CROSS JOIN LATERAL (SELECT id FROM document_chunks c WHERE c.merchant_id = b.merchant_id
                           AND c.corpus_version = b.corpus_version ORDER BY id LIMIT ${QUERIES}) q" |
    while read -r merchant version id; do
      # Merchant ids of the benchmark are generated ([a-z0-9-]); the query vector is read by id.
      echo "WITH a AS MATERIALIZED (SELECT c.id, c.embedding <=> (SELECT embedding FROM document_chunks
              WHERE merchant_id = '${merchant}' AND id = ${id}) AS d
              FROM document_chunks c WHERE c.merchant_id = '${merchant}' AND c.corpus_version = ${version})
            SELECT 'merchant ${merchant}' AS m, count(*) FROM (SELECT id FROM a ORDER BY d, id LIMIT 10) t;"
    done
} >"${sql}"

measure() {
  psql "${URL}" -f "${sql}" | awk -v s="$1" '/ merchant / {m=$2} /^Time:/ && m != "" {print s, m, $2}'
}
store() {
  psql "${URL}" -q -c "ALTER TABLE document_chunks ALTER COLUMN embedding SET STORAGE $1" \
    -c "ALTER TABLE document_chunks $2" -c "VACUUM FULL document_chunks" -c "ANALYZE document_chunks"
}
for _ in $(seq 1 "${ROUNDS}"); do
  store EXTERNAL "RESET (toast_tuple_target)"
  measure toast
  store MAIN "SET (toast_tuple_target = 8160)"
  measure row
done | python3 -c '
import collections, statistics, sys
d = collections.defaultdict(list)
for line in sys.stdin:
    storage, merchant, ms = line.split()
    d[(merchant, storage)].append(float(ms))
for merchant in sorted({m for m, _ in d}):
    toast, row = statistics.median(d[(merchant, "toast")]), statistics.median(d[(merchant, "row")])
    n = len(d[(merchant, "row")])
    print(f"{merchant}: in TOAST {toast:.1f} ms, in the row {row:.1f} ms, ratio {toast / row:.2f}x (median of {n})")
'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
