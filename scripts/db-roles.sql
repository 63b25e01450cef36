-- The two database roles of support-rag-gateway. Idempotent; run as a superuser (or a role with CREATEROLE):
--   psql "postgres://postgres@host:5432/postgres" -v ON_ERROR_STOP=1 -f scripts/db-roles.sql
-- Optional passwords: add -v owner_password=... -v gateway_password=... (left unchanged when not given).
--
--   srg_owner    owns the tables and runs migrations and admin jobs (seed, load, reembed): MIGRATION_DATABASE_URL.
--                Owners are not subject to the row-level security policies.
--   srg_gateway  what the gateway connects as for requests: DATABASE_URL. Not a superuser, owns nothing, cannot
--                bypass row-level security, inherits nothing (NOINHERIT); readers' transactions run as it (SELECT
--                only, granted by the migrations).
--   srg_content_manager  no login; the gateway enters it (SET LOCAL ROLE) for content managers' transactions:
--                their merchant's content including empty-ACL, and the writes ingestion and management issue.
DO $$
BEGIN
  BEGIN
    CREATE ROLE srg_owner LOGIN;
  EXCEPTION WHEN duplicate_object THEN NULL;
  END;
  BEGIN
    CREATE ROLE srg_gateway LOGIN NOINHERIT;
  EXCEPTION WHEN duplicate_object THEN NULL;
  END;
  BEGIN
    CREATE ROLE srg_content_manager NOLOGIN NOINHERIT;
  EXCEPTION WHEN duplicate_object THEN NULL;
  END;
END
$$;
-- Re-asserted every run, so a role created earlier with other attributes is brought into line.
ALTER ROLE srg_owner LOGIN NOSUPERUSER NOBYPASSRLS NOREPLICATION;
ALTER ROLE srg_gateway LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
ALTER ROLE srg_content_manager NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
-- On a Citus node (citus preloaded) srg_content_manager must be able to log in: Citus opens its connections to the
-- workers as the current role, SET ROLE included, so a content manager's transaction reaches the shards as
-- srg_content_manager. It has no password: the workers accept it only through the cluster's own authentication
-- (pg_dist_authinfo, certificates, or pg_hba for the coordinator's address; docs/SCALE-OUT.md).
DO $$
DECLARE preload text;
BEGIN
  BEGIN
    preload := current_setting('shared_preload_libraries');
  EXCEPTION WHEN insufficient_privilege THEN preload := '';
  END;
  IF preload ~ '(^|[ ,])citus([ ,]|$)' THEN
    ALTER ROLE srg_content_manager LOGIN;
  ELSE
    ALTER ROLE srg_content_manager NOLOGIN;
  END IF;
END
$$;
-- The gateway's login enters the content-manager role per transaction; NOINHERIT: it gets none of its privileges
-- otherwise.
GRANT srg_content_manager TO srg_gateway;
-- Lets the owner enter the gateway role (SET ROLE srg_gateway), which the gateway does in every request transaction
-- when it runs with a single owner connection (development); it gives srg_gateway nothing.
GRANT srg_gateway TO srg_owner;
GRANT srg_content_manager TO srg_owner;

\if :{?owner_password}
ALTER ROLE srg_owner PASSWORD :'owner_password';
\endif
\if :{?gateway_password}
ALTER ROLE srg_gateway PASSWORD :'gateway_password';
\endif
