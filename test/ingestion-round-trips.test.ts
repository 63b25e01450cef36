import pg from 'pg';
import { type Embedder } from '../src/embeddings/embedder';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import {
  createTestMerchant,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

/**
 * What one write costs in statements (issue 13): per-request costs dominate small writes (a ticket, a re-ingest),
 * so the writer's statement count is part of its contract. Counted at the pg client over real HTTP; the gateway's
 * only other statements in this file are none (no background builds, no calibration).
 */
describe('ingestion round trips', () => {
  let t: TestGateway;
  let admin: TestIdentity;

  async function statements<T>(fn: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    const sent: string[] = [];
    proto.query = function (this: unknown, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text;
      sent.push(String(text).replace(/\s+/g, ' ').slice(0, 80));
      return original.apply(this, args);
    };
    try {
      return { result: await fn(), sent };
    } finally {
      proto.query = original;
    }
  }

  const INGEST = `mutation($input: IngestDocumentInput!) { ingestDocument(input: $input) { unchanged chunkCount } }`;
  const TICKET = `mutation($input: IngestTicketInput!) { ingestTicket(input: $input) { chunkCount } }`;
  const doc = {
    id: 'guide',
    title: 'Guide',
    text: [
      '## Returns\n\nWithin 30 days.',
      '## Refunds\n\nFive business days.',
      '## Contact\n\nWrite to us.',
    ].join('\n\n'),
    acl: ['role:agent'],
  };

  beforeAll(async () => {
    t = await startTestGateway({
      env: { RETRIEVAL_INDEX_AUTOBUILD: 'false' },
    });
    admin = { merchantId: await createTestMerchant(t), userId: 'ada', roles: ['admin'] };
  });
  afterAll(async () => {
    await t.close();
  });

  const storedRow = async (): Promise<{ xmin: string; chunked_with: string | null }> =>
    (
      await t.db.dataSource.query<{ xmin: string; chunked_with: string | null }[]>(
        `SELECT xmin::text, chunked_with FROM support_documents WHERE merchant_id = $1 AND id = 'guide'`,
        [admin.merchantId],
      )
    )[0];
  const storedChunks = async (version = 1): Promise<string[]> =>
    (
      await t.db.dataSource.query<{ chunk_text: string }[]>(
        `SELECT chunk_text FROM document_chunks
          WHERE merchant_id = $1 AND document_id = 'guide' AND corpus_version = $2 ORDER BY chunk_index`,
        [admin.merchantId, version],
      )
    ).map((r) => r.chunk_text);

  it('answers an unchanged re-ingest from one read before chunking, writing nothing', async () => {
    expect((await t.gql(INGEST, { input: doc }, admin)).errors).toBeUndefined();
    const before = await storedRow();
    expect(before.chunked_with).toMatch(/^chunker-v\d+;/);
    const { result, sent } = await statements(() => t.gql(INGEST, { input: doc }, admin));
    expect(result.data).toEqual({ ingestDocument: { unchanged: true, chunkCount: 3 } });
    expect(sent.filter((s) => /^COMMIT/i.test(s))).toHaveLength(1);
    expect(sent.filter((s) => /^\s*(INSERT|UPDATE|DELETE)/i.test(s))).toEqual([]);
    // BEGIN with the tenant settings and request tag in one round trip, the one read, COMMIT (was 7 statements
    // with a chunking of the text; two transactions and 16 before that).
    expect(sent.filter((s) => !/^SELECT app_claim_binding/i.test(s)).length).toBe(3);
    expect(sent.filter((s) => /^SELECT d\.merchant_id, d\.id/.test(s))).toHaveLength(1);
    expect(await storedRow()).toEqual(before);
  });

  it('re-chunks an unchanged document whose chunks were cut with another chunker, and records the signature', async () => {
    // As if stored by an older chunker: other chunks and another signature (the row itself unchanged).
    await t.db.dataSource.query(
      `UPDATE support_documents SET chunked_with = 'chunker-v0;older' WHERE merchant_id = $1 AND id = 'guide'`,
      [admin.merchantId],
    );
    await t.db.dataSource.query(
      `DELETE FROM document_chunks WHERE merchant_id = $1 AND document_id = 'guide' AND chunk_index > 0`,
      [admin.merchantId],
    );
    const res = await t.gql<{ ingestDocument: { unchanged: boolean; chunkCount: number } }>(
      INGEST,
      { input: doc },
      admin,
    );
    expect(res.data?.ingestDocument).toEqual({ unchanged: false, chunkCount: 3 });
    expect(await storedChunks()).toHaveLength(3);
    const signed = await storedRow();
    expect(signed.chunked_with).toMatch(/^chunker-v\d+;/);
    expect(signed.chunked_with).not.toBe('chunker-v0;older');
    // The next one is the fast path again.
    const again = await statements(() => t.gql(INGEST, { input: doc }, admin));
    expect(again.result.data).toEqual({ ingestDocument: { unchanged: true, chunkCount: 3 } });
    expect(again.sent.filter((s) => /^\s*(INSERT|UPDATE|DELETE)/i.test(s))).toEqual([]);
  });

  it('records the signature of a document stored before it existed, without rewriting its row or chunks', async () => {
    await t.db.dataSource.query(
      `UPDATE support_documents SET chunked_with = NULL WHERE merchant_id = $1 AND id = 'guide'`,
      [admin.merchantId],
    );
    const before = await storedRow();
    const chunksBefore = await t.db.dataSource.query<{ id: string }[]>(
      `SELECT id::text FROM document_chunks WHERE merchant_id = $1 AND document_id = 'guide' ORDER BY id`,
      [admin.merchantId],
    );
    const res = await t.gql(INGEST, { input: doc }, admin);
    expect(res.data).toEqual({ ingestDocument: { unchanged: true, chunkCount: 3 } });
    const after = await storedRow();
    expect(after.chunked_with).toMatch(/^chunker-v\d+;/);
    expect(after.xmin).not.toBe(before.xmin); // the signature was written
    expect(
      await t.db.dataSource.query<{ id: string }[]>(
        `SELECT id::text FROM document_chunks WHERE merchant_id = $1 AND document_id = 'guide' ORDER BY id`,
        [admin.merchantId],
      ),
    ).toEqual(chunksBefore);
  });

  it('takes the full path while another corpus version is being built, so the re-ingest reaches it too', async () => {
    const [active] = await t.db.dataSource.query<{ embedding_model: string; dimensions: number }[]>(
      `SELECT embedding_model, dimensions FROM corpus_versions WHERE merchant_id = $1 AND state = 'active'`,
      [admin.merchantId],
    );
    await t.db.dataSource.query(
      `INSERT INTO corpus_versions (merchant_id, version, embedding_model, dimensions, state)
       VALUES ($1, 2, $2, $3, 'building')`,
      [admin.merchantId, active.embedding_model, active.dimensions],
    );
    try {
      const res = await t.gql(INGEST, { input: doc }, admin);
      expect(res.errors).toBeUndefined();
      expect(await storedChunks(2)).toEqual(await storedChunks(1));
      expect(await storedChunks(2)).toHaveLength(3);
    } finally {
      await t.db.dataSource.query(
        `DELETE FROM document_chunks WHERE merchant_id = $1 AND corpus_version = 2`,
        [admin.merchantId],
      );
      await t.db.dataSource.query(`DELETE FROM corpus_versions WHERE merchant_id = $1 AND version = 2`, [
        admin.merchantId,
      ]);
    }
  });

  it('is not fooled by an ACL changed since: re-ingesting the old ACL writes it back to the chunks', async () => {
    const UPDATE_ACL = `mutation($id: ID!, $acl: [String!]!) { updateDocumentAcl(id: $id, acl: $acl) { id } }`;
    expect((await t.gql(UPDATE_ACL, { id: 'guide', acl: ['role:staff'] }, admin)).errors).toBeUndefined();
    const res = await t.gql<{ ingestDocument: { unchanged: boolean } }>(INGEST, { input: doc }, admin);
    expect(res.data?.ingestDocument.unchanged).toBe(false);
    const acl = await t.db.dataSource.query<{ acl: string[] }[]>(
      `SELECT DISTINCT acl FROM document_chunks WHERE merchant_id = $1 AND document_id = 'guide'`,
      [admin.merchantId],
    );
    expect(acl).toEqual([{ acl: ['role:agent'] }]);
  });

  it('writes a changed ACL although text and chunks are unchanged', async () => {
    const res = await t.gql<{ ingestDocument: { unchanged: boolean } }>(
      INGEST,
      { input: { ...doc, acl: ['role:agent', 'role:contractor'] } },
      admin,
    );
    expect(res.data?.ingestDocument.unchanged).toBe(false);
    const acl = await t.db.dataSource.query<{ acl: string[] }[]>(
      `SELECT DISTINCT acl FROM document_chunks WHERE merchant_id = $1 AND document_id = 'guide'`,
      [admin.merchantId],
    );
    expect(acl).toEqual([{ acl: ['role:agent', 'role:contractor'] }]);
  });

  it('writes a new ticket in one transaction of six statements', async () => {
    const ticket = (id: string) => ({
      input: {
        id,
        customerId: 'c1',
        subject: 'Parcel late',
        status: 'OPEN',
        acl: ['role:agent'],
        messages: [{ author: 'CUSTOMER', body: `My parcel ${id} is a week late.` }],
      },
    });
    // The first write of a process (or a connection) looks up once what it caches: the merchant, the claim key and
    // the connection's binding, the vector type's oid. Counted after it.
    expect((await t.gql(TICKET, ticket('t-warm'), admin)).errors).toBeUndefined();
    const { result, sent } = await statements(() => t.gql(TICKET, ticket('t-rt'), admin));
    expect(result.errors).toBeUndefined();
    const steady = sent.filter((s) => !/^SELECT app_claim_binding/i.test(s));
    // With an embedder in this process, one transaction: BEGIN with the tenant settings and request tag in one
    // query, merchant lock with the live versions, the ticket, the cached vectors of its texts, its chunks, COMMIT.
    // A new row has no chunks to list. Was 16, then 14 (the lock and the versions one statement), then 10 (BEGIN,
    // tag and settings one round trip) in a read transaction and a write transaction.
    expect(steady.filter((s) => /^COMMIT/i.test(s))).toHaveLength(1);
    expect(steady.filter((s) => /^BEGIN; SET LOCAL/.test(s))).toHaveLength(1);
    expect(steady.length).toBe(6);
  });

  it('plans before the write transaction when the embedder is a provider outside this process', async () => {
    // The same vectors, from an embedder that does not say it runs in this process (a provider, as far as the
    // writer knows): no locks may be held while it answers, so a read transaction plans and embeds first.
    const local = new LocalHashEmbedder(t.config.embedding.dimensions);
    const provider: Embedder = {
      model: local.model,
      dimensions: local.dimensions,
      embed: (texts) => local.embed(texts),
    };
    const remote = await startTestGateway({
      env: { RETRIEVAL_INDEX_AUTOBUILD: 'false' },
      embedder: provider,
    });
    try {
      const as = { merchantId: await createTestMerchant(remote), userId: 'ada', roles: ['admin'] };
      const ticket = (id: string) => ({
        input: {
          id,
          customerId: 'c1',
          subject: 'Late',
          status: 'OPEN',
          acl: ['role:agent'],
          messages: [{ author: 'CUSTOMER', body: `Parcel ${id} is late.` }],
        },
      });
      expect((await remote.gql(TICKET, ticket('t-warm'), as)).errors).toBeUndefined();
      const { result, sent } = await statements(() => remote.gql(TICKET, ticket('t-remote'), as));
      expect(result.errors).toBeUndefined();
      const steady = sent.filter((s) => !/^SELECT app_claim_binding/i.test(s));
      // Read: BEGIN, live versions, stored chunks, cached vectors, COMMIT; then write: BEGIN, lock, ticket, chunks,
      // COMMIT.
      expect(steady.filter((s) => /^COMMIT/i.test(s))).toHaveLength(2);
      expect(steady.length).toBe(10);
      const [row] = await remote.db.dataSource.query<{ n: string }[]>(
        `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1 AND ticket_id = 't-remote'`,
        [as.merchantId],
      );
      expect(Number(row.n)).toBe(1);
    } finally {
      await remote.close();
    }
  });
});
