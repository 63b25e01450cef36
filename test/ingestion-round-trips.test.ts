import pg from 'pg';
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

  it('answers an unchanged re-ingest from one read transaction, writing nothing', async () => {
    expect((await t.gql(INGEST, { input: doc }, admin)).errors).toBeUndefined();
    const before = await t.db.dataSource.query<{ xmin: string }[]>(
      `SELECT xmin::text FROM support_documents WHERE merchant_id = $1 AND id = 'guide'`,
      [admin.merchantId],
    );
    const { result, sent } = await statements(() => t.gql(INGEST, { input: doc }, admin));
    expect(result.data).toEqual({ ingestDocument: { unchanged: true, chunkCount: 3 } });
    const commits = sent.filter((s) => /^COMMIT/i.test(s));
    expect(commits).toHaveLength(1);
    expect(sent.filter((s) => /^\s*(INSERT|UPDATE|DELETE)/i.test(s))).toEqual([]);
    // BEGIN, request tag, tenant settings, live versions, stored chunks, stored row, COMMIT (was two transactions,
    // 16 statements).
    expect(sent.length).toBeLessThanOrEqual(7);
    const after = await t.db.dataSource.query<{ xmin: string }[]>(
      `SELECT xmin::text FROM support_documents WHERE merchant_id = $1 AND id = 'guide'`,
      [admin.merchantId],
    );
    expect(after).toEqual(before);
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

  it('writes a new ticket in two transactions and a bounded number of statements', async () => {
    const { result, sent } = await statements(() =>
      t.gql(
        TICKET,
        {
          input: {
            id: 't-rt',
            customerId: 'c1',
            subject: 'Parcel late',
            status: 'OPEN',
            acl: ['role:agent'],
            messages: [{ author: 'CUSTOMER', body: 'My parcel is a week late.' }],
          },
        },
        admin,
      ),
    );
    expect(result.errors).toBeUndefined();
    expect(sent.filter((s) => /^COMMIT/i.test(s))).toHaveLength(2);
    // Read (BEGIN, tag, settings, versions, chunks, cached vectors, COMMIT); write (BEGIN, tag, settings, merchant
    // lock with versions, ticket, chunks, COMMIT): 16 before the lock and the versions were one statement and a new
    // row's chunks were no longer listed.
    expect(sent.length).toBeLessThanOrEqual(14);
  });
});
