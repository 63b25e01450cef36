import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Corpus versions: a merchant's chunks belong to a version, each version to one embedding model and dimension
 * count. Retrieval reads only the merchant's `active` version; a model change re-embeds into a `building`
 * version and flips it to active in one transaction (see src/corpus/).
 *
 * Different models may have different dimensions, so `embedding` loses its fixed typmod; HNSW needs one, so
 * the index becomes a partial expression index per dimension count: `(embedding::vector(N))` WHERE
 * vector_dims(embedding) = N. Queries use the same expression and predicate so the planner can use it.
 */
export class CorpusVersions1763800000000 implements MigrationInterface {
  name = 'CorpusVersions1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE corpus_versions (
        merchant_id      text NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
        version          integer NOT NULL CONSTRAINT corpus_versions_version_positive CHECK (version > 0),
        embedding_model  text NOT NULL CONSTRAINT corpus_versions_model_not_blank CHECK (btrim(embedding_model) <> ''),
        dimensions       integer NOT NULL CONSTRAINT corpus_versions_dimensions_range CHECK (dimensions BETWEEN 1 AND 16000),
        state            text NOT NULL CONSTRAINT corpus_versions_state_known CHECK (state IN ('building', 'active', 'retired')),
        created_at       timestamptz NOT NULL DEFAULT now(),
        activated_at     timestamptz,
        retired_at       timestamptz,
        PRIMARY KEY (merchant_id, version)
      )`);
    // New versions take their number from a sequence, so an abandoned version's number is never given again: a
    // write embedded for the abandoned model can then never be mistaken for one of its successor.
    await q.query(`CREATE SEQUENCE corpus_versions_version_seq START WITH 2`);
    await q.query(
      `CREATE UNIQUE INDEX corpus_versions_one_active_idx ON corpus_versions (merchant_id) WHERE state = 'active'`,
    );
    await q.query(
      `CREATE UNIQUE INDEX corpus_versions_one_building_idx ON corpus_versions (merchant_id) WHERE state = 'building'`,
    );

    // Every existing merchant gets version 1 with the model its chunks were embedded with (or the default).
    await q.query(`
      INSERT INTO corpus_versions (merchant_id, version, embedding_model, dimensions, state, activated_at)
      SELECT m.id, 1,
             coalesce((SELECT c.embedding_model FROM document_chunks c WHERE c.merchant_id = m.id LIMIT 1), 'local-hash-v1'),
             1536, 'active', now()
        FROM merchants m`);

    await q.query(`ALTER TABLE document_chunks ADD COLUMN corpus_version integer NOT NULL DEFAULT 1`);
    await q.query(`ALTER TABLE document_chunks ALTER COLUMN corpus_version DROP DEFAULT`);
    await q.query(`
      ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_corpus_version_fk
        FOREIGN KEY (merchant_id, corpus_version) REFERENCES corpus_versions (merchant_id, version) ON DELETE CASCADE`);
    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_document_chunk_unique`);
    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_ticket_chunk_unique`);
    await q.query(`
      ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_document_chunk_unique
        UNIQUE (merchant_id, document_id, corpus_version, chunk_index)`);
    await q.query(`
      ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_ticket_chunk_unique
        UNIQUE (merchant_id, ticket_id, corpus_version, chunk_index)`);
    // The embedding cache: vectors already computed for this text under this version's model.
    await q.query(
      `CREATE INDEX document_chunks_content_hash_idx ON document_chunks (merchant_id, corpus_version, content_hash)`,
    );

    await q.query(`DROP INDEX document_chunks_embedding_hnsw_idx`);
    await q.query(`ALTER TABLE document_chunks ALTER COLUMN embedding TYPE vector`);
    // Without a typmod the column accepts any size: the version's dimension count is enforced here instead.
    await q.query(`
      CREATE FUNCTION document_chunks_check_dimensions() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
      $fn$`);
    await q.query(`
      CREATE TRIGGER document_chunks_dimensions_check BEFORE INSERT OR UPDATE OF embedding, corpus_version
        ON document_chunks FOR EACH ROW EXECUTE FUNCTION document_chunks_check_dimensions()`);
    await q.query(`
      CREATE INDEX document_chunks_embedding_hnsw_idx ON document_chunks
        USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
        WHERE vector_dims(embedding) = 1536`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Only the active version's 1536-d rows fit the old schema.
    await q.query(`
      DELETE FROM document_chunks c USING corpus_versions v
       WHERE v.merchant_id = c.merchant_id AND v.version = c.corpus_version
         AND (v.state <> 'active' OR vector_dims(c.embedding) <> 1536)`);
    await q.query(`
      DO $$ DECLARE r record; BEGIN
        FOR r IN SELECT indexname FROM pg_indexes
                  WHERE tablename = 'document_chunks' AND indexname LIKE 'document_chunks_embedding_hnsw_%'
        LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
      END $$`);
    await q.query(`DROP TRIGGER document_chunks_dimensions_check ON document_chunks`);
    await q.query(`DROP FUNCTION document_chunks_check_dimensions()`);
    await q.query(`ALTER TABLE document_chunks ALTER COLUMN embedding TYPE vector(1536)`);
    await q.query(`
      CREATE INDEX document_chunks_embedding_hnsw_idx ON document_chunks
        USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`);
    await q.query(`DROP INDEX document_chunks_content_hash_idx`);
    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_document_chunk_unique`);
    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_ticket_chunk_unique`);
    await q.query(`ALTER TABLE document_chunks DROP CONSTRAINT document_chunks_corpus_version_fk`);
    await q.query(`ALTER TABLE document_chunks DROP COLUMN corpus_version`);
    await q.query(`
      ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_document_chunk_unique UNIQUE (merchant_id, document_id, chunk_index)`);
    await q.query(`
      ALTER TABLE document_chunks ADD CONSTRAINT document_chunks_ticket_chunk_unique UNIQUE (merchant_id, ticket_id, chunk_index)`);
    await q.query(`DROP TABLE corpus_versions`);
    await q.query(`DROP SEQUENCE corpus_versions_version_seq`);
  }
}
