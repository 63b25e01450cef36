#!/usr/bin/env bash
# Creates (or re-asserts) the database roles srg_owner, srg_gateway and srg_content_manager, idempotently. See scripts/db-roles.sql.
# Usage: scripts/create-db-roles.sh [superuser connection URL]   (default: postgres://postgres@127.0.0.1:5432/postgres)
# Passwords: SRG_OWNER_PASSWORD / SRG_GATEWAY_PASSWORD, when set.
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:-postgres://postgres@127.0.0.1:5432/postgres}"
args=(-v ON_ERROR_STOP=1 -q)
[[ -n "${SRG_OWNER_PASSWORD:-}" ]] && args+=(-v "owner_password=${SRG_OWNER_PASSWORD}")
[[ -n "${SRG_GATEWAY_PASSWORD:-}" ]] && args+=(-v "gateway_password=${SRG_GATEWAY_PASSWORD}")
psql "$url" "${args[@]}" -f scripts/db-roles.sql
psql "$url" -Atq -c "SELECT rolname || ': super=' || rolsuper || ' inherit=' || rolinherit || ' bypassrls=' || rolbypassrls || ' login=' || rolcanlogin FROM pg_roles WHERE rolname IN ('srg_owner', 'srg_gateway', 'srg_content_manager') ORDER BY 1"
