import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Tenant isolation in the database itself: row-level security on every tenant table, read by a gateway role that
 * does not own the tables. Application code keeps its explicit `merchant_id` / ACL filters (they drive the
 * indexes); the policies are the second wall, so a query that forgets every filter still returns only the rows
 * the caller may read.
 *
 * Each request's transaction first sets (transaction-locally, `set_config(..., true)`, see src/db/session.ts):
 *   app.merchant_id     the caller's merchant
 *   app.principals      the caller's principals, as a text[] literal
 *   app.manage_content  'on' for content managers (the ingest roles), who see and write all their merchant's
 *                       documents, tickets, orders and chunks, including those with an empty ACL
 * Unset (or '' after an earlier transaction: current_setting(…, true) then returns '', not NULL) means no
 * merchant, no principals, no management: no rows. Deny by default.
 *
 * The owner (who runs this migration) bypasses the policies, as owners do without FORCE ROW LEVEL SECURITY:
 * migrations and admin jobs (provisioning, seed, load, re-embedding) run as the owner.
 *
 * The policies call the setting readers inside scalar subqueries, `(SELECT app_merchant_id())`, so they are
 * evaluated once per statement (an InitPlan) instead of once per row, and `merchant_id = (SELECT …)` can still be
 * an index condition.
 */
export const GATEWAY_ROLE = 'srg_gateway';

const CONTENT_TABLES = ['support_documents', 'tickets', 'document_chunks'] as const;
const OTHER_TABLES = ['merchants', 'corpus_versions', 'merchant_vector_indexes', 'orders'] as const;

export class RowLevelSecurity1764100000000 implements MigrationInterface {
  name = 'RowLevelSecurity1764100000000';

