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

  it('keeps serving while ingestions that fail inside their transaction roll back in parallel with good ones', async () => {
    // A real failure after the document row is written: a trigger (this test's own) rejects chunks with a marker.
    const ds = t.db.dataSource;
    await ds.query(`CREATE OR REPLACE FUNCTION test_reject_marked_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.chunk_text LIKE '%REJECT-IN-TX%' THEN RAISE EXCEPTION 'rejected by test trigger'; END IF; RETURN NEW; END $$`);
    await ds.query(`CREATE TRIGGER test_reject_marked_chunk BEFORE INSERT ON document_chunks
      FOR EACH ROW EXECUTE FUNCTION test_reject_marked_chunk()`);
    try {
      const jobs = Array.from({ length: 10 }, (_, i) =>
        t.gql(
          INGEST,
          {
            input: {
              id: i % 2 === 0 ? `ok-${i}` : `bad-${i}`,
              title: 'Doc',
              text:
                i % 2 === 0
                  ? `## A\n\nGood document ${i}.`
                  : `## A\n\nFirst part.\n\n## B\n\nREJECT-IN-TX ${i}.`,
              acl: ['role:agent'],
            },
          },
          admin,
        ),
      );
      const results = await Promise.all(jobs);
      results.forEach((res, i) => {
        if (i % 2 === 0) expect(res.errors).toBeUndefined();
        else expect(errorCode(res)).toBe('INTERNAL_SERVER_ERROR');
      });
      const docs: { id: string }[] = await ds.query(
        `SELECT id FROM support_documents WHERE merchant_id = $1 AND (id LIKE 'ok-%' OR id LIKE 'bad-%') ORDER BY id`,
        [admin.merchantId],
      );
      expect(docs.map((d) => d.id)).toEqual(['ok-0', 'ok-2', 'ok-4', 'ok-6', 'ok-8']);
      const orphans: unknown[] = await ds.query(
        `SELECT 1 FROM document_chunks WHERE merchant_id = $1 AND document_id LIKE 'bad-%'`,
        [admin.merchantId],
      );
      expect(orphans).toHaveLength(0);
    } finally {
      await ds.query(`DROP TRIGGER IF EXISTS test_reject_marked_chunk ON document_chunks`);
      await ds.query(`DROP FUNCTION IF EXISTS test_reject_marked_chunk()`);
    }
  });

  it('does not leak transaction-local settings to the next statement on the same connection', async () => {
    // The HNSW strategy sets hnsw.* and enable_sort with set_config(..., true); after its transaction they must be gone.
    const runner = t.db.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(
        `SELECT set_config('hnsw.ef_search', '777', true), set_config('enable_sort', 'off', true)`,
      );
      const inside = (await runner.query(
        `SELECT current_setting('hnsw.ef_search', true) AS ef, current_setting('enable_sort') AS sort`,
      )) as { ef: string; sort: string }[];
      expect(inside[0]).toEqual({ ef: '777', sort: 'off' });
      await runner.commitTransaction();
      const after = (await runner.query(
        `SELECT current_setting('hnsw.ef_search', true) AS ef, current_setting('enable_sort') AS sort`,
      )) as { ef: string | null; sort: string }[];
      expect(after[0].ef).not.toBe('777');
      expect(after[0].sort).toBe('on');
    } finally {
      await runner.release();
    }
  });
});
