import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `support_documents.chunked_with`: the chunker signature (chunker version and chunking settings) the document's
 * stored chunks were cut with, written in the same transaction as the chunks.
 *
 * It is what lets a re-ingest of an unchanged document answer from one read, without chunking the text again: the
 * stored row matching title, text, ACL and metadata says nothing about the chunks if the chunking settings (or the
 * chunker) changed since; matching this column as well says the chunks are what chunking would produce now.
 * Nullable: rows written before this migration have none, so their first re-ingest takes the full path (which
 * fills it in). Adding a nullable column without a default is a catalog change on PostgreSQL and Citus alike.
 */
export class ChunkedWith1765380000000 implements MigrationInterface {
  name = 'ChunkedWith1765380000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE support_documents ADD COLUMN IF NOT EXISTS chunked_with text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE support_documents DROP COLUMN IF EXISTS chunked_with`);
  }
}
