#!/usr/bin/env bash
# Runs once per node when its volume is first initialized: the gateway's roles (every node: Citus connects to the
# workers as the request's role) and pgvector beside citus in the application database.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v gateway_password="${SRG_GATEWAY_PASSWORD:?SRG_GATEWAY_PASSWORD must be set}" -f /srg/db-roles.sql
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION IF NOT EXISTS vector"
