#!/usr/bin/env bash
# `npm run test:citus`: the end-to-end suites that matter, against the coordinator of a local Citus cluster
# (scripts/citus-cluster.sh: a coordinator and two workers; Citus is built first when missing).
#
# Usage: scripts/test-citus.sh [--help] [jest test paths...]   (default: the suites listed below)
# Env:   CITUS_TEST_DB  the test database, dropped and recreated on the cluster's three nodes (default srg_citus_test)
#        CITUS_PORT / CITUS_CLUSTER_DIR  as for scripts/citus-cluster.sh
#        CITUS_KEEP_RUNNING=1  leave the cluster running afterwards (default: stop it if this script started it)
#        CITUS_ALL_SUITES=1    also the management and persisted-query suites (not run in CI, for time)
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
export CITUS_DB="${CITUS_TEST_DB:-srg_citus_test}"
PORT="${CITUS_PORT:-5440}"

was_running=0
pg_isready -q -h 127.0.0.1 -p "${PORT}" && was_running=1
bash scripts/citus-cluster.sh recreate-db
stop_cluster() {
  if [ "${was_running}" = "0" ] && [ "${CITUS_KEEP_RUNNING:-0}" != "1" ]; then bash scripts/citus-cluster.sh stop; fi
}
trap stop_cluster EXIT

SUITES=(
  test/citus/
  test/isolation.e2e.test.ts
  test/hostile.e2e.test.ts
  test/row-level-security.test.ts
  test/leaked-gateway-credential.test.ts
  test/retrieval.e2e.test.ts
  test/retrieval-modes.e2e.test.ts
  test/retrieval-strategy.test.ts
  test/retrieval-round-trips.test.ts
  test/retrieval-calibration.test.ts
  test/ingestion.e2e.test.ts
  test/faults/sigkill-ingestion.e2e.test.ts
  test/reembed.test.ts
  test/api-keys.e2e.test.ts
)
# Also green on the cluster, left out of the default (CI) run for time (~40 s): nothing in them is Citus-specific
# beyond what the suites above cover (multi-shard admin listings, the persisted-query cache).
if [ "${CITUS_ALL_SUITES:-0}" = "1" ]; then
  SUITES+=(test/persisted-queries.e2e.test.ts test/management.e2e.test.ts)
fi
if [ "$#" -gt 0 ]; then SUITES=("$@"); fi

TEST_CITUS=1 TEST_DATABASE_URL="$(bash scripts/citus-cluster.sh url)" \
  NODE_OPTIONS=--experimental-vm-modules npx jest --runInBand "${SUITES[@]}"
