import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from './1764100000000-row-level-security';

/**
 * The keyword index knows titles, headings and rare words (issue 12, docs/RETRIEVAL.md "Keyword ranking").
 *
 * 1. `document_chunks.search_terms`: a weighted tsvector — the document's title at weight A, the heading path at B,
 *    the body at D (the contextual header line `Title › Heading` that the chunker puts first is stripped from the
 *    body, it is already counted as A and B) — plus the parts of compound tokens (`PowerBI.com` also yields
 *    `PowerBI`, `com`, `Power`, `BI`; `getUserName` yields `get`, `User`, `Name`). A BEFORE trigger computes it
 *    on every write, reading the title from support_documents (a primary-key lookup; tickets have no title: their
 *    subject is the heading path).
 * 2. `search_term_statistics` (chunks per lexeme) and `search_corpus_statistics` (chunks and summed lengths) per
 *    merchant and corpus version, kept current by statement-level triggers with transition tables on every
 *    INSERT, DELETE and UPDATE of document_chunks — whatever writes chunks (ingestion, re-embedding, cascades)
 *    keeps them right, in the writer's own transaction. BM25 reads them (src/retrieval/keyword-ranking.sql.ts).
 *    Concurrent writers of one merchant must not queue on the same counter rows: each transaction takes one of
 *    16 slots with a transaction-level advisory lock (the first free one) and only updates rows of its slot, so
 *    two writers never touch the same row; readers sum the slots.
 *
 * Without downtime: the old generated `search_tsv` cannot change its expression without rewriting the table under
 * an exclusive lock, so this adds a new nullable column (a catalog change) and its trigger, then fills the
 * existing rows in batches of 2,000 ids, each batch its own short transaction (this migration runs outside a
 * transaction: `transaction = false`); the GIN index is created while the column is still empty, so its build
 * holds writes back only for one walk over the table (no text is parsed), and each batch then fills it. Reads are
 * never blocked: gateways still on the old code keep ranking with `search_tsv` until they are replaced; the
 * backfill's UPDATEs hold row locks for one batch only. The backfill is what builds the statistics (the UPDATE trigger counts each filled
 * row). `search_tsv` stays for processes of the previous release and goes in a later migration.
 *
 * Row-level security like every tenant table: merchant_id leads both keys; readers read their merchant's
 * statistics (aggregates over all of the merchant's chunks, whatever their ACL), content managers' writes
 * (through the trigger, as the invoking role) are checked against their merchant.
 *
 * On Citus (docs/SCALE-OUT.md) the new tables are distributed by merchant, co-located, with the plain-call policy
 * form, and only the search_terms trigger is created, without the title lookup (a shard cannot query another
 * distributed table): titles are not weighted and the statistics stay empty there (BM25 then weighs every term
 * alike but still normalizes by length). Not run against a Citus cluster in this change.
 */
