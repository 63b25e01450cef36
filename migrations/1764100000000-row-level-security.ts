import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Tenant isolation in the database itself: row-level security on every tenant table, read through roles that do
 * not own the tables. Application code keeps its explicit `merchant_id` / ACL filters (they drive the indexes);
 * the policies are the second wall, so a query that forgets every filter still returns only the rows the caller
 * may read.
 *
 * Two request roles, entered per transaction (`SET LOCAL ROLE`, see src/db/session.ts):
 *   srg_gateway           readers (every caller without an ingest role): SELECT only; documents, tickets and
 *                         chunks whose ACL overlaps the caller's principals. Also the login of DATABASE_URL.
 *   srg_content_manager   content managers (the ingest roles): all of their merchant's documents, tickets, orders
 *                         and chunks, including empty-ACL ones, and the writes ingestion and management issue.
 * Separate roles rather than a flag OR-ed into one policy: a reader's policy is then a plain
 * `merchant_id = … AND acl && …`, whose ACL condition the planner can serve from the ACL GIN index (an OR with a
 * "manager" flag cannot be; measured 2× on narrow readers, docs/DATABASE.md).
 *
 * Each request transaction also sets, transaction-locally (`set_config(..., true)`):
 *   app.merchant_id   the caller's merchant
 *   app.principals    the caller's principals, as a text[] literal
 * Unset (or '' after an earlier transaction: current_setting(…, true) then returns '', not NULL) means no merchant
 * and no principals: no rows. Deny by default.
 *
 * The owner (who runs this migration) bypasses the policies, as owners do without FORCE ROW LEVEL SECURITY:
 * migrations and admin jobs (provisioning, seed, load, re-embedding, index builds) run as the owner.
 *
 * The policies call the setting readers inside scalar subqueries, `(SELECT app_merchant_id())`, so they are
 * evaluated once per statement (an InitPlan) instead of once per row, and stay usable as index conditions.
 */
export const GATEWAY_ROLE = 'srg_gateway';
export const CONTENT_MANAGER_ROLE = 'srg_content_manager';

const CONTENT_TABLES = ['support_documents', 'tickets', 'document_chunks'] as const;
const OTHER_TABLES = ['merchants', 'corpus_versions', 'merchant_vector_indexes', 'orders'] as const;
const BOTH = `${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}`;

/** Creates a NOLOGIN role when it is missing and the migrator may; otherwise stops and names the script. */
const ensureRole = (role: string) => `
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    BEGIN
      CREATE ROLE ${role} NOLOGIN NOINHERIT;
    EXCEPTION
      WHEN duplicate_object THEN NULL; -- created concurrently (roles are cluster-wide)
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role ${role} does not exist and the migrating role may not create it'
          USING HINT = 'Create the database roles first: psql -f scripts/db-roles.sql (see README, "Database roles")';
    END;
  END IF;`;

/** Lets `member` SET ROLE to `role` (nothing is inherited by a NOINHERIT member). */
const ensureMember = (role: string, member: string, required: boolean) => `
  IF NOT pg_has_role(${member}, '${role}', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT ${role} TO %I', ${member});
    EXCEPTION WHEN insufficient_privilege THEN
      ${
        required
          ? `RAISE EXCEPTION 'could not grant ${role} to %', ${member}
               USING HINT = 'Create the database roles first: psql -f scripts/db-roles.sql (see README, "Database roles")';`
          : `RAISE NOTICE 'could not grant ${role} to %: give requests their own DATABASE_URL as ${GATEWAY_ROLE}', ${member};`
      }
    END;
  END IF;`;

export class RowLevelSecurity1764100000000 implements MigrationInterface {
  name = 'RowLevelSecurity1764100000000';

