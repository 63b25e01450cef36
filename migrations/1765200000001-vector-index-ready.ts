import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `vector_index_ready(name)`: whether the index of that name exists and is valid and ready (a dedicated HNSW index
 * built with CREATE INDEX CONCURRENTLY is neither until the build finished). The retrieval's first statement asks
 * it for the merchant's registered index (src/retrieval/search-strategy.ts).
 *
 * A function rather than a join with pg_class and pg_index in that statement: on Citus a statement that joins a
 * distributed table with the coordinator's catalogs is planned as subplans that copy the catalog rows to the
 * workers, and is no longer a single-shard router query. The function is opaque to Citus' planner and runs on the
 * worker that holds the merchant's shard, whose shell table carries the same index (valid once the build has
 * finished on the shards). Same answer on one node and on PGlite.
 */
export class VectorIndexReady1765200000001 implements MigrationInterface {
  name = 'VectorIndexReady1765200000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION vector_index_ready(index_name text) RETURNS boolean
        LANGUAGE sql STABLE PARALLEL SAFE
        SET search_path = pg_catalog, pg_temp
      AS $$
        SELECT EXISTS (SELECT 1 FROM pg_class pc JOIN pg_index pi ON pi.indexrelid = pc.oid
                        WHERE pc.relname = index_name AND pi.indisvalid AND pi.indisready)
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION vector_index_ready(text)`);
  }
}