export class WeightedSearchTerms1765000000000 implements MigrationInterface {
  name = 'WeightedSearchTerms1765000000000';
  /** The batched backfill commits batch by batch: no surrounding transaction (migrationsTransactionMode 'each'). */
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    const citus =
      ((await q.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)) as unknown[]).length > 0;
    await q.query('BEGIN');
    try {
      await q.query(SPLIT_COMPOUNDS);
      await q.query(SEARCH_TERMS_OF);
      await q.query(citus ? CHUNK_SEARCH_TERMS_CITUS : CHUNK_SEARCH_TERMS);
      await q.query(`ALTER TABLE document_chunks ADD COLUMN IF NOT EXISTS search_terms tsvector`);
      // Indexed while the column is still empty: the build only walks the table (no tsvector to extract), so
      // writes wait for a moment only, and the backfill then fills the index row by row. CREATE INDEX
      // CONCURRENTLY after the backfill deadlocked: it waits for every open snapshot, including gateways
      // starting at the same time that wait for the migration lock this migration's runner holds.
      await q.query(
        `CREATE INDEX IF NOT EXISTS document_chunks_search_terms_idx ON document_chunks USING gin (search_terms)`,
      );
      await q.query(`
        CREATE TABLE search_term_statistics (
          merchant_id     text NOT NULL,
          corpus_version  integer NOT NULL,
          lexeme          text NOT NULL,
          slot            smallint NOT NULL CONSTRAINT search_term_statistics_slot_range CHECK (slot BETWEEN 0 AND 15),
          chunk_count     integer NOT NULL,
          PRIMARY KEY (merchant_id, corpus_version, lexeme, slot),
          CONSTRAINT search_term_statistics_version_fk FOREIGN KEY (merchant_id, corpus_version)
            REFERENCES corpus_versions (merchant_id, version) ON DELETE CASCADE
        )`);
      await q.query(`
        CREATE TABLE search_corpus_statistics (
          merchant_id     text NOT NULL,
          corpus_version  integer NOT NULL,
          slot            smallint NOT NULL CONSTRAINT search_corpus_statistics_slot_range CHECK (slot BETWEEN 0 AND 15),
          chunk_count     bigint NOT NULL,
          length_sum      bigint NOT NULL,
          PRIMARY KEY (merchant_id, corpus_version, slot),
          CONSTRAINT search_corpus_statistics_version_fk FOREIGN KEY (merchant_id, corpus_version)
            REFERENCES corpus_versions (merchant_id, version) ON DELETE CASCADE
        )`);
      // As migration 1764200000000 left the other tables: readers by the verified merchant, writes only with a
      // write capability (app_manager_merchant_id()).
      const merchant = citus ? 'app_merchant_id()' : '(SELECT app_merchant_id())';
      const manager = citus ? 'app_manager_merchant_id()' : '(SELECT app_manager_merchant_id())';
      for (const table of STATISTICS_TABLES) {
        await q.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
        await q.query(`
          CREATE POLICY ${table}_read ON ${table} FOR SELECT TO ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}
            USING (merchant_id = ${merchant})`);
        await q.query(`
          CREATE POLICY ${table}_manage ON ${table} FOR ALL TO ${CONTENT_MANAGER_ROLE}
            USING (merchant_id = ${manager}) WITH CHECK (merchant_id = ${manager})`);
        await q.query(`GRANT SELECT ON ${table} TO ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}`);
        await q.query(`GRANT INSERT, UPDATE ON ${table} TO ${CONTENT_MANAGER_ROLE}`);
      }
      // Citus creates triggers on distributed tables only with this (as migration 1764900000000 does): this one
      // reads nothing but its own row on the shard.
      if (citus) await q.query(`SET LOCAL citus.enable_unsafe_triggers = on`);
      await q.query(`
        CREATE TRIGGER document_chunks_search_terms BEFORE INSERT OR UPDATE OF chunk_text, heading_path, document_id, merchant_id
          ON document_chunks FOR EACH ROW EXECUTE FUNCTION document_chunks_search_terms()`);
      if (citus) {
        for (const table of STATISTICS_TABLES) {
          await q.query(`SELECT create_distributed_table($1, 'merchant_id', colocate_with => 'merchants')`, [
            table,
          ]);
        }
      } else {
        await q.query(STATISTICS_SLOT);
        await q.query(STATISTICS_APPLY);
        const transitions = {
          insert: 'NEW TABLE AS new_rows',
          delete: 'OLD TABLE AS old_rows',
          update: 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
        } as const;
        for (const op of ['insert', 'delete', 'update'] as const) {
          await q.query(statisticsTriggerFunction(op));
          await q.query(`
            CREATE TRIGGER document_chunks_statistics_${op} AFTER ${op.toUpperCase()} ON document_chunks
              REFERENCING ${transitions[op]} FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_statistics_${op}()`);
        }
      }
      await q.query('COMMIT');
    } catch (e) {
      await q.query('ROLLBACK');
      throw e;
    }

    // The backfill: batches of ids, each UPDATE its own transaction. Touching chunk_text fires the BEFORE
    // trigger (the same computation as for new rows) and the statistics trigger.
    const [{ lo, hi }] = (await q.query(
      `SELECT min(id)::bigint AS lo, max(id)::bigint AS hi FROM document_chunks WHERE search_terms IS NULL`,
    )) as { lo: string | null; hi: string | null }[];
    if (lo !== null && hi !== null) {
      for (let from = BigInt(lo); from <= BigInt(hi); from += BACKFILL_BATCH) {
        await q.query(
          `UPDATE document_chunks SET chunk_text = chunk_text
            WHERE id >= $1 AND id < $2 AND search_terms IS NULL`,
          [from.toString(), (from + BACKFILL_BATCH).toString()],
        );
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('BEGIN');
    try {
      await q.query(`DROP TRIGGER IF EXISTS document_chunks_statistics_insert ON document_chunks`);
      await q.query(`DROP TRIGGER IF EXISTS document_chunks_statistics_delete ON document_chunks`);
      await q.query(`DROP TRIGGER IF EXISTS document_chunks_statistics_update ON document_chunks`);
      await q.query(`DROP TRIGGER IF EXISTS document_chunks_search_terms ON document_chunks`);
      await q.query(`DROP INDEX IF EXISTS document_chunks_search_terms_idx`);
      await q.query(`ALTER TABLE document_chunks DROP COLUMN IF EXISTS search_terms`);
      for (const table of STATISTICS_TABLES) {
        for (const role of [GATEWAY_ROLE, CONTENT_MANAGER_ROLE]) {
          await q.query(`REVOKE ALL ON ${table} FROM ${role}`);
        }
        await q.query(`DROP TABLE IF EXISTS ${table}`);
      }
      for (const op of ['insert', 'delete', 'update']) {
        await q.query(`DROP FUNCTION IF EXISTS document_chunks_statistics_${op}()`);
      }
      await q.query(
        `DROP FUNCTION IF EXISTS search_statistics_apply(text, integer, smallint, bigint, bigint, text[], integer[])`,
      );
      await q.query(`DROP FUNCTION IF EXISTS search_statistics_slot(text, integer)`);
      await q.query(`DROP FUNCTION IF EXISTS document_chunks_search_terms()`);
      await q.query(`DROP FUNCTION IF EXISTS search_terms_of(text, text[], text)`);
      await q.query(`DROP FUNCTION IF EXISTS search_split_compounds(text)`);
      await q.query('COMMIT');
    } catch (e) {
      await q.query('ROLLBACK');
      throw e;
    }
  }
}

