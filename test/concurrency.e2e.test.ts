import {
  createTestMerchant,
  errorCode,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const INGEST = `mutation($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount } }`;
const RETRIEVE = `query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { text documentId } } }`;

/** Three sections, each chunk stamped with the version so a reader can tell versions apart. */
const versionText = (v: number): string =>
  [1, 2, 3]
    .map((s) => `## Part ${s}\n\nRevision marker V${v}V applies to part ${s} of the race policy.`)
    .join('\n\n');

describe('concurrent requests and transactions', () => {
  let t: TestGateway;
  let admin: TestIdentity;

  beforeAll(async () => {
    t = await startTestGateway();
    const merchant = await createTestMerchant(t);
    admin = { merchantId: merchant, userId: 'ada', roles: ['admin', 'agent'] };
  });
  afterAll(async () => {
    await t.close();
  });

  it('readers see one whole version of a document while it is re-ingested concurrently, never a mix', async () => {
    const input = (v: number) => ({
      id: 'race',
      title: 'Race',
      text: versionText(v),
      acl: ['role:agent'],
      metadata: { doc: 'race' },
    });
    expect((await t.gql(INGEST, { input: input(0) }, admin)).errors).toBeUndefined();

    const writers = Array.from({ length: 12 }, (_, i) => t.gql(INGEST, { input: input(i + 1) }, admin));
    const readers = Array.from({ length: 40 }, () =>
      t.gql<{ retrieveChunks: { chunks: { text: string }[] } }>(
        RETRIEVE,
        { input: { query: 'race policy revision marker', k: 50, filter: { metadata: { doc: 'race' } } } },
        admin,
      ),
    );
    const [w, r] = await Promise.all([Promise.all(writers), Promise.all(readers)]);
    for (const res of w) expect(res.errors).toBeUndefined();
    const versionsSeen = new Set<string>();
    for (const res of r) {
      expect(res.errors).toBeUndefined();
      const chunks = res.data!.retrieveChunks.chunks;
      expect(chunks).toHaveLength(3);
      const versions = new Set(chunks.map((c) => /V(\d+)V/.exec(c.text)![1]));
      expect(versions.size).toBe(1);
      versionsSeen.add([...versions][0]);
    }
    const final: { chunk_text: string }[] = await t.db.dataSource.query(
      `SELECT chunk_text FROM document_chunks WHERE merchant_id = $1 AND document_id = 'race'`,
      [admin.merchantId],
    );
    expect(final).toHaveLength(3);
    expect(new Set(final.map((f) => /V(\d+)V/.exec(f.chunk_text)![1])).size).toBe(1);
  });

  it('keeps serving while a failing ingestion rolls back in parallel with good ones', async () => {
    const jobs = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0
        ? t.gql(
            INGEST,
            { input: { id: `ok-${i}`, title: 'Ok', text: `Good document ${i}.`, acl: ['role:agent'] } },
            admin,
          )
        : t.gql(
            INGEST,
            { input: { id: `bad-${i}`, title: 'Bad', text: 'nul \u0000 here', acl: ['role:agent'] } },
            admin,
          ),
    );
    const results = await Promise.all(jobs);
    results.forEach((res, i) => {
      if (i % 2 === 0) expect(res.errors).toBeUndefined();
      else expect(errorCode(res)).toBe('BAD_USER_INPUT');
    });
    const docs: { id: string }[] = await t.db.dataSource.query(
      `SELECT id FROM support_documents WHERE merchant_id = $1 AND (id LIKE 'ok-%' OR id LIKE 'bad-%') ORDER BY id`,
      [admin.merchantId],
    );
    expect(docs.map((d) => d.id)).toEqual(['ok-0', 'ok-2', 'ok-4', 'ok-6', 'ok-8']);
  });

  it('does not leak transaction-local settings between requests on the shared session', async () => {
    // The HNSW strategy sets hnsw.* with set_config(..., true); after its transaction they must be gone.
    await t.db.dataSource.transaction(async (m) => {
      await m.query(`SELECT set_config('hnsw.ef_search', '777', true)`);
    });
    const rows: { v: string | null }[] = await t.db.dataSource.query(
      `SELECT current_setting('hnsw.ef_search', true) AS v`,
    );
    expect(rows[0].v).not.toBe('777');
  });
});
