import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Search structures that reach recall@10 >= 0.99 under any filter (measurements in docs/RETRIEVAL.md):
 *
 * - `embedding_bq`: the sign bits of the embedding (pgvector's binary_quantize), stored in the row. 1536 bits are
 *   192 bytes kept inline, while the 6 KB vector lives in TOAST; a Hamming scan over a merchant's rows therefore
 *   reads no vectors, and only the few hundred best candidates are re-ranked by exact cosine distance.
 * - A covering btree (merchant_id, corpus_version) INCLUDE (acl, embedding_bq, id): that scan, and the count of
 *   readable candidates, run as index-only scans of one merchant. It replaces the plain merchant index.
 * - The HNSW index shared by all merchants is dropped. Filtered by merchant and ACL after the scan, it never
 *   reached 0.99 (0.95–0.99 measured), and every chunk written paid its ~10 ms graph insertion. Merchants large
 *   enough to need an approximate index get a partial HNSW index of their own (`merchant_vector_indexes`, built
 *   CONCURRENTLY by the index maintenance, see src/chunks/merchant-index.service.ts).
 */
export class QuantizedSearch1763900000000 implements MigrationInterface {
  name = 'QuantizedSearch1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE document_chunks
        ADD COLUMN embedding_bq bit varying GENERATED ALWAYS AS (binary_quantize(embedding)::bit varying) STORED`);
    await q.query(`
      CREATE INDEX document_chunks_scan_idx ON document_chunks (merchant_id, corpus_version)
        INCLUDE (acl, embedding_bq, id)`);
    await q.query(`DROP INDEX document_chunks_merchant_idx`);
    await q.query(`
      DO $$ DECLARE r record; BEGIN
        FOR r IN SELECT indexname FROM pg_indexes
                  WHERE tablename = 'document_chunks' AND indexname LIKE 'document_chunks_embedding_hnsw%'
        LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
      END $$`);
    // One row per merchant-dedicated HNSW index. The index itself is named from the sequence (merchant ids are
    // client-chosen text and never become identifiers); its predicate quotes the merchant id as a literal.
    await q.query(`CREATE SEQUENCE merchant_vector_indexes_seq`);
    await q.query(`
      CREATE TABLE merchant_vector_indexes (
        merchant_id  text NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
        dimensions   integer NOT NULL CONSTRAINT merchant_vector_indexes_dimensions_range CHECK (dimensions BETWEEN 1 AND 2000),
        index_name   text NOT NULL CONSTRAINT merchant_vector_indexes_name_unique UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (merchant_id, dimensions)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$ DECLARE r record; BEGIN
        FOR r IN SELECT index_name FROM merchant_vector_indexes
        LOOP EXECUTE format('DROP INDEX IF EXISTS %I', r.index_name); END LOOP;
      END $$`);
    await q.query(`DROP TABLE merchant_vector_indexes`);
    await q.query(`DROP SEQUENCE merchant_vector_indexes_seq`);
    await q.query(`
      CREATE INDEX document_chunks_embedding_hnsw_idx ON document_chunks
        USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
        WHERE vector_dims(embedding) = 1536`);
    await q.query(`CREATE INDEX document_chunks_merchant_idx ON document_chunks (merchant_id)`);
    await q.query(`DROP INDEX document_chunks_scan_idx`);
    await q.query(`ALTER TABLE document_chunks DROP COLUMN embedding_bq`);
  }
}
