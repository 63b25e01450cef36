import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Drops the GIN index on `document_chunks.acl`.
 *
 * Every read is one merchant's, through a merchant-leading btree (the covering `scan_idx` carries `acl`, so the
 * readable count and the quantized shortlist are index-only scans). The ACL GIN only ever hurt them. Its keys are
 * principals shared by every merchant (`role:staff` of all merchants is one posting list). And the row-level
 * security policy's `acl && (SELECT app_principals())` compares against an InitPlan value the planner cannot
 * estimate, so it guessed 0.5% of rows. It then planned a BitmapAnd of this GIN and the merchant btree, followed by
 * a bitmap heap scan of every readable row. With vectors stored in the row (1765340000000) that is one 8 KB page
 * per row. Measured in the small benchmark's replay (auto_explain, bm0000-xl, staff): the quantized shortlist read
 * 3,502 heap pages where the index-only scan reads ~140 index pages, and the GIN probe alone matched the 13,008
 * staff rows of every merchant. docs/RETRIEVAL.md, "Plans under row-level security".
 *
 * Dropping it also removes a GIN insertion per ACL entry from every chunk write. The metadata and search-term GIN
 * indexes stay: their queries are selective.
 */
export class DropAclGin1765360000000 implements MigrationInterface {
  name = 'DropAclGin1765360000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS document_chunks_acl_gin_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX IF NOT EXISTS document_chunks_acl_gin_idx ON document_chunks USING gin (acl)`,
    );
  }
}
