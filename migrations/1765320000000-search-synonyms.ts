import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from './1764100000000-row-level-security';

/**
 * Per-merchant synonym groups for keyword search (issue 12, docs/RETRIEVAL.md "Synonyms"): one row per phrase of a
 * group, with the phrase's english lexemes and its phrase tsquery computed once on write by the same text search
 * configuration as the index, so the search statement expands a query with a join on the merchant's key and no
 * text parsing of the whole list (src/retrieval/keyword-ranking.sql.ts).
 *
 * Row-level security like the other tenant tables (as migration 1765000000000 left them): readers read their
 * merchant's groups (every keyword search joins them), content managers with a write claim replace them. On Citus
 * the table is distributed by merchant, co-located with `merchants`, so the join stays inside the merchant's shard
 * group (a router query) and the policies take the plain-call form. Not run against a Citus cluster in this change.
 */
export class SearchSynonyms1765320000000 implements MigrationInterface {
  name = 'SearchSynonyms1765320000000';

  async up(q: QueryRunner): Promise<void> {
    const citus =
      ((await q.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)) as unknown[]).length > 0;
    await q.query(`
      CREATE TABLE search_synonyms (
        merchant_id  text NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
        group_no     integer NOT NULL CONSTRAINT search_synonyms_group_range CHECK (group_no >= 1),
        position     smallint NOT NULL CONSTRAINT search_synonyms_position_range CHECK (position >= 0),
        phrase       text NOT NULL CONSTRAINT search_synonyms_phrase_length CHECK (length(phrase) BETWEEN 1 AND 100),
        lexemes      text[] NOT NULL CONSTRAINT search_synonyms_lexemes_present CHECK (cardinality(lexemes) >= 1),
        query        tsquery NOT NULL,
        PRIMARY KEY (merchant_id, group_no, position)
      )`);
    const merchant = citus ? 'app_merchant_id()' : '(SELECT app_merchant_id())';
    const manager = citus ? 'app_manager_merchant_id()' : '(SELECT app_manager_merchant_id())';
    await q.query(`ALTER TABLE search_synonyms ENABLE ROW LEVEL SECURITY`);
    await q.query(`
      CREATE POLICY search_synonyms_read ON search_synonyms FOR SELECT TO ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}
        USING (merchant_id = ${merchant})`);
    await q.query(`
      CREATE POLICY search_synonyms_manage ON search_synonyms FOR ALL TO ${CONTENT_MANAGER_ROLE}
        USING (merchant_id = ${manager}) WITH CHECK (merchant_id = ${manager})`);
    await q.query(`GRANT SELECT ON search_synonyms TO ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}`);
    await q.query(`GRANT INSERT, DELETE ON search_synonyms TO ${CONTENT_MANAGER_ROLE}`);
    if (citus) {
      await q.query(
        `SELECT create_distributed_table('search_synonyms', 'merchant_id', colocate_with => 'merchants')`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const role of [GATEWAY_ROLE, CONTENT_MANAGER_ROLE]) {
      await q.query(`REVOKE ALL ON search_synonyms FROM ${role}`);
    }
    await q.query(`DROP TABLE search_synonyms`);
  }
}
