import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Scale-out on Citus: when the database has the `citus` extension, every table holding tenant rows is distributed
 * by merchant, all co-located (one merchant's rows of every table live in the same shard group on one worker), and
 * tables without a merchant become reference tables (a copy on every node). Without the extension this migration
 * does nothing: a single PostgreSQL and the embedded PGlite keep exactly the schema they had. See
 * docs/SCALE-OUT.md for the cluster, the measurements and the operations.
 *
 * What Citus needs that a single node does not:
 * - Unique constraints include the distribution column. `document_chunks`' primary key becomes
 *   (merchant_id, id) (the identity column stays), and `merchant_vector_indexes`' index name is unique per
 *   merchant (the names come from a sequence, so they stay unique anyway).
 * - `api_keys` is read by key id before any merchant is known (authentication). Distributed by merchant, that
 *   lookup would ask every shard, and one worker down would fail every key of every merchant. It is distributed by
 *   its own `id` instead (its own co-location group): the lookup and `last_used_at` are single-shard by key id.
 *   Its foreign key to `merchants` cannot exist between differently distributed tables and is dropped; keys are
 *   deleted with their merchant by the application (no merchant deletion exists in the API today).
 * - Row-level security policies may not contain subqueries on distributed tables. The policies' scalar-subquery
 *   form `(SELECT app_merchant_id())` (an InitPlan evaluated once per statement on a single node) becomes a
 *   plain call `app_merchant_id()`: the functions are STABLE, so they still serve as index conditions. Rewritten
 *   generically from pg_policies, so policies added by later migrations are covered as well.
 * - The dimension check trigger on `document_chunks` reads `corpus_versions`. On a shard (on a worker) a query on
 *   the distributed table would be a nested distributed query, which Citus refuses; the trigger reads the
 *   co-located shard of `corpus_versions` on the same worker instead. Citus creates triggers on distributed tables
 *   only with `citus.enable_unsafe_triggers`: this one is safe because it reads only the same merchant's shard group.
 * - The request's tenant settings must reach the workers: `SET LOCAL` with `citus.propagate_set_commands =
 *   'local'`, which TenantSession issues on Citus (src/db/session.ts) — `set_config()` is not propagated. The
 *   roles are per node: scripts/db-roles.sql runs on every node (and lets srg_content_manager log in there, as
 *   Citus connects to workers as the current role).
 */
export class CitusDistribution1764900000000 implements MigrationInterface {
  name = 'CitusDistribution1764900000000';

  async up(q: QueryRunner): Promise<void> {
    if (!(await hasCitus(q))) return;

    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_pkey`);
    await q.query(
      `ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_pkey PRIMARY KEY (merchant_id, id)`,
    );
    await q.query(`ALTER TABLE merchant_vector_indexes DROP CONSTRAINT merchant_vector_indexes_name_unique`);
    await q.query(`
      ALTER TABLE merchant_vector_indexes ADD CONSTRAINT merchant_vector_indexes_name_unique
        UNIQUE (merchant_id, index_name)`);
    await q.query(`ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_merchant_id_fkey`);

    await rewritePolicies(q, 'inline');
    await q.query(CITUS_DIMENSION_CHECK);

    // Triggers on distributed tables: only this migration's transaction allows them.
    await q.query(`SET LOCAL citus.enable_unsafe_triggers = on`);
    await q.query(`SELECT create_distributed_table('merchants', 'id')`);
    for (const table of await tenantTables(q)) {
      await q.query(`SELECT create_distributed_table($1, 'merchant_id', colocate_with => 'merchants')`, [
        table,
      ]);
    }
    await q.query(`SELECT create_distributed_table('api_keys', 'id', colocate_with => 'none')`);
    for (const table of await globalTables(q)) {
      await q.query(`SELECT create_reference_table($1)`, [table]);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    if (!(await hasCitus(q))) return;
    const citusTables = await select<{ t: string }>(
      q,
      `SELECT logicalrelid::regclass::text AS t FROM pg_dist_partition ORDER BY colocationid DESC`,
    );
    for (const { t } of citusTables) {
      const still = await select<unknown>(
        q,
        `SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1::regclass`,
        [t],
      );
      if (still.length > 0) {
        await q.query(`SELECT undistribute_table($1, cascade_via_foreign_keys => true)`, [t]);
      }
    }
    await q.query(SINGLE_NODE_DIMENSION_CHECK);
    await rewritePolicies(q, 'subquery');
    await q.query(`
      ALTER TABLE api_keys ADD CONSTRAINT api_keys_merchant_id_fkey
        FOREIGN KEY (merchant_id) REFERENCES merchants(id) ON DELETE CASCADE`);
    await q.query(`ALTER TABLE merchant_vector_indexes DROP CONSTRAINT merchant_vector_indexes_name_unique`);
    await q.query(
      `ALTER TABLE merchant_vector_indexes ADD CONSTRAINT merchant_vector_indexes_name_unique UNIQUE (index_name)`,
    );
    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_pkey`);
    await q.query(`ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_pkey PRIMARY KEY (id)`);
  }
}

async function select<T>(q: QueryRunner, sql: string, params?: unknown[]): Promise<T[]> {
  return (await q.query(sql, params)) as T[];
}

async function hasCitus(q: QueryRunner): Promise<boolean> {
  const rows = await select<unknown>(q, `SELECT 1 FROM pg_extension WHERE extname = 'citus'`);
  return rows.length > 0;
}

/** The application's tables (TypeORM's own migration table stays a local table on the coordinator). */
const OWN_TABLES = `
  SELECT c.oid, c.relname::text AS relname FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
     AND c.relname <> 'schema_migrations'
     AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)`;

/**
 * Every table with a merchant_id column besides merchants and api_keys, in an order where each table's foreign
 * keys point only at tables distributed before it (Citus distributes a referencing table after its target).
 */
async function tenantTables(q: QueryRunner): Promise<string[]> {
  const rows = await select<{ relname: string; refs: string[] }>(
    q,
    `
    SELECT t.relname,
           coalesce(array_agg(DISTINCT r.relname::text) FILTER (WHERE r.relname IS NOT NULL AND r.oid <> t.oid), '{}') AS refs
      FROM (${OWN_TABLES}) t
      LEFT JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f'
      LEFT JOIN pg_class r ON r.oid = k.confrelid
     WHERE t.relname NOT IN ('merchants', 'api_keys')
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'merchant_id' AND NOT a.attisdropped)
     GROUP BY t.relname`,
  );
  const done = new Set(['merchants']);
  const ordered: string[] = [];
  let pending = rows;
  while (pending.length > 0) {
    const ready = pending
      .filter((r) => r.refs.every((ref) => done.has(ref)))
      .sort((a, b) => a.relname.localeCompare(b.relname));
    if (ready.length === 0) {
      throw new Error(
        `cannot order tables for distribution: ${pending.map((r) => `${r.relname} -> ${r.refs.join(', ')}`).join('; ')}`,
      );
    }
    for (const r of ready) {
      ordered.push(r.relname);
      done.add(r.relname);
    }
    pending = pending.filter((r) => !done.has(r.relname));
  }
  return ordered;
}

/** Tables without a merchant: global data, replicated to every node (and readable from any shard). */
async function globalTables(q: QueryRunner): Promise<string[]> {
  const rows = await select<{ relname: string }>(
    q,
    `
    SELECT t.relname FROM (${OWN_TABLES}) t
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'merchant_id' AND NOT a.attisdropped)
     ORDER BY t.relname`,
  );
  return rows.map((r) => r.relname);
}

/**
 * Rewrites the setting readers in every policy of the public schema between the single-node form
 * `(SELECT app_x())` (evaluated once per statement) and the plain call Citus accepts.
 */
async function rewritePolicies(q: QueryRunner, to: 'inline' | 'subquery'): Promise<void> {
  const policies = await select<{
    tablename: string;
    policyname: string;
    qual: string | null;
    with_check: string | null;
  }>(q, `SELECT tablename, policyname, qual, with_check FROM pg_policies WHERE schemaname = 'public'`);
  const rewrite = (expr: string | null): string | null => {
    if (expr === null) return null;
    return to === 'inline'
      ? expr.replace(/\(\s*SELECT\s+(app_\w+)\(\)(?:\s+AS\s+\w+)?\s*\)/g, '$1()')
      : expr.replace(/(?<!SELECT\s)\b(app_\w+)\(\)/g, '(SELECT $1())');
  };
  for (const p of policies) {
    const qual = rewrite(p.qual);
    const check = rewrite(p.with_check);
    if (qual === p.qual && check === p.with_check) continue;
    const clauses = [qual !== null ? `USING (${qual})` : '', check !== null ? `WITH CHECK (${check})` : ''];
    await q.query(
      `ALTER POLICY ${quoteIdent(p.policyname)} ON ${quoteIdent(p.tablename)} ${clauses.join(' ')}`,
    );
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const CITUS_DIMENSION_CHECK = `
  CREATE OR REPLACE FUNCTION document_chunks_check_dimensions() RETURNS trigger LANGUAGE plpgsql AS $fn$
  DECLARE
    expected integer;
    versions text := 'corpus_versions';
  BEGIN
    IF TG_TABLE_NAME <> 'document_chunks' THEN
      -- A shard on a worker: read the co-located corpus_versions shard of this merchant on the same worker.
      versions := shard_name('corpus_versions'::regclass,
                             get_shard_id_for_distribution_column('corpus_versions', NEW.merchant_id));
    END IF;
    EXECUTE format('SELECT dimensions FROM %s WHERE merchant_id = $1 AND version = $2', versions)
      INTO expected USING NEW.merchant_id, NEW.corpus_version;
    IF expected IS NOT NULL AND vector_dims(NEW.embedding) <> expected THEN
      RAISE EXCEPTION 'embedding has % dimensions; corpus version % of merchant % uses %',
        vector_dims(NEW.embedding), NEW.corpus_version, NEW.merchant_id, expected
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END
  $fn$`;

/** The function as migration 1763800000000 created it. */
const SINGLE_NODE_DIMENSION_CHECK = `
  CREATE OR REPLACE FUNCTION document_chunks_check_dimensions() RETURNS trigger LANGUAGE plpgsql AS $fn$
  DECLARE expected integer;
  BEGIN
    SELECT dimensions INTO expected FROM corpus_versions
     WHERE merchant_id = NEW.merchant_id AND version = NEW.corpus_version;
    IF expected IS NOT NULL AND vector_dims(NEW.embedding) <> expected THEN
      RAISE EXCEPTION 'embedding has % dimensions; corpus version % of merchant % uses %',
        vector_dims(NEW.embedding), NEW.corpus_version, NEW.merchant_id, expected
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END
  $fn$`;
