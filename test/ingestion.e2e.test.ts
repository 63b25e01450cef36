import { type Embedder } from '../src/embeddings/embedder';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import {
  createTestMerchant,
  errorCode,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const INGEST = `mutation Ingest($input: IngestDocumentInput!) {
  ingestDocument(input: $input) {
    chunkCount deletedChunks warnings
    document { id title acl metadata contentHash createdAt updatedAt }
  }
}`;
const RETRIEVE = `query R($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { chunks { documentId text citation } }
}`;

type IngestData = {
  ingestDocument: {
    chunkCount: number;
    deletedChunks: number;
    warnings: string[];
    document: {
      id: string;
      title: string;
      acl: string[];
      metadata: Record<string, unknown>;
      contentHash: string;
    };
  };
};

const section = (n: number, words = 120): string =>
  `## Section ${n}\n\n` +
  Array.from(
    { length: words / 10 },
    (_, i) => `Sentence ${i} of section ${n} talks about policy item ${n}.`,
  ).join(' ');

async function chunkRows(t: TestGateway, merchantId: string, documentId: string) {
  return t.db.dataSource.query<
    {
      chunk_index: number;
      chunk_text: string;
      citation: string;
      acl: string[];
      metadata: Record<string, unknown>;
    }[]
  >(
    `SELECT chunk_index, chunk_text, citation, acl, metadata, embedding_model FROM document_chunks
      WHERE merchant_id = $1 AND document_id = $2 ORDER BY chunk_index`,
    [merchantId, documentId],
  );
}

async function documentExists(t: TestGateway, merchantId: string, id: string): Promise<boolean> {
  const rows: unknown[] = await t.db.dataSource.query(
    `SELECT 1 FROM support_documents WHERE merchant_id = $1 AND id = $2`,
    [merchantId, id],
  );
  return rows.length > 0;
}

describe('ingestDocument over HTTP', () => {
  let t: TestGateway;
  let merchant: string;
  let admin: TestIdentity;
  let agent: TestIdentity;

  beforeAll(async () => {
    t = await startTestGateway({ env: { MAX_DOCUMENT_CHARS: '20000' } });
  });
  beforeEach(async () => {
    merchant = await createTestMerchant(t);
    admin = { merchantId: merchant, userId: 'admin1', roles: ['admin'] };
    agent = { merchantId: merchant, userId: 'agent1', roles: ['agent'] };
  });
  afterAll(async () => {
    await t.close();
  });

  const ingest = (input: Record<string, unknown>, as: TestIdentity = admin) =>
    t.gql<IngestData>(INGEST, { input }, as);

  it('writes the document and all its chunks, retrievable by the principals on its ACL', async () => {
    const text = `# Warranty\n\nIntro paragraph about the warranty.\n\n${section(1)}\n\n${section(2)}`;
    const res = await ingest({
      id: 'w1',
      title: 'Warranty',
      text,
      acl: ['role:agent'],
      metadata: { category: 'warranty' },
    });
    expect(res.errors).toBeUndefined();
    const payload = res.data!.ingestDocument;
    expect(payload.document).toMatchObject({
      id: 'w1',
      title: 'Warranty',
      acl: ['role:agent'],
      metadata: { category: 'warranty' },
    });
    expect(payload.document.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(payload.warnings).toEqual([]);
    const rows = await chunkRows(t, merchant, 'w1');
    expect(rows).toHaveLength(payload.chunkCount);
    expect(rows.map((r) => r.chunk_index)).toEqual(rows.map((_, i) => i));
    expect(rows.map((r) => r.citation)).toEqual([
      'Warranty',
      'Warranty §1 Section 1',
      'Warranty §2 Section 2',
    ]);
    for (const r of rows) {
      expect(r.acl).toEqual(['role:agent']);
      expect(r.metadata).toEqual({ category: 'warranty' });
    }
    const found = await t.gql<{ retrieveChunks: { chunks: { documentId: string }[] } }>(
      RETRIEVE,
      { input: { query: 'policy item 2', k: 1 } },
      agent,
    );
    expect(found.data!.retrieveChunks.chunks[0].documentId).toBe('w1');
  });

  it('replaces the previous version atomically when the same id is ingested again', async () => {
    await ingest({
      id: 'p1',
      title: 'Policy',
      text: [1, 2, 3, 4].map((n) => section(n)).join('\n\n'),
      acl: ['role:agent'],
    });
    expect(await chunkRows(t, merchant, 'p1')).toHaveLength(4);
    const res = await ingest({ id: 'p1', title: 'Policy v2', text: section(9), acl: ['role:agent'] });
    expect(res.data!.ingestDocument).toMatchObject({ chunkCount: 1, deletedChunks: 4 });
    const rows = await chunkRows(t, merchant, 'p1');
    expect(rows).toHaveLength(1);
    expect(rows[0].citation).toBe('Policy v2 §1 Section 9');
  });

  it('keeps ids per merchant: the same id in two merchants are two documents', async () => {
    const other = await createTestMerchant(t);
    await ingest({ id: 'same', title: 'Mine', text: 'Ours alone.', acl: ['role:agent'] });
    await ingest(
      { id: 'same', title: 'Theirs', text: 'Theirs alone.', acl: ['role:agent'] },
      { merchantId: other, userId: 'x', roles: ['admin'] },
    );
    expect((await chunkRows(t, merchant, 'same'))[0].chunk_text).toBe('Mine\n\nOurs alone.');
    expect((await chunkRows(t, other, 'same'))[0].chunk_text).toBe('Theirs\n\nTheirs alone.');
  });

  it('rejects malformed ids, cursors and dates on the read side with BAD_USER_INPUT', async () => {
    const q = (query: string, variables: Record<string, unknown>) => t.gql(query, variables, admin);
    expect(errorCode(await q(`query($id: ID!) { document(id: $id) { id } }`, { id: 'a\u0000b' }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await q(`query($id: ID!) { ticket(id: $id) { id } }`, { id: 'a\u0000b' }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await q(`query($id: ID!) { order(id: $id) { id } }`, { id: 'a\u0000b' }))).toBe(
      'BAD_USER_INPUT',
    );
    const crafted = Buffer.from('id:\u0000', 'utf8').toString('base64url');
    expect(
      errorCode(await q(`query($a: String) { documents(after: $a) { nodes { id } } }`, { a: crafted })),
    ).toBe('BAD_USER_INPUT');
    expect(
      errorCode(
        await q(`query($c: String) { documents(filter: { category: $c }) { nodes { id } } }`, {
          c: 'x\u0000',
        }),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      errorCode(
        await q(`query($c: ID) { tickets(filter: { customerId: $c }) { nodes { id } } }`, { c: 'x\u0000' }),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      errorCode(
        await q(`query($d: DateTime) { documents(filter: { updatedSince: $d }) { nodes { id } } }`, {
          d: '0000-01-01T00:00:00Z',
        }),
      ),
    ).toBe('BAD_USER_INPUT');
  });

  it('refuses callers without an ingest role with FORBIDDEN and writes nothing', async () => {
    const res = await ingest({ id: 'nope', title: 'T', text: 'Body.', acl: ['role:agent'] }, agent);
    expect(errorCode(res)).toBe('FORBIDDEN');
    expect(await documentExists(t, merchant, 'nope')).toBe(false);
  });

  it('refuses a merchant that is not provisioned with MERCHANT_NOT_PROVISIONED', async () => {
    const res = await ingest(
      { id: 'x', title: 'T', text: 'Body.', acl: [] },
      { merchantId: 'ghost-merchant', userId: 'a', roles: ['admin'] },
    );
    expect(errorCode(res)).toBe('MERCHANT_NOT_PROVISIONED');
  });

  it('accepts an empty ACL, says nobody can read it, and indeed nobody can', async () => {
    const res = await ingest({ id: 'hidden', title: 'Hidden', text: 'Secret refund rules.', acl: [] });
    expect(res.data!.ingestDocument.warnings[0]).toMatch(/nobody can read/);
    const found = await t.gql<{ retrieveChunks: { chunks: unknown[] } }>(
      RETRIEVE,
      { input: { query: 'secret refund rules', k: 50 } },
      admin,
    );
    expect(found.data!.retrieveChunks.chunks).toHaveLength(0);
  });

  it.each([
    ['empty text', { text: '   ' }],
    ['text over the size limit', { text: 'a '.repeat(10_001) }],
    ['a NUL byte', { text: 'before \u0000 after' }],
    ['an unpaired surrogate (not valid UTF-8)', { text: 'broken \ud800 text' }],
    ['an empty title', { title: '' }],
    ['metadata that is not an object', { metadata: [1, 2] }],
    ['metadata over 16 KiB', { metadata: { blob: 'x'.repeat(17_000) } }],
    ['a metadata key with an unpaired surrogate', { metadata: { 'k\udc00': 1 } }],
    [
      'metadata nested too deep',
      { metadata: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } },
    ],
    ['a malformed ACL entry', { acl: ['role:agent', 'bad principal!'] }],
    ['an id with spaces', { id: 'has spaces' }],
  ])('rejects %s with BAD_USER_INPUT and writes nothing', async (_label, override) => {
    const input = { id: 'bad', title: 'Bad', text: 'Valid text.', acl: ['role:agent'], ...override };
    const res = await ingest(input);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0].message.length).toBeGreaterThan(10);
    expect(await documentExists(t, merchant, 'bad')).toBe(false);
    expect(await documentExists(t, merchant, 'has spaces')).toBe(false);
  });
});

describe('ingestion that fails half-way leaves nothing behind', () => {
  it('an embedding provider failure writes nothing and keeps the previous version', async () => {
    let fail = false;
    const local = new LocalHashEmbedder(1536);
    const flaky: Embedder = {
      model: local.model,
      dimensions: 1536,
      embed: (texts) => (fail ? Promise.reject(new Error('upstream 503')) : local.embed(texts)),
    };
    const t = await startTestGateway({ embedder: flaky });
    try {
      const merchant = await createTestMerchant(t);
      const admin = { merchantId: merchant, userId: 'a', roles: ['admin'] };
      await t.gql(INGEST, { input: { id: 'd', title: 'Doc', text: 'Version one.', acl: ['a'] } }, admin);
      fail = true;
      const res = await t.gql(
        INGEST,
        { input: { id: 'd', title: 'Doc', text: 'Version two.', acl: ['a'] } },
        admin,
      );
      expect(errorCode(res)).toBe('EMBEDDING_FAILED');
      const fresh = await t.gql(
        INGEST,
        { input: { id: 'new', title: 'New', text: 'Never stored.', acl: ['a'] } },
        admin,
      );
      expect(errorCode(fresh)).toBe('EMBEDDING_FAILED');
      const rows: { chunk_text: string }[] = await t.db.dataSource.query(
        `SELECT chunk_text FROM document_chunks WHERE merchant_id = $1 ORDER BY document_id`,
        [merchant],
      );
      expect(rows.map((r) => r.chunk_text)).toEqual(['Doc\n\nVersion one.']);
      const docs: { id: string; body: string }[] = await t.db.dataSource.query(
        `SELECT id, body FROM support_documents WHERE merchant_id = $1`,
        [merchant],
      );
      expect(docs).toEqual([{ id: 'd', body: 'Version one.' }]);
    } finally {
      await t.close();
    }
  });

  it('a database error after the document row was written rolls everything back', async () => {
    // In "broken" mode the embedder claims and returns 1535 dimensions, so validation passes; PostgreSQL then
    // rejects the chunk INSERT (the corpus version is 1536-d, enforced by a trigger) after the document upsert
    // has already run in the same transaction.
    const good = new LocalHashEmbedder(1536);
    const short = new LocalHashEmbedder(1535);
    let broken = false;
    const embedder: Embedder = {
      model: good.model,
      get dimensions() {
        return broken ? 1535 : 1536;
      },
      embed: (texts) => (broken ? short : good).embed(texts),
    };
    const t = await startTestGateway({ embedder });
    try {
      const merchant = await createTestMerchant(t);
      const admin = { merchantId: merchant, userId: 'a', roles: ['admin'] };
      const v1 = { id: 'd', title: 'Doc', text: 'Version one.', acl: ['a'], metadata: { v: 1 } };
      expect((await t.gql(INGEST, { input: v1 }, admin)).errors).toBeUndefined();
      const snapshot = () =>
        t.db.dataSource.query<unknown[]>(
          `SELECT d.id, d.title, d.body, d.metadata, d.updated_at, c.chunk_text, c.embedding::text AS e
             FROM support_documents d
             LEFT JOIN document_chunks c ON c.merchant_id = d.merchant_id AND c.document_id = d.id
            WHERE d.merchant_id = $1 ORDER BY d.id, c.chunk_index`,
          [merchant],
        );
      const before = await snapshot();
      expect(before).toHaveLength(1);

      broken = true;
      const replaced = await t.gql(
        INGEST,
        { input: { ...v1, title: 'Doc v2', text: 'Version two.', metadata: { v: 2 } } },
        admin,
      );
      expect(errorCode(replaced)).toBe('INTERNAL_SERVER_ERROR');
      expect(JSON.stringify(replaced.errors)).not.toMatch(/dimensions|INSERT|vector\(/);
      const created = await t.gql(
        INGEST,
        { input: { id: 'brand-new', title: 'New', text: 'Never stored.', acl: ['a'] } },
        admin,
      );
      expect(errorCode(created)).toBe('INTERNAL_SERVER_ERROR');

      expect(await snapshot()).toEqual(before);
      // The connection is usable afterwards: the failed transaction was rolled back, not left open.
      broken = false;
      expect(
        (await t.gql(INGEST, { input: { ...v1, text: 'Version three.' } }, admin)).errors,
      ).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
