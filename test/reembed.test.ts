import { principalsFor } from '../src/auth/identity';
import { DomainError } from '../src/common/errors/domain-error';
import { CountingEmbedder } from './support/counting-embedder';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';

/** Moving a merchant to another embedding model while retrieval keeps serving, interrupted and resumed. */
describe('re-embedding a corpus with another model (corpus versions)', () => {
  let t: TestGateway;
  let merchant: string;
  const target = new CountingEmbedder(384, 'local-hash-v2');
  const reader = () => ({
    merchantId: merchant,
    userId: 'agent',
    roles: ['agent'],
    principals: principalsFor('agent', ['agent']),
  });

  const versions = () =>
    t.db.dataSource.query<{ version: number; embedding_model: string; dimensions: number; state: string }[]>(
      `SELECT version, embedding_model, dimensions, state FROM corpus_versions WHERE merchant_id = $1 ORDER BY version`,
      [merchant],
    );
  const chunkStats = () =>
    t.db.dataSource.query<{ corpus_version: number; n: string; dims: number }[]>(
      `SELECT corpus_version, count(*) AS n, min(vector_dims(embedding)) AS dims FROM document_chunks
        WHERE merchant_id = $1 GROUP BY corpus_version ORDER BY corpus_version`,
      [merchant],
    );
  const retrieve = (query: string) =>
    t.services.retrieval.retrieve(t.services.sessions.open(reader()), { query, k: 5 });

  beforeAll(async () => {
    // No in-memory cache: every merchant here has the same texts, and the counts must reflect real provider calls.
    t = await startTestGateway({ env: { EMBEDDING_CACHE_ENTRIES: '0' } });
    t.services.embedders.register(target);
  });
  beforeEach(async () => {
    merchant = await createTestMerchant(t, 'reembed');
    target.reset();
    target.failAfter = null;
    for (let i = 0; i < 12; i++) {
      await t.services.ingestion.writeDocument(merchant, {
        id: `doc-${i}`,
        title: `Doc ${i}`,
        text: `## Part A\n\nTopic ${i} refund rules.\n\n## Part B\n\nTopic ${i} shipping rules.`,
        acl: ['role:agent'],
      });
    }
    await t.services.ingestion.writeTicket(merchant, {
      id: 't1',
      customerId: 'c1',
      subject: 'Refund please',
      status: 'open' as never,
      messages: [{ author: 'customer' as never, body: 'Where is my refund?' }],
      acl: ['role:agent'],
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('builds the new version, verifies it, flips atomically and removes the old rows', async () => {
    const before = await retrieve('refund rules');
    expect(before.chunks).toHaveLength(5);
    const progress: string[] = [];
    const report = await t.services.reembed.run(merchant, {
      model: 'local-hash-v2',
      dimensions: 384,
      batchSources: 4,
      onProgress: (p) => progress.push(p.phase),
    });
    expect(report.toVersion).toBeGreaterThan(1);
    expect(report).toMatchObject({
      status: 'flipped',
      fromVersion: 1,
      sourcesCopied: 13,
      chunksEmbedded: 25,
      retiredChunksDeleted: 25,
    });
    expect(progress).toEqual(expect.arrayContaining(['copy', 'verify', 'cleanup']));
    expect(await versions()).toEqual([
      { version: report.toVersion, embedding_model: 'local-hash-v2', dimensions: 384, state: 'active' },
    ]);
    expect(await chunkStats()).toEqual([{ corpus_version: report.toVersion, n: '25', dims: 384 }]);
    // Retrieval now embeds queries with the new model and reads the new version.
    target.reset();
    const after = await retrieve('refund rules');
    expect(target.calls).toBe(1);
    expect(after.chunks).toHaveLength(5);
    expect(after.chunks[0].text).toMatch(/refund/);
    // New writes go to the active (new) version, embedded with the new model.
    const written = await t.services.ingestion.writeDocument(merchant, {
      id: 'late',
      title: 'Late',
      text: 'Late refund rules.',
      acl: ['role:agent'],
    });
    expect(written.embeddedChunks).toBe(1);
    expect(await chunkStats()).toEqual([{ corpus_version: report.toVersion, n: '26', dims: 384 }]);
  });

  it('survives an interruption: the active version keeps serving, a rerun resumes and finishes', async () => {
    const before = await retrieve('shipping rules');
    target.failAfter = 2; // two batches succeed, the third call fails
    await expect(
      t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384, batchSources: 4 }),
    ).rejects.toThrow(DomainError);
    const live = await versions();
    expect(live.map((v) => v.state)).toEqual(['active', 'building']);
    const building = live[1].version;
    expect(live[0].version).toBe(1);
    const partial = (await chunkStats()).find((s) => s.corpus_version === building)!;
    expect(Number(partial.n)).toBeGreaterThan(0);
    expect(Number(partial.n)).toBeLessThan(25);
    // Retrieval is untouched by the half-built version.
    expect((await retrieve('shipping rules')).chunks.map((c) => c.id)).toEqual(
      before.chunks.map((c) => c.id),
    );

    // Written while the new version is being built: lands in both versions (so it needs both providers).
    target.failAfter = null;
    const during = await t.services.ingestion.writeDocument(merchant, {
      id: 'during',
      title: 'During',
      text: 'Written during the migration about refunds.',
      acl: ['role:agent'],
    });
    expect(during.chunkCount).toBe(1);
    const both = await t.db.dataSource.query<{ corpus_version: number }[]>(
      `SELECT corpus_version FROM document_chunks WHERE merchant_id = $1 AND document_id = 'during' ORDER BY 1`,
      [merchant],
    );
    expect(both.map((r) => r.corpus_version)).toEqual([1, building]);

    target.failAfter = null;
    target.reset();
    const report = await t.services.reembed.run(merchant, {
      model: 'local-hash-v2',
      dimensions: 384,
      batchSources: 4,
    });
    expect(report.status).toBe('flipped');
    // Resumed: what the first run (and the concurrent write) already embedded is not embedded again.
    expect(report.chunksEmbedded).toBeLessThan(25);
    expect(target.texts).toBe(report.chunksEmbedded);
    expect(report.toVersion).toBe(building);
    expect(await chunkStats()).toEqual([{ corpus_version: building, n: '26', dims: 384 }]);
    expect((await retrieve('written during the migration')).chunks[0].documentId).toBe('during');
  });

  it('refuses to start a different model while one is being built, unless told to restart', async () => {
    target.failAfter = 0;
    await expect(
      t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384 }),
    ).rejects.toThrow();
    target.failAfter = null;
    await expect(
      t.services.reembed.run(merchant, { model: 'local-hash-v3', dimensions: 256 }),
    ).rejects.toThrow(/in progress/);
    const report = await t.services.reembed.run(merchant, {
      model: 'local-hash-v3',
      dimensions: 256,
      restart: true,
    });
    expect(report).toMatchObject({ status: 'flipped', dimensions: 256 });
    expect((await versions()).map((v) => [v.embedding_model, v.state])).toEqual([
      ['local-hash-v3', 'active'],
    ]);
  });

  it("never reuses an abandoned version number, and never lets another model's vectors into a new version", async () => {
    target.failAfter = 1;
    await expect(
      t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384, batchSources: 4 }),
    ).rejects.toThrow();
    const abandoned = (await versions())[1].version;
    target.failAfter = null;
    // Same size, another model: the restart must not pick up vectors of local-hash-v2 by content hash.
    const other = new CountingEmbedder(384, 'local-hash-v4');
    t.services.embedders.register(other);
    const report = await t.services.reembed.run(merchant, {
      model: 'local-hash-v4',
      dimensions: 384,
      restart: true,
    });
    expect(report.toVersion).toBeGreaterThan(abandoned);
    expect(report.chunksEmbedded).toBe(25);
    expect(other.texts).toBe(25);
    const models = await t.db.dataSource.query<{ embedding_model: string }[]>(
      `SELECT DISTINCT embedding_model FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    expect(models).toEqual([{ embedding_model: 'local-hash-v4' }]);
  });

  it('a document edited or deleted while the job copies is copied as it is at the end, or not at all', async () => {
    target.failAfter = 1;
    await expect(
      t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384, batchSources: 4 }),
    ).rejects.toThrow();
    target.failAfter = null;
    await t.services.ingestion.writeDocument(merchant, {
      id: 'doc-11',
      title: 'Doc 11',
      text: 'Rewritten while migrating.',
      acl: ['role:agent'],
    });
    const admin = {
      merchantId: merchant,
      userId: 'ada',
      roles: ['admin'],
      principals: principalsFor('ada', ['admin']),
    };
    expect(await t.services.documents.delete(t.services.sessions.open(admin), 'doc-10')).toBe(true);
    const report = await t.services.reembed.run(merchant, {
      model: 'local-hash-v2',
      dimensions: 384,
      batchSources: 4,
    });
    expect(report.status).toBe('flipped');
    const texts = await t.db.dataSource.query<{ document_id: string; chunk_text: string }[]>(
      `SELECT document_id, chunk_text FROM document_chunks WHERE merchant_id = $1 AND document_id IN ('doc-10', 'doc-11')`,
      [merchant],
    );
    // The chunk text starts with the document's contextual header (its title), then the edited body.
    expect(texts).toEqual([{ document_id: 'doc-11', chunk_text: 'Doc 11\n\nRewritten while migrating.' }]);
  });

  it('does nothing when the model is already active', async () => {
    const report = await t.services.reembed.run(merchant, { model: 'local-hash-v1', dimensions: 1536 });
    expect(report.status).toBe('already-active');
    expect((await versions()).map((v) => v.version)).toEqual([1]);
  });

  it('keeps ACL changes made during the migration in the new version', async () => {
    target.failAfter = 1;
    await expect(
      t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384, batchSources: 4 }),
    ).rejects.toThrow();
    const admin = {
      merchantId: merchant,
      userId: 'ada',
      roles: ['admin'],
      principals: principalsFor('ada', ['admin']),
    };
    await t.services.documents.updateAcl(t.services.sessions.open(admin), 'doc-0', ['role:contractor']);
    target.failAfter = null;
    await t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384 });
    const acl = await t.db.dataSource.query<{ acl: string[] }[]>(
      `SELECT DISTINCT acl FROM document_chunks WHERE merchant_id = $1 AND document_id = 'doc-0'`,
      [merchant],
    );
    expect(acl).toEqual([{ acl: ['role:contractor'] }]);
  });
});