const STATISTICS_TABLES = ['search_term_statistics', 'search_corpus_statistics'] as const;
const BACKFILL_BATCH = 2000n;

/**
 * The parts of compound tokens, as extra text: tokens with an inner capital (`PowerBI`, `getUserName`) or joined by
 * `. _ @ : / -` (hosts, URLs, identifiers). The parser indexes `PowerBI.com` as one host token and `PowerBI` as one
 * word; a question saying "Power BI" meets neither. Each compound contributes its punctuation-split parts and
 * their camel-case parts. The query side (src/retrieval/query-terms.ts) splits the same way.
 */
const SPLIT_COMPOUNDS = `
  CREATE FUNCTION search_split_compounds(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(string_agg(p.parts || ' ' ||
             regexp_replace(regexp_replace(p.parts, '([[:lower:][:digit:]])([[:upper:]])', '\\1 \\2', 'g'),
                            '([[:upper:]])([[:upper:]][[:lower:]])', '\\1 \\2', 'g'), ' '), '')
      FROM (SELECT regexp_replace(m[1], '[._@:/-]+', ' ', 'g') AS parts
              FROM regexp_matches(t, '([[:alnum:]]*[[:lower:]][[:upper:]][[:alnum:]]*|[[:alnum:]]+(?:[._@:/-]+[[:alnum:]]+)+)', 'g') m) p
  $fn$`;

