import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Drops `document_chunks.search_tsv` and its GIN index: the contract step of 1765000000000.
 *
 * Keyword ranking moved to the weighted `search_terms` (BM25) in 1765000000000. `search_tsv` was kept only so
 * that gateways of the release before could keep ranking during a rolling upgrade, and the release after that one
 * is this. Nothing reads it. Every chunk write still paid a `to_tsvector` and a GIN insertion per row for it:
 * ~0.18 ms per chunk (docs/INGESTION.md, "Where the time goes").
 *
 * Dropping a column is a catalog change (no rewrite). The down migration re-adds the generated column, which
 * rewrites the table, and its index.
 */
export class DropSearchTsv1765360000001 implements MigrationInterface {
  name = 'DropSearchTsv1765360000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE document_chunks DROP COLUMN IF EXISTS search_tsv`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE document_chunks ADD COLUMN IF NOT EXISTS search_tsv tsvector
         GENERATED ALWAYS AS (to_tsvector('english', chunk_text)) STORED`,
    );
    await q.query(
      `CREATE INDEX IF NOT EXISTS document_chunks_search_tsv_idx ON document_chunks USING gin (search_tsv)`,
    );
  }
}
