import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `vector_index_ready` (migration 1765200000001) in PL/pgSQL instead of SQL: the same query, the same answer.
 *
 * Every retrieval asks it for the merchant's registered index (src/retrieval/search-strategy.ts). As an SQL
 * function with a SET clause it is never inlined, and the SQL-function executor parses and plans its body at every
 * call: 0.28 ms a call over `SELECT 1` (pgbench, one warm session, native PostgreSQL 15), as much as the rest of
 * the retrieval's first round trip's SELECT. PL/pgSQL keeps the body's plan for the session: 0.03 ms.
 *
 * On Citus the coordinator propagates CREATE OR REPLACE FUNCTION to the workers, where the router query runs it.
 */
export class VectorIndexReadyPlpgsql1765460000000 implements MigrationInterface {
  name = 'VectorIndexReadyPlpgsql1765460000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION vector_index_ready(index_name text) RETURNS boolean
        LANGUAGE plpgsql STABLE PARALLEL SAFE
        SET search_path = pg_catalog, pg_temp
      AS $fn$
      BEGIN
        RETURN EXISTS (SELECT 1 FROM pg_class pc JOIN pg_index pi ON pi.indexrelid = pc.oid
                        WHERE pc.relname = index_name AND pi.indisvalid AND pi.indisready);
      END
      $fn$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION vector_index_ready(index_name text) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE
        SET search_path = pg_catalog, pg_temp
      AS $$
        SELECT EXISTS (SELECT 1 FROM pg_class pc JOIN pg_index pi ON pi.indexrelid = pc.oid
                        WHERE pc.relname = index_name AND pi.indisvalid AND pi.indisready)
      $$`);
  }
}
