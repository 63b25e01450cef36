import crypto from 'node:crypto';
import { Client } from 'pg';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';
import { nativeTestUrl } from './support/test-env';

const vec = (seed: number): string =>
  `[${Array.from({ length: 1536 }, (_, i) => (i === seed % 1536 ? 1 : 0)).join(',')}]`;

/** Runs SQL and returns the SQLSTATE it failed with, or 'ok'. */
async function sqlState(t: TestGateway, sql: string, params: unknown[] = []): Promise<string> {
  try {
    await t.db.dataSource.query(sql, params);
    return 'ok';
  } catch (err) {
    return String(
      (err as { driverError?: { code?: string }; code?: string }).driverError?.code ??
        (err as { code?: string }).code,
    );
  }
}

describe('document_chunks integrity, enforced by the database', () => {
  let t: TestGateway;
  let m1: string;
  let m2: string;
  const insertChunk = (merchant: string, doc: string | null, ticket: string | null, index = 0) =>
    sqlState(
      t,
      `INSERT INTO document_chunks (merchant_id, document_id, ticket_id, corpus_version, chunk_index, chunk_text, content_hash, citation, embedding, embedding_model)
       VALUES ($1, $2, $3, 1, $4, 'text', 'h', 'c', $5::vector, 'm')`,
      [merchant, doc, ticket, index, vec(index)],
    );

  beforeAll(async () => {
    t = await startTestGateway();
    m1 = await createTestMerchant(t);
    m2 = await createTestMerchant(t);
    for (const m of [m1, m2]) {
      await t.db.dataSource.query(
        `INSERT INTO support_documents (merchant_id, id, title, body, content_hash) VALUES ($1, 'd7', 'Doc', 'b', 'h')`,
        [m],
      );
    }
    await t.db.dataSource.query(
      `INSERT INTO support_documents (merchant_id, id, title, body, content_hash) VALUES ($1, 'only-m1', 'Doc', 'b', 'h')`,
      [m1],
    );
    await t.db.dataSource.query(
      `INSERT INTO tickets (merchant_id, id, customer_id, subject, status, content_hash) VALUES ($1, 't1', 'c', 's', 'open', 'h')`,
      [m1],
    );
  });
  afterAll(async () => {
    await t.close();
  });

  it("accepts a chunk whose merchant is its source's merchant", async () => {
    expect(await insertChunk(m1, 'd7', null, 0)).toBe('ok');
    expect(await insertChunk(m2, 'd7', null, 0)).toBe('ok'); // same document id, other merchant: its own d7
    expect(await insertChunk(m1, null, 't1', 0)).toBe('ok');
  });

  it("rejects a chunk that claims another merchant than its document's or ticket's", async () => {
    expect(await insertChunk(m2, 'only-m1', null, 5)).toBe('23503');
    expect(await insertChunk(m2, null, 't1', 5)).toBe('23503');
  });

  it('rejects moving a chunk to another merchant, or moving a document away from its chunks', async () => {
    expect(await insertChunk(m1, 'only-m1', null, 0)).toBe('ok');
    expect(
      await sqlState(
        t,
        `UPDATE document_chunks SET merchant_id = $2 WHERE merchant_id = $1 AND document_id = 'only-m1'`,
        [m1, m2],
      ),
    ).toBe('23503');
    expect(
      await sqlState(
        t,
        `UPDATE support_documents SET merchant_id = $2 WHERE merchant_id = $1 AND id = 'only-m1'`,
        [m1, m2],
      ),
    ).toBe('23503');
  });

  it('requires exactly one source per chunk', async () => {
    expect(await insertChunk(m1, 'd7', 't1', 9)).toBe('23514');
    expect(await insertChunk(m1, null, null, 9)).toBe('23514');
  });

  it('keeps (merchant, document, chunk_index) unique', async () => {
    expect(await insertChunk(m1, 'd7', null, 3)).toBe('ok');
    expect(await insertChunk(m1, 'd7', null, 3)).toBe('23505');
  });

  it("rejects vectors of another size than the corpus version's, and NaN", async () => {
    expect(
      await sqlState(
        t,
        `INSERT INTO document_chunks (merchant_id, document_id, corpus_version, chunk_index, chunk_text, content_hash, citation, embedding, embedding_model)
         VALUES ($1, 'd7', 1, 77, 't', 'h', 'c', '[1,2,3]'::vector, 'm')`,
        [m1],
      ),
    ).not.toBe('ok');
    expect(
      await sqlState(
        t,
        `INSERT INTO document_chunks (merchant_id, document_id, corpus_version, chunk_index, chunk_text, content_hash, citation, embedding, embedding_model)
         VALUES ($1, 'd7', 1, 78, 't', 'h', 'c', $2::vector, 'm')`,
        [m1, vec(0).replace('[1,', '[NaN,')],
      ),
    ).not.toBe('ok');
  });

  it("deletes a document's chunks with the document, and only that merchant's", async () => {
    await t.db.dataSource.query(`DELETE FROM support_documents WHERE merchant_id = $1 AND id = 'd7'`, [m2]);
    const left: { merchant_id: string }[] = await t.db.dataSource.query(
      `SELECT merchant_id FROM document_chunks WHERE merchant_id = ANY($1) AND document_id = 'd7'`,
      [[m1, m2]],
    );
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((r) => r.merchant_id === m1)).toBe(true);
  });

  it('stores a tsvector for keyword search and has every named index', async () => {
    const rows: { indexname: string }[] = await t.db.dataSource.query(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'document_chunks' ORDER BY indexname`,
    );
    expect(rows.map((r) => r.indexname)).toEqual(
      expect.arrayContaining([
        'document_chunks_scan_idx',
        'document_chunks_search_terms_idx',
        'document_chunks_metadata_gin_idx',
      ]),
    );
    // No GIN on the ACL (every read is one merchant's, through merchant-leading btrees; migration 1765360000000)
    // and no unweighted search_tsv any more (1765360000001).
    expect(rows.map((r) => r.indexname)).not.toContain('document_chunks_acl_gin_idx');
    expect(rows.map((r) => r.indexname)).not.toContain('document_chunks_search_tsv_idx');
    const hit: unknown[] = await t.db.dataSource.query(
      `SELECT 1 FROM document_chunks WHERE merchant_id = 'm01' AND search_terms @@ plainto_tsquery('english', 'refunds granted')`,
    );
    expect(hit.length).toBeGreaterThan(0);
    // No HNSW index shared by all merchants: only merchant-dedicated ones (see migrations/1763900000000).
    expect(rows.map((r) => r.indexname).filter((n) => n.includes('hnsw'))).toEqual(
      rows.map((r) => r.indexname).filter((n) => /^document_chunks_hnsw_\d+_\d+$/.test(n)),
    );
    const bits: { bq: string }[] = await t.db.dataSource.query(
      `SELECT embedding_bq::text AS bq FROM document_chunks WHERE merchant_id = 'm01' LIMIT 1`,
    );
    expect(bits[0].bq).toMatch(/^[01]{1536}$/);
  });
});

describe('migrations', () => {
  // Every migration down and up again: over a minute on the embedded database at a load of 20.
  it('apply, revert and re-apply cleanly on an empty database', async () => {
    const url = nativeTestUrl();
    let dbName: string | undefined;
    let config;
    if (url) {
      dbName = `srg_migrations_${crypto.randomBytes(4).toString('hex')}`;
      const admin = new Client({ connectionString: url });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`); // name generated above, not user input
      await admin.end();
      const u = new URL(url);
      u.pathname = `/${dbName}`;
      config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: u.toString() });
    } else {
      config = loadConfig({ NODE_ENV: 'test', PGLITE_DATA_DIR: 'memory://' });
    }
    const db = await openDatabase(config, { migrate: true });
    try {
      const tables = async () =>
        (
          await db.dataSource.query<{ table_name: string }[]>(
            `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY 1`,
          )
        ).map((r) => r.table_name);
      const all = [
        'api_keys',
        'corpus_versions',
        'document_chunks',
        'merchant_vector_indexes',
        'merchants',
        'orders',
        'support_documents',
        'tickets',
      ];
      const statistics = ['search_corpus_statistics', 'search_term_statistics'];
      expect(await tables()).toEqual(
        [...all, 'retrieval_calibrations', 'tenant_claim_keys', ...statistics, 'search_synonyms'].sort(),
      );
      const secured = async () =>
        (
          await db.dataSource.query<{ relname: string }[]>(
            `SELECT relname FROM pg_class WHERE relrowsecurity AND relnamespace = 'public'::regnamespace ORDER BY 1`,
          )
        ).map((r) => r.relname);
      // Every tenant table; api_keys is read before the merchant is known, by the owner connection only. The
      // claim keys have RLS on and no policy: the owner's alone.
      expect(await secured()).toEqual(
        [
          ...all.filter((name) => name !== 'api_keys'),
          'retrieval_calibrations',
          'tenant_claim_keys',
          ...statistics,
          'search_synonyms',
        ].sort(),
      );
      const policyExpressions = async () =>
        (
          await db.dataSource.query<{ q: string }[]>(
            `SELECT policyname || ': ' || qual AS q FROM pg_policies WHERE policyname LIKE '%manage' ORDER BY 1`,
          )
        ).map((r) => r.q);
      expect((await policyExpressions()).every((q) => q.includes('app_manager_merchant_id()'))).toBe(true);
      const principalsReader = async () =>
        (
          await db.dataSource.query<{ src: string }[]>(
            `SELECT prosrc AS src FROM pg_proc WHERE proname = 'app_principals'`,
          )
        )[0].src;
      // One verification per statement: app_principals() is the plain reader.
      expect(await principalsReader()).not.toContain('app_verified_capability');
      const chunkIndexes = async () =>
        (
          await db.dataSource.query<{ indexname: string }[]>(
            `SELECT indexname FROM pg_indexes WHERE tablename = 'document_chunks' ORDER BY 1`,
          )
        ).map((r) => r.indexname);
      const hasSearchTsv = async () =>
        (
          await db.dataSource.query<unknown[]>(
            `SELECT 1 FROM pg_attribute WHERE attrelid = 'document_chunks'::regclass AND attname = 'search_tsv' AND NOT attisdropped`,
          )
        ).length > 0;
      expect(await hasSearchTsv()).toBe(false);
      expect(await chunkIndexes()).not.toContain('document_chunks_acl_gin_idx');
      const hasChunkedWith = async () =>
        (
          await db.dataSource.query<unknown[]>(
            `SELECT 1 FROM pg_attribute WHERE attrelid = 'support_documents'::regclass AND attname = 'chunked_with' AND NOT attisdropped`,
          )
        ).length > 0;
      expect(await hasChunkedWith()).toBe(true);
      // Down one step: the wide chunk columns are analyzed again (statistics target back to the default).
      const statisticsTargets = async () =>
        (
          await db.dataSource.query<{ attname: string; target: number | null }[]>(
            `SELECT attname, attstattarget AS target FROM pg_attribute
              WHERE attrelid = 'document_chunks'::regclass AND attname IN ('chunk_text', 'embedding', 'embedding_bq')
              ORDER BY attname`,
          )
        ).map((r) => `${r.attname}=${r.target === null || r.target < 0 ? 'default' : r.target}`);
      expect(await statisticsTargets()).toEqual(['chunk_text=0', 'embedding=0', 'embedding_bq=0']);
      const languageOf = async (fn: string) =>
        (
          await db.dataSource.query<{ lang: string }[]>(
            `SELECT l.lanname AS lang FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
              WHERE p.proname = $1`,
            [fn],
          )
        ).map((r) => r.lang);
      // Down one step: calibrations no longer record their outcome or budget attempts.
      const calibrationColumns = async () =>
        (
          await db.dataSource.query<{ n: string }[]>(
            `SELECT attname AS n FROM pg_attribute WHERE attrelid = 'retrieval_calibrations'::regclass
                AND attname IN ('outcome', 'budget_attempts') AND NOT attisdropped ORDER BY 1`,
          )
        ).map((r) => r.n);
      expect(await calibrationColumns()).toEqual(['budget_attempts', 'outcome']);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await calibrationColumns()).toEqual([]);
      // Up again over rows from before: what can be known is filled in; a measured 'none' stays unknown.
      const legacy = [
        ['mig-small', 'none', 0],
        ['mig-measured', 'hnsw', 50],
        ['mig-none', 'none', 50],
      ] as const;
      for (const [merchant, path, sample] of legacy) {
        await db.dataSource.query(`INSERT INTO merchants (id, name) VALUES ($1, $1)`, [merchant]);
        await db.dataSource.query(
          `INSERT INTO corpus_versions (merchant_id, version, embedding_model, dimensions, state)
           VALUES ($1, 1, 'local-hash-v1', 1536, 'active')`,
          [merchant],
        );
        await db.dataSource.query(
          `INSERT INTO retrieval_calibrations (merchant_id, corpus_version, path, exact_max_readable, sample_size,
             merchant_rows, took_ms) VALUES ($1, 1, $2, 1000, $3, 5000, 10)`,
          [merchant, path, sample],
        );
      }
      await db.dataSource.runMigrations({ transaction: 'each' });
      expect(
        await db.dataSource.query(
          `SELECT merchant_id, outcome, budget_attempts FROM retrieval_calibrations ORDER BY merchant_id`,
        ),
      ).toEqual([
        { merchant_id: 'mig-measured', outcome: 'measured', budget_attempts: 0 },
        { merchant_id: 'mig-none', outcome: null, budget_attempts: 0 },
        { merchant_id: 'mig-small', outcome: 'small', budget_attempts: 0 },
      ]);
      await db.dataSource.query(`DELETE FROM merchants WHERE id LIKE 'mig-%'`);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      // Down one step: vector_index_ready is SQL again (the same query).
      expect(await languageOf('vector_index_ready')).toEqual(['plpgsql']);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await languageOf('vector_index_ready')).toEqual(['sql']);
      // Down one step: search_terms_of is SQL again (same expression).
      const searchTermsLanguage = () => languageOf('search_terms_of');
      expect(await searchTermsLanguage()).toEqual(['plpgsql']);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await searchTermsLanguage()).toEqual(['sql']);
      // Down one step: calibrations no longer name the index they measured.
      const hasMeasuredIndex = async () =>
        (
          await db.dataSource.query<unknown[]>(
            `SELECT 1 FROM pg_attribute WHERE attrelid = 'retrieval_calibrations'::regclass AND attname = 'measured_index' AND NOT attisdropped`,
          )
        ).length > 0;
      expect(await hasMeasuredIndex()).toBe(true);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await hasMeasuredIndex()).toBe(false);
      expect(await statisticsTargets()).toEqual(['chunk_text=0', 'embedding=0', 'embedding_bq=0']);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await statisticsTargets()).toEqual([
        'chunk_text=default',
        'embedding=default',
        'embedding_bq=default',
      ]);
      // Down one step: the chunker signature column is gone.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await hasChunkedWith()).toBe(false);
      // Down one step: the unweighted search_tsv and its index are back.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await hasSearchTsv()).toBe(true);
      expect(await chunkIndexes()).toContain('document_chunks_search_tsv_idx');
      // Down another: the ACL GIN index is back.
      expect(await chunkIndexes()).not.toContain('document_chunks_acl_gin_idx');
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await chunkIndexes()).toContain('document_chunks_acl_gin_idx');
      // Down one step: vectors back to the type's storage (TOAST), the table's toast target reset.
      const embeddingStorage = async () =>
        (
          await db.dataSource.query<{ storage: string; options: string[] | null }[]>(
            `SELECT a.attstorage AS storage, c.reloptions AS options FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE a.attrelid = 'document_chunks'::regclass AND a.attname = 'embedding'`,
          )
        )[0];
      expect(await embeddingStorage()).toEqual({ storage: 'm', options: ['toast_tuple_target=8160'] });
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await embeddingStorage()).toEqual({ storage: 'e', options: null });
      // Down another: no synonyms.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual(
        [...all, 'retrieval_calibrations', 'tenant_claim_keys', ...statistics].sort(),
      );
      // Down another: the dedicated indexes' bounds and the (merchant_id, id) btree gone.
      const tailSchema = async () => [
        ...(
          await db.dataSource.query<{ n: string }[]>(
            `SELECT column_name AS n FROM information_schema.columns
              WHERE table_name = 'merchant_vector_indexes' AND column_name = 'max_chunk_id'`,
          )
        ).map((r) => r.n),
        ...(
          await db.dataSource.query<{ n: string }[]>(
            `SELECT indexname AS n FROM pg_indexes WHERE indexname = 'document_chunks_merchant_id_idx'`,
          )
        ).map((r) => r.n),
      ];
      expect(await tailSchema()).toEqual(['max_chunk_id', 'document_chunks_merchant_id_idx']);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tailSchema()).toEqual([]);
      // Down another: vector_index_ready() gone.
      const indexReady = () =>
        db.dataSource.query<unknown[]>(`SELECT proname FROM pg_proc WHERE proname = 'vector_index_ready'`);
      expect(await indexReady()).toHaveLength(1);
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await indexReady()).toEqual([]);
      // Down another: the claims on Citus, which changed nothing on a database without the citus extension.
      const binding = async () =>
        (
          await db.dataSource.query<{ src: string }[]>(
            `SELECT prosrc AS src FROM pg_proc WHERE proname = 'app_claim_binding'`,
          )
        )[0].src;
      expect(await binding()).toContain('pg_backend_pid()');
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await binding()).toContain('pg_backend_pid()');
      // Down another: weighted search terms.
      const chunkColumns = async () =>
        (
          await db.dataSource.query<{ attname: string }[]>(
            `SELECT attname FROM pg_attribute WHERE attrelid = 'document_chunks'::regclass AND attnum > 0 AND NOT attisdropped`,
          )
        ).map((r) => r.attname);
      expect(await chunkColumns()).toContain('search_terms');
      // No weighted search terms, no term statistics, no triggers keeping them.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual([...all, 'retrieval_calibrations', 'tenant_claim_keys'].sort());
      expect(await chunkColumns()).not.toContain('search_terms');
      expect(
        await db.dataSource.query(
          `SELECT tgname FROM pg_trigger WHERE tgrelid = 'document_chunks'::regclass AND tgname LIKE '%statistics%'`,
        ),
      ).toEqual([]);
      // Down one step: the Citus distribution, which changed nothing on a database without the citus extension.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect((await policyExpressions()).every((q) => q.includes('app_manager_merchant_id()'))).toBe(true);
      // Down another: no retrieval calibrations.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual([...all, 'tenant_claim_keys'].sort());
      // Down another: app_principals() verifies the claim again.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await principalsReader()).toContain('app_verified_capability');
      // Down one more: signed claims gone, the manager policies back on the plain setting reader.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual(all);
      expect(await secured()).toEqual(all.filter((name) => name !== 'api_keys'));
      expect(await policyExpressions()).toHaveLength(4);
      expect((await policyExpressions()).every((q) => q.includes('app_merchant_id()'))).toBe(true);
      expect(
        await db.dataSource.query(`SELECT proname FROM pg_proc WHERE proname = 'app_verified_capability'`),
      ).toEqual([]);
      // Down one step: row-level security off, its policies and functions gone, the tables intact.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await secured()).toEqual([]);
      expect(await db.dataSource.query(`SELECT policyname FROM pg_policies`)).toEqual([]);
      expect(await tables()).toEqual(all);
      const indexes = async () =>
        (
          await db.dataSource.query<{ indexname: string }[]>(
            `SELECT indexname FROM pg_indexes WHERE tablename = 'document_chunks' ORDER BY 1`,
          )
        ).map((r) => r.indexname);
      // Down one more: no API keys.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual(all.filter((name) => name !== 'api_keys'));
      // Down another: the shared HNSW index and the plain merchant index are back, the quantized column gone.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      const versioned = all.filter((name) => name !== 'merchant_vector_indexes' && name !== 'api_keys');
      expect(await tables()).toEqual(versioned);
      expect(await indexes()).toEqual(
        expect.arrayContaining(['document_chunks_embedding_hnsw_idx', 'document_chunks_merchant_idx']),
      );
      expect(await indexes()).not.toContain('document_chunks_scan_idx');
      // Down another: back to the first schema, with its fixed-size vector column.
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual(versioned.filter((name) => name !== 'corpus_versions'));
      const type = await db.dataSource.query<{ t: string }[]>(
        `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute
          WHERE attrelid = 'document_chunks'::regclass AND attname = 'embedding'`,
      );
      expect(type[0].t).toBe('vector(1536)');
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual([]);
      await db.dataSource.runMigrations({ transaction: 'each' });
      expect(await tables()).toEqual(
        [...all, 'retrieval_calibrations', 'tenant_claim_keys', ...statistics, 'search_synonyms'].sort(),
      );
      expect(await statisticsTargets()).toEqual(['chunk_text=0', 'embedding=0', 'embedding_bq=0']);
      expect(await searchTermsLanguage()).toEqual(['plpgsql']);
    } finally {
      await db.close();
      if (url && dbName) {
        const admin = new Client({ connectionString: url });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
        await admin.end();
      }
    }
    // A fresh embedded database plus every migration three times: over a minute on PGlite on a loaded machine.
  }, 180_000);
});
