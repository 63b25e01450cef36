import { CountingEmbedder } from './support/counting-embedder';
import {
  createTestMerchant,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const INGEST = `mutation($input: IngestDocumentInput!) {
  ingestDocument(input: $input) { chunkCount embeddedChunks reusedChunks deletedChunks unchanged }
}`;
type Payload = {
  ingestDocument: {
    chunkCount: number;
    embeddedChunks: number;
    reusedChunks: number;
    deletedChunks: number;
    unchanged: boolean;
  };
};

const policy = (changed = 'Refunds take 5 business days.') =>
  [
    '## Window\n\nItems may be returned within 30 days of delivery.',
    `## Timing\n\n${changed}`,
    '## Exceptions\n\nGift cards cannot be returned.',
    '## Contact\n\nWrite to support with the order number.',
  ].join('\n\n');

describe('incremental ingestion: only changed text is embedded', () => {
  let t: TestGateway;
  const embedder = new CountingEmbedder();
  let admin: TestIdentity;

  beforeAll(async () => {
    // No in-memory cache: reuse must come from the vectors stored in the database.
    t = await startTestGateway({ embedder, env: { EMBEDDING_CACHE_ENTRIES: '0' } });
  });
  beforeEach(async () => {
    admin = { merchantId: await createTestMerchant(t), userId: 'ada', roles: ['admin'] };
    embedder.reset();
  });
  afterAll(async () => {
    await t.close();
  });

  const ingest = async (text: string, id = 'policy', extra: Record<string, unknown> = {}) => {
    const res = await t.gql<Payload>(
      INGEST,
      { input: { id, title: 'Policy', text, acl: ['role:agent'], ...extra } },
      admin,
    );
    expect(res.errors).toBeUndefined();
    return res.data!.ingestDocument;
  };
  const rows = async (id = 'policy') =>
    t.db.dataSource.query<{ id: string; chunk_index: number; e: string; updated_at: Date }[]>(
      `SELECT id::text AS id, chunk_index, embedding::text AS e, updated_at FROM document_chunks
        WHERE merchant_id = $1 AND document_id = $2 ORDER BY chunk_index`,
      [admin.merchantId, id],
    );

  it('embeds every chunk of a new document', async () => {
    expect(await ingest(policy())).toEqual({
      chunkCount: 4,
      embeddedChunks: 4,
      reusedChunks: 0,
      deletedChunks: 0,
      unchanged: false,
    });
    expect(embedder.texts).toBe(4);
  });

  it('re-embeds only the changed paragraph and leaves the other chunk rows untouched', async () => {
    await ingest(policy());
    const before = await rows();
    embedder.reset();
    const result = await ingest(policy('Refunds take 3 business days.'));
    expect(result).toEqual({
      chunkCount: 4,
      embeddedChunks: 1,
      reusedChunks: 3,
      deletedChunks: 1,
      unchanged: false,
    });
    expect(embedder.texts).toBe(1);
    const after = await rows();
    // Rows 0, 2, 3 are the same physical rows (same id, same vector, not rewritten); row 1 is new.
    for (const i of [0, 2, 3]) expect(after[i]).toEqual(before[i]);
    expect(after[1].id).not.toBe(before[1].id);
    expect(after[1].e).not.toBe(before[1].e);
  });

  it('writes nothing for an identical document', async () => {
    await ingest(policy());
    const before = await rows();
    embedder.reset();
    expect(await ingest(policy())).toEqual({
      chunkCount: 4,
      embeddedChunks: 0,
      reusedChunks: 4,
      deletedChunks: 0,
      unchanged: true,
    });
    expect(embedder.calls).toBe(0);
    expect(await rows()).toEqual(before);
  });

  it('reuses vectors when paragraphs move, and counts removed text as deleted', async () => {
    await ingest(policy());
    embedder.reset();
    const moved = [
      '## Contact\n\nWrite to support with the order number.',
      '## Window\n\nItems may be returned within 30 days of delivery.',
    ].join('\n\n');
    expect(await ingest(moved)).toEqual({
      chunkCount: 2,
      embeddedChunks: 0,
      reusedChunks: 2,
      deletedChunks: 2,
      unchanged: false,
    });
    expect(embedder.calls).toBe(0);
    expect((await rows()).map((r) => r.chunk_index)).toEqual([0, 1]);
  });

  it('reuses vectors of identical text in another document of the same merchant', async () => {
    await ingest(policy(), 'a');
    embedder.reset();
    expect(await ingest(policy(), 'b')).toMatchObject({ embeddedChunks: 0, reusedChunks: 4 });
    expect(embedder.calls).toBe(0);
  });

  it('does not reuse stored vectors across merchants (each merchant is its own corpus)', async () => {
    await ingest(policy());
    embedder.reset();
    const other = { merchantId: await createTestMerchant(t), userId: 'x', roles: ['admin'] };
    const res = await t.gql<Payload>(
      INGEST,
      { input: { id: 'policy', title: 'Policy', text: policy(), acl: ['role:agent'] } },
      other,
    );
    expect(res.data!.ingestDocument.embeddedChunks).toBe(4);
  });

  it('changes ACL and metadata through re-ingestion without re-embedding', async () => {
    await ingest(policy());
    embedder.reset();
    const result = await ingest(policy(), 'policy', {
      acl: ['role:contractor'],
      metadata: { category: 'refund' },
    });
    expect(result).toMatchObject({ embeddedChunks: 0, unchanged: false });
    expect(embedder.calls).toBe(0);
    const acl = await t.db.dataSource.query<{ acl: string[]; metadata: Record<string, unknown> }[]>(
      `SELECT DISTINCT acl, metadata FROM document_chunks WHERE merchant_id = $1 AND document_id = 'policy'`,
      [admin.merchantId],
    );
    expect(acl).toEqual([{ acl: ['role:contractor'], metadata: { category: 'refund' } }]);
  });

  it('uses the in-memory cache for repeated texts when enabled', async () => {
    const cached = new CountingEmbedder();
    const t2 = await startTestGateway({ embedder: cached });
    try {
      const m = { merchantId: await createTestMerchant(t2), userId: 'a', roles: ['admin'] };
      await t2.gql(INGEST, { input: { id: 'x', title: 'T', text: 'Same words.', acl: ['a'] } }, m);
      const other = { merchantId: await createTestMerchant(t2), userId: 'a', roles: ['admin'] };
      cached.reset();
      // Another merchant: not in its database rows, but the (model, content hash) cache knows the text.
      await t2.gql(INGEST, { input: { id: 'x', title: 'T', text: 'Same words.', acl: ['a'] } }, other);
      expect(cached.calls).toBe(0);
      expect(t2.services.embedders.stats.cacheHits).toBeGreaterThan(0);
    } finally {
      await t2.close();
    }
  });
});