  async up(q: QueryRunner): Promise<void> {
    // The role is normally created beforehand (scripts/db-roles.sql, LOGIN); the embedded database and a
    // migrator allowed to create roles get a NOLOGIN one here, which the gateway enters with SET LOCAL ROLE.
    await q.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${GATEWAY_ROLE}') THEN
          BEGIN
            CREATE ROLE ${GATEWAY_ROLE} NOLOGIN NOINHERIT;
          EXCEPTION
            WHEN duplicate_object THEN NULL; -- created concurrently (roles are cluster-wide)
            WHEN insufficient_privilege THEN
              RAISE EXCEPTION 'role ${GATEWAY_ROLE} does not exist and the migrating role may not create it'
                USING HINT = 'Create the database roles first: psql -f scripts/db-roles.sql (see README, "Database roles")';
          END;
        END IF;
        -- A single-URL setup connects for requests as the migrating role, which must be able to enter the gateway
        -- role (SET LOCAL ROLE per request transaction). Superusers always can.
        IF NOT pg_has_role(current_user, '${GATEWAY_ROLE}', 'MEMBER') THEN
          BEGIN
            GRANT ${GATEWAY_ROLE} TO CURRENT_USER;
          EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'could not grant ${GATEWAY_ROLE} to %: give requests their own DATABASE_URL as ${GATEWAY_ROLE}', current_user;
          END;
        END IF;
      END $$`);

    await q.query(`
      CREATE FUNCTION app_merchant_id() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('app.merchant_id', true), '') $$`);
    await q.query(`
      CREATE FUNCTION app_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[]) $$`);
    await q.query(`
      CREATE FUNCTION app_manages_content() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT coalesce(nullif(current_setting('app.manage_content', true), '')::boolean, false) $$`);

    const merchant = `(SELECT app_merchant_id())`;
    const manages = `(SELECT app_manages_content())`;
    const principals = `(SELECT app_principals())`;

    for (const table of [...OTHER_TABLES, ...CONTENT_TABLES]) {
      await q.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
    }

    // merchants: a caller sees its own merchant row. Ingestion and management lock it FOR SHARE to serialize
    // with a model switch, which takes UPDATE privilege and passes the UPDATE policy: content managers only.
    await q.query(`CREATE POLICY merchants_read ON merchants FOR SELECT USING (id = ${merchant})`);
    await q.query(`
      CREATE POLICY merchants_lock ON merchants FOR UPDATE
        USING (id = ${merchant} AND ${manages}) WITH CHECK (id = ${merchant} AND ${manages})`);

    // corpus_versions: read by retrieval and ingestion; only the owner's re-embedding job writes them.
    await q.query(
      `CREATE POLICY corpus_versions_read ON corpus_versions FOR SELECT USING (merchant_id = ${merchant})`,
    );

    // merchant_vector_indexes: retrieval looks up its merchant's dedicated HNSW index; the owner's index
    // maintenance writes it.
    await q.query(
      `CREATE POLICY merchant_vector_indexes_read ON merchant_vector_indexes FOR SELECT USING (merchant_id = ${merchant})`,
    );

    // orders carry no ACL: the merchant's agents read them (agentContext), content managers write them.
    await q.query(`CREATE POLICY orders_read ON orders FOR SELECT USING (merchant_id = ${merchant})`);
    await q.query(`
      CREATE POLICY orders_manage ON orders FOR ALL
        USING (merchant_id = ${merchant} AND ${manages}) WITH CHECK (merchant_id = ${merchant} AND ${manages})`);

    // Documents, tickets and chunks: readable when the ACL overlaps the caller's principals; content managers
    // read and write all of their merchant's (what src/auth/permissions.ts grants them). Writes can never
    // leave the merchant (WITH CHECK). Permissive policies are OR-ed: SELECT = read OR manage.
    for (const table of CONTENT_TABLES) {
      await q.query(`
        CREATE POLICY ${table}_read ON ${table} FOR SELECT
          USING (merchant_id = ${merchant} AND acl && ${principals})`);
      await q.query(`
        CREATE POLICY ${table}_manage ON ${table} FOR ALL
          USING (merchant_id = ${merchant} AND ${manages}) WITH CHECK (merchant_id = ${merchant} AND ${manages})`);
    }

    // Only the DML the gateway issues. FOR SHARE on merchants needs UPDATE on some column: one is enough.
    await q.query(`GRANT USAGE ON SCHEMA public TO ${GATEWAY_ROLE}`);
    await q.query(`GRANT SELECT, UPDATE (updated_at) ON merchants TO ${GATEWAY_ROLE}`);
    await q.query(`GRANT SELECT ON corpus_versions, merchant_vector_indexes TO ${GATEWAY_ROLE}`);
    await q.query(`GRANT SELECT, INSERT, UPDATE ON orders TO ${GATEWAY_ROLE}`);
    await q.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON support_documents, tickets, document_chunks TO ${GATEWAY_ROLE}`,
    );
    await q.query(`GRANT USAGE ON SEQUENCE document_chunks_id_seq TO ${GATEWAY_ROLE}`);
    await q.query(
      `GRANT EXECUTE ON FUNCTION app_merchant_id(), app_principals(), app_manages_content() TO ${GATEWAY_ROLE}`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `REVOKE ALL ON merchants, corpus_versions, merchant_vector_indexes, orders FROM ${GATEWAY_ROLE}`,
    );
    await q.query(`REVOKE ALL ON support_documents, tickets, document_chunks FROM ${GATEWAY_ROLE}`);
    await q.query(`REVOKE ALL ON SEQUENCE document_chunks_id_seq FROM ${GATEWAY_ROLE}`);
    await q.query(`REVOKE USAGE ON SCHEMA public FROM ${GATEWAY_ROLE}`);
    for (const table of CONTENT_TABLES) {
      await q.query(`DROP POLICY ${table}_read ON ${table}`);
      await q.query(`DROP POLICY ${table}_manage ON ${table}`);
    }
    await q.query(`DROP POLICY orders_read ON orders`);
    await q.query(`DROP POLICY orders_manage ON orders`);
    await q.query(`DROP POLICY corpus_versions_read ON corpus_versions`);
    await q.query(`DROP POLICY merchant_vector_indexes_read ON merchant_vector_indexes`);
    await q.query(`DROP POLICY merchants_read ON merchants`);
    await q.query(`DROP POLICY merchants_lock ON merchants`);
    for (const table of [...OTHER_TABLES, ...CONTENT_TABLES]) {
      await q.query(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`);
    }
    await q.query(`DROP FUNCTION app_merchant_id()`);
    await q.query(`DROP FUNCTION app_principals()`);
    await q.query(`DROP FUNCTION app_manages_content()`);
    // The role itself stays: roles are cluster-wide and may hold privileges in other databases.
  }
}
