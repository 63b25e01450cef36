#!/usr/bin/env bash
# Runs once, when the docker-compose database is first initialized (/docker-entrypoint-initdb.d): creates the
# gateway's roles (scripts/db-roles.sql) with the gateway's password from SRG_GATEWAY_PASSWORD.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v gateway_password="${SRG_GATEWAY_PASSWORD:?SRG_GATEWAY_PASSWORD must be set}" -f /srg/db-roles.sql