/** Title (A), heading path (B) and body (D), each with its compound parts, english stemming and stopwords. */
const SEARCH_TERMS_OF = `
  CREATE FUNCTION search_terms_of(title text, headings text[], body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT setweight(to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || search_split_compounds(coalesce(title, ''))), 'A')
        || setweight(to_tsvector('english'::regconfig, array_to_string(headings, ' ') || ' ' || search_split_compounds(array_to_string(headings, ' '))), 'B')
        || setweight(to_tsvector('english'::regconfig, body || ' ' || search_split_compounds(body)), 'D')
  $fn$`;

/**
 * The BEFORE trigger: the title from the chunk's document; the header line the chunker writes
 * (src/chunks/chunking/chunker.ts: title and headings joined by ' › ') removed from the body.
 */
const CHUNK_SEARCH_TERMS = `
  CREATE FUNCTION document_chunks_search_terms() RETURNS trigger LANGUAGE plpgsql AS $fn$
  DECLARE
    doc_title text;
    header text;
    body text := NEW.chunk_text;
  BEGIN
    IF NEW.document_id IS NOT NULL THEN
      SELECT d.title INTO doc_title FROM support_documents d
       WHERE d.merchant_id = NEW.merchant_id AND d.id = NEW.document_id;
      header := array_to_string(array_remove(
                  ARRAY[btrim(regexp_replace(coalesce(doc_title, ''), '\\s+', ' ', 'g'))] || NEW.heading_path, ''), ' › ');
      IF header <> '' AND (body = header OR left(body, length(header) + 1) = header || E'\\n') THEN
        body := substr(body, length(header) + 2);
      END IF;
    END IF;
    NEW.search_terms := search_terms_of(doc_title, NEW.heading_path, body);
    RETURN NEW;
  END
  $fn$`;

/** Citus: a shard cannot read another distributed table, so no title (see the class comment). */
const CHUNK_SEARCH_TERMS_CITUS = `
  CREATE FUNCTION document_chunks_search_terms() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    NEW.search_terms := search_terms_of(NULL, NEW.heading_path, NEW.chunk_text);
    RETURN NEW;
  END
  $fn$`;

/**
 * This transaction's statistics slot for a merchant's version: remembered in a transaction-local setting, else
 * the first of 16 whose advisory lock is free (then held until the transaction ends), else (16 concurrent
 * writers) a wait on a slot chosen by the transaction id. Lock class 1765000 (src/vector-index/index-lock.ts
 * uses 1763900 and 1764300).
 */
const STATISTICS_SLOT = `
  CREATE FUNCTION search_statistics_slot(merchant text, version integer) RETURNS smallint LANGUAGE plpgsql AS $fn$
  DECLARE
    setting text := 'srg.statistics_slot_' || abs(hashtext(merchant))::text || '_' || version::text;
    slot integer := nullif(current_setting(setting, true), '')::integer;
  BEGIN
    IF slot IS NOT NULL THEN RETURN slot; END IF;
    FOR s IN 0..15 LOOP
      IF pg_try_advisory_xact_lock(1765000, hashtext(merchant || '/' || version::text || '/' || s::text)) THEN
        slot := s;
        EXIT;
      END IF;
    END LOOP;
    IF slot IS NULL THEN
      slot := (txid_current() % 16)::integer;
      PERFORM pg_advisory_xact_lock(1765000, hashtext(merchant || '/' || version::text || '/' || slot::text));
    END IF;
    PERFORM set_config(setting, slot::text, true);
    RETURN slot;
  END
  $fn$`;

