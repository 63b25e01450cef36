import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Frozen graph + exact tail (issue 13, docs/RETRIEVAL.md "Dedicated index: frozen graph and exact tail").
 *
 * A merchant's dedicated HNSW index covers only its chunks with `id <= max_chunk_id`, a bound fixed when the index
 * is built and written into the index predicate as a literal; newer chunks (the tail) skip the HNSW insertion and
 * are scanned exactly by retrieval. When the tail outgrows its bound, a replacement index covering up to the then
 * current max id is built CONCURRENTLY (`next_*` while it builds), swapped in by one UPDATE of the registry row,
 * and the old one dropped (`retired_index_name` until it is gone): a crash at any step leaves names the next
 * maintenance run cleans up. `covered_rows` (the merchant's chunks at or below the bound when it was fixed) sizes
 * the tail's bound. A NULL `max_chunk_id` is an index of an earlier release that covers every chunk: read without
 * a tail, replaced by a bounded one by the next maintenance run.
 *
 * The tail is found through `(merchant_id, id)`: on Citus the primary key already is that; on one node (primary
 * key `id`) a btree is added. Built in the migration's transaction, not CONCURRENTLY (a concurrent build waits for
 * every open snapshot, including gateways waiting for the migration lock: see 1765000000000): writes to
 * document_chunks wait for one btree build over the table.
 */
export class VectorIndexTail1765300000000 implements MigrationInterface {
  name = 'VectorIndexTail1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE merchant_vector_indexes
        ADD COLUMN max_chunk_id bigint,
        ADD COLUMN covered_rows bigint,
        ADD COLUMN next_index_name text,
        ADD COLUMN next_max_chunk_id bigint,
        ADD COLUMN retired_index_name text`);
    if (!(await hasCitus(q))) {
      await q.query(
        `CREATE INDEX IF NOT EXISTS document_chunks_merchant_id_idx ON document_chunks (merchant_id, id)`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    // The previous release reads every registered index as covering all chunks: bounded ones (and unfinished
    // builds) are dropped with their rows, and its maintenance builds full ones again.
    await q.query(`
      DO $$ DECLARE r record; BEGIN
        FOR r IN SELECT unnest(ARRAY[index_name, next_index_name, retired_index_name]) AS name
                   FROM merchant_vector_indexes
                  WHERE max_chunk_id IS NOT NULL OR next_index_name IS NOT NULL OR retired_index_name IS NOT NULL
        LOOP
          IF r.name IS NOT NULL THEN EXECUTE format('DROP INDEX IF EXISTS %I', r.name); END IF;
        END LOOP;
      END $$`);
    await q.query(`DELETE FROM merchant_vector_indexes WHERE max_chunk_id IS NOT NULL`);
    await q.query(`DROP INDEX IF EXISTS document_chunks_merchant_id_idx`);
    await q.query(`
      ALTER TABLE merchant_vector_indexes
        DROP COLUMN max_chunk_id, DROP COLUMN covered_rows, DROP COLUMN next_index_name,
        DROP COLUMN next_max_chunk_id, DROP COLUMN retired_index_name`);
  }
}

async function hasCitus(q: QueryRunner): Promise<boolean> {
  return ((await q.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)) as unknown[]).length > 0;
}
