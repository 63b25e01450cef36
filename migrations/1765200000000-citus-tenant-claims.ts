import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Signed tenant claims (migration 1764200000000) on a Citus cluster. Without the `citus` extension this migration
 * does nothing: one PostgreSQL and PGlite keep the claims exactly as they are.
 *
 * The row-level security policies are evaluated on the workers, in the backends Citus opens there for the
 * request's backend on the coordinator. Two things of the single-node claim do not hold there:
 *
 * - The binding. A claim is bound to `app_claim_binding()`, the backend pid on one node: a worker's backend has
 *   another pid, so every claim was refused on the workers. On Citus the binding is the global pid,
 *   `citus_backend_gpid()`: the coordinator's backend gets node id × 10^10 + its pid, and Citus hands it to every
 *   worker connection it opens for that backend (in the connection's application_name), so the coordinator and the
 *   workers of one request see the same value and any other connection another one. Because any client may put a
 *   gpid in its own application_name, the binding is only honoured on the node the gpid names when that node's
 *   backend really has the gpid's pid (a spoofing connection on the coordinator has another pid); on the other
 *   nodes it relies on the workers accepting the request roles from the coordinator only (docs/SCALE-OUT.md,
 *   "Roles on every node").
 * - The key table. `tenant_claim_keys` is a reference table (migration 1764900000000: it has no merchant), with a
 *   copy on every node. Read by its name from inside a shard query on a worker, it would be a nested distributed
 *   query, which Citus refuses ("cannot execute a distributed query from a query on a shard"). The verifier reads
 *   the node's own copy (the reference table's single shard, present on every node including the coordinator, and
 *   whose id never changes) instead. It stays readable only by its owner: the shard has the table's RLS and no
 *   grants, and the verifier is SECURITY DEFINER.
 *
 * The functions are propagated by Citus to every node (CREATE OR REPLACE FUNCTION on the coordinator), and to
 * nodes added later with the other distributed objects.
 */
export class CitusTenantClaims1765200000000 implements MigrationInterface {
  name = 'CitusTenantClaims1765200000000';

  async up(q: QueryRunner): Promise<void> {
    if (!(await hasCitus(q))) return;
    const shard = await keyShard(q);
    await q.query(`
      CREATE OR REPLACE FUNCTION app_claim_binding() RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
        SET search_path = pg_catalog, pg_temp
      AS $$
        SELECT CASE WHEN citus_pid_for_gpid(g) = pg_backend_pid()
                      OR citus_nodeid_for_gpid(g) IS DISTINCT FROM (
                           SELECT n.nodeid FROM pg_dist_node n
                            WHERE n.groupid = (SELECT l.groupid FROM pg_dist_local_group l) AND n.noderole = 'primary'
                            LIMIT 1)
                    THEN g::text END
          FROM (SELECT citus_backend_gpid() AS g) s
      $$`);
    await q.query(await verifierReading(q, shard));
  }

  async down(q: QueryRunner): Promise<void> {
    if (!(await hasCitus(q))) return;
    await q.query(await verifierReading(q, 'tenant_claim_keys'));
    await q.query(`
      CREATE OR REPLACE FUNCTION app_claim_binding() RETURNS text
        LANGUAGE sql STABLE SECURITY INVOKER PARALLEL RESTRICTED
        RESET search_path
      AS $$ SELECT pg_backend_pid()::text $$`);
  }
}

async function hasCitus(q: QueryRunner): Promise<boolean> {
  const rows = (await q.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)) as unknown[];
  return rows.length > 0;
}

/** The name of the single shard of the reference table tenant_claim_keys (the same on every node). */
async function keyShard(q: QueryRunner): Promise<string> {
  const rows = (await q.query(
    `SELECT shard_name('tenant_claim_keys'::regclass, s.shardid) AS name
       FROM pg_dist_shard s JOIN pg_dist_partition p USING (logicalrelid)
      WHERE s.logicalrelid = 'tenant_claim_keys'::regclass AND p.partmethod = 'n'`,
  )) as { name: string }[];
  if (rows.length !== 1) throw new Error('tenant_claim_keys is not a Citus reference table');
  const name = rows[0].name.replace(/^public\./, '');
  if (!/^tenant_claim_keys_\d+$/.test(name)) throw new Error(`unexpected shard name ${rows[0].name}`);
  return name;
}

/**
 * app_verified_capability() as it is now, reading the key from `table` (the reference table's shard, or the table
 * itself). Rewritten from its current definition rather than restated, so the verifier's logic has one source.
 */
async function verifierReading(q: QueryRunner, table: string): Promise<string> {
  const rows = (await q.query(
    `SELECT pg_get_functiondef('public.app_verified_capability()'::regprocedure) AS def`,
  )) as { def: string }[];
  const def = rows[0].def;
  const rewritten = def.replace(/\bpublic\.tenant_claim_keys(?:_\d+)?\b/g, `public.${table}`);
  if (!rewritten.includes(`public.${table}`))
    throw new Error('app_verified_capability() does not read public.tenant_claim_keys');
  return rewritten;
}