/** Adds signed deltas to one slot's rows, lexemes in sorted order. */
const STATISTICS_APPLY = `
  CREATE FUNCTION search_statistics_apply(merchant text, version integer, slot smallint, chunks bigint,
                                          lengths bigint, lexemes text[], counts integer[])
    RETURNS void LANGUAGE sql AS $fn$
    INSERT INTO search_corpus_statistics AS s (merchant_id, corpus_version, slot, chunk_count, length_sum)
    VALUES (merchant, version, slot, chunks, lengths)
    ON CONFLICT (merchant_id, corpus_version, slot)
    DO UPDATE SET chunk_count = s.chunk_count + EXCLUDED.chunk_count, length_sum = s.length_sum + EXCLUDED.length_sum;
    INSERT INTO search_term_statistics AS s (merchant_id, corpus_version, lexeme, slot, chunk_count)
    SELECT merchant, version, l.lexeme, slot, l.n FROM unnest(lexemes, counts) AS l (lexeme, n) ORDER BY l.lexeme
    ON CONFLICT (merchant_id, corpus_version, lexeme, slot)
    DO UPDATE SET chunk_count = s.chunk_count + EXCLUDED.chunk_count;
  $fn$`;

/**
 * One statement's change: +1 per lexeme for each new row, −1 for each old row (an UPDATE counts only rows whose
 * search_terms, merchant or version changed). Length = the number of distinct lexemes (tsvector length). A version
 * that no longer exists (its deletion cascades to its chunks) is skipped. One function per operation: a trigger
 * function may name only the transition tables its trigger has.
 */
function statisticsTriggerFunction(op: 'insert' | 'delete' | 'update'): string {
  const changed = `(o.search_terms IS DISTINCT FROM n.search_terms
                    OR o.merchant_id <> n.merchant_id OR o.corpus_version <> n.corpus_version)`;
  const rows = {
    insert: `SELECT merchant_id, corpus_version, search_terms, 1 AS sign FROM new_rows`,
    delete: `SELECT merchant_id, corpus_version, search_terms, -1 AS sign FROM old_rows`,
    update: `SELECT n.merchant_id, n.corpus_version, n.search_terms, 1 AS sign
               FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE ${changed}
             UNION ALL
             SELECT o.merchant_id, o.corpus_version, o.search_terms, -1 AS sign
               FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE ${changed}`,
  }[op];
  return `
  CREATE FUNCTION document_chunks_statistics_${op}() RETURNS trigger LANGUAGE plpgsql AS $fn$
  DECLARE r record;
  BEGIN
    FOR r IN
      WITH changed AS MATERIALIZED (
        SELECT * FROM (${rows}) x
         WHERE x.search_terms IS NOT NULL
           AND EXISTS (SELECT 1 FROM corpus_versions v
                        WHERE v.merchant_id = x.merchant_id AND v.version = x.corpus_version)
      ), per_version AS (
        SELECT merchant_id, corpus_version, sum(sign) AS chunks, sum(sign * length(search_terms)) AS lengths
          FROM changed GROUP BY merchant_id, corpus_version
      ), per_lexeme AS (
        SELECT x.merchant_id, x.corpus_version, array_agg(x.lexeme ORDER BY x.lexeme) AS lexemes,
               array_agg(x.n ORDER BY x.lexeme) AS counts
          FROM (SELECT merchant_id, corpus_version, u.lexeme, sum(sign)::integer AS n
                  FROM changed, unnest(tsvector_to_array(search_terms)) AS u (lexeme)
                 GROUP BY merchant_id, corpus_version, u.lexeme HAVING sum(sign) <> 0) x
         GROUP BY x.merchant_id, x.corpus_version
      )
      SELECT v.merchant_id, v.corpus_version, v.chunks, v.lengths,
             coalesce(l.lexemes, '{}') AS lexemes, coalesce(l.counts, '{}') AS counts
        FROM per_version v LEFT JOIN per_lexeme l USING (merchant_id, corpus_version)
       ORDER BY v.merchant_id, v.corpus_version
    LOOP
      CONTINUE WHEN r.chunks = 0 AND r.lengths = 0 AND cardinality(r.lexemes) = 0;
      PERFORM search_statistics_apply(r.merchant_id, r.corpus_version,
                                      search_statistics_slot(r.merchant_id, r.corpus_version),
                                      r.chunks, r.lengths, r.lexemes, r.counts);
    END LOOP;
    RETURN NULL;
  END
  $fn$`;
}