  async up(q: QueryRunner): Promise<void> {
    // The roles are normally created beforehand (scripts/db-roles.sql, srg_gateway with LOGIN); the embedded
    // database and a migrator allowed to create roles get NOLOGIN ones here. The gateway's login must be able to
    // enter the content-manager role; a single-URL setup connects for requests as the migrating role, which must
    // be able to enter both (superusers always can).
    await q.query(`
      DO $$ BEGIN
        ${ensureRole(GATEWAY_ROLE)}
        ${ensureRole(CONTENT_MANAGER_ROLE)}
        ${ensureMember(CONTENT_MANAGER_ROLE, `'${GATEWAY_ROLE}'`, true)}
        ${ensureMember(GATEWAY_ROLE, 'current_user', false)}
        ${ensureMember(CONTENT_MANAGER_ROLE, 'current_user', false)}
      END $$`);

    await q.query(`
      CREATE FUNCTION app_merchant_id() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('app.merchant_id', true), '') $$`);
    await q.query(`
      CREATE FUNCTION app_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[]) $$`);

    const merchant = `(SELECT app_merchant_id())`;
    const principals = `(SELECT app_principals())`;

    for (const table of [...OTHER_TABLES, ...CONTENT_TABLES]) {
      await q.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
    }

    // merchants: a caller sees its own merchant row. Ingestion and management lock it FOR SHARE to serialize
    // with a model switch, which takes UPDATE privilege and passes the UPDATE policy: content managers only.
    await q.query(`CREATE POLICY merchants_read ON merchants FOR SELECT TO ${BOTH} USING (id = ${merchant})`);
    await q.query(`
      CREATE POLICY merchants_lock ON merchants FOR UPDATE TO ${CONTENT_MANAGER_ROLE}
        USING (id = ${merchant}) WITH CHECK (id = ${merchant})`);

    // corpus_versions and merchant_vector_indexes: read by retrieval and ingestion; written only by the owner's
    // jobs (re-embedding, index maintenance).
    for (const table of ['corpus_versions', 'merchant_vector_indexes']) {
      await q.query(
        `CREATE POLICY ${table}_read ON ${table} FOR SELECT TO ${BOTH} USING (merchant_id = ${merchant})`,
      );
    }

    // orders carry no ACL: the merchant's agents read them (agentContext), content managers write them.
    await q.query(
      `CREATE POLICY orders_read ON orders FOR SELECT TO ${BOTH} USING (merchant_id = ${merchant})`,
    );
    await q.query(`
      CREATE POLICY orders_manage ON orders FOR ALL TO ${CONTENT_MANAGER_ROLE}
        USING (merchant_id = ${merchant}) WITH CHECK (merchant_id = ${merchant})`);

    // Documents, tickets and chunks: readers see those whose ACL overlaps their principals; content managers
    // read and write all of their merchant's (what src/auth/permissions.ts grants them). Writes can never leave
    // the merchant (WITH CHECK).
    for (const table of CONTENT_TABLES) {
      await q.query(`
        CREATE POLICY ${table}_read ON ${table} FOR SELECT TO ${GATEWAY_ROLE}
          USING (merchant_id = ${merchant} AND acl && ${principals})`);
      await q.query(`
        CREATE POLICY ${table}_manage ON ${table} FOR ALL TO ${CONTENT_MANAGER_ROLE}
          USING (merchant_id = ${merchant}) WITH CHECK (merchant_id = ${merchant})`);
    }

    // Only the statements each role issues. Readers only read. FOR SHARE on merchants needs UPDATE on some
    // column: one is enough.
    for (const role of [GATEWAY_ROLE, CONTENT_MANAGER_ROLE]) {
      await q.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await q.query(
        `GRANT SELECT ON merchants, corpus_versions, merchant_vector_indexes, orders, ${CONTENT_TABLES.join(', ')} TO ${role}`,
      );
      await q.query(`GRANT EXECUTE ON FUNCTION app_merchant_id(), app_principals() TO ${role}`);
    }
    await q.query(`GRANT UPDATE (updated_at) ON merchants TO ${CONTENT_MANAGER_ROLE}`);
    await q.query(`GRANT INSERT, UPDATE ON orders TO ${CONTENT_MANAGER_ROLE}`);
    await q.query(`GRANT INSERT, UPDATE, DELETE ON ${CONTENT_TABLES.join(', ')} TO ${CONTENT_MANAGER_ROLE}`);
    await q.query(`GRANT USAGE ON SEQUENCE document_chunks_id_seq TO ${CONTENT_MANAGER_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const role of [GATEWAY_ROLE, CONTENT_MANAGER_ROLE]) {
      await q.query(`REVOKE ALL ON merchants, corpus_versions, merchant_vector_indexes, orders FROM ${role}`);
      await q.query(`REVOKE ALL ON ${CONTENT_TABLES.join(', ')} FROM ${role}`);
      await q.query(`REVOKE ALL ON SEQUENCE document_chunks_id_seq FROM ${role}`);
      await q.query(`REVOKE USAGE ON SCHEMA public FROM ${role}`);
    }
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
    // The roles stay: roles are cluster-wide and may hold privileges in other databases.
  }
}
