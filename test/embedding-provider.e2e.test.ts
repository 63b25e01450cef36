import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { loadConfig } from '../src/config/config';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import {
  ALICE,
  createTestMerchant,
  errorCode,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';

/**
 * The gateway configured with EMBEDDING_PROVIDER=openai against a local server that speaks the embeddings API
 * (vectors from the local embedder, so results are meaningful): batching, bounded concurrency, and what a
 * failing provider does to ingestion and retrieval. Provider faults: down (5xx, connection reset), slow (no
 * answer within EMBEDDING_TIMEOUT_MS), garbage (not JSON, wrong dimension, non-finite values), and failing after
 * some batches succeeded. The unit tests in openai-embedder.test.ts cover the client's retry rules in detail.
 */
type Mode =
  'ok' | 'fail' | 'wrong-dimension' | 'slow' | 'reset' | 'not-json' | 'non-finite' | 'fail-after-first-batch';
const TIMEOUT_MS = 1_500;

describe('OpenAI-compatible provider behind the gateway', () => {
  const local = new LocalHashEmbedder(1536);
  let server: http.Server;
  let mode: Mode = 'ok';
  let inFlight = 0;
  let maxInFlight = 0;
  let requests = 0;
  let t: TestGateway;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const requestNumber = requests;
        setTimeout(
          () => {
            inFlight--;
            if (mode === 'fail' || (mode === 'fail-after-first-batch' && requestNumber > 1)) {
              res.writeHead(503).end('{"error":"down"}');
              return;
            }
            if (mode === 'reset') {
              req.socket.destroy();
              return;
            }
            if (mode === 'not-json') {
              res.writeHead(200, { 'content-type': 'application/json' }).end('<html>Bad gateway</html>');
              return;
            }
            const { input } = JSON.parse(body) as { input: string[] };
            void local.embed(input).then((vectors) => {
              const data = vectors.map((v, index) => ({
                index,
                embedding:
                  mode === 'wrong-dimension' ? v.slice(1) : mode === 'non-finite' ? v.map(() => null) : v,
              }));
              res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
            });
          },
          // Slow: answers only after the gateway gave up waiting.
          mode === 'slow' ? TIMEOUT_MS + 1_000 : 20,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const env = {
      EMBEDDING_PROVIDER: 'openai',
      OPENAI_BASE_URL: url,
      OPENAI_API_KEY: 'test-key',
      EMBEDDING_MODEL: 'text-embedding-3-small',
      EMBEDDING_BATCH_SIZE: '2',
      EMBEDDING_CONCURRENCY: '2',
      EMBEDDING_MAX_RETRIES: '1',
      EMBEDDING_CACHE_ENTRIES: '0',
      EMBEDDING_TIMEOUT_MS: String(TIMEOUT_MS),
    };
    t = await startTestGateway({ env, embedder: createEmbedder(loadConfig({ NODE_ENV: 'test', ...env })) });
  });
  afterAll(async () => {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    mode = 'ok';
    maxInFlight = 0;
    requests = 0;
  });

  const INGEST = `mutation($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount embeddedChunks } }`;
  const RETRIEVE = `query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { documentId } } }`;
  const text = Array.from(
    { length: 8 },
    (_, i) => `## Part ${i}\n\nPolicy detail number ${i} about refunds.`,
  ).join('\n\n');

  it('embeds in batches with at most EMBEDDING_CONCURRENCY requests in flight, and retrieval uses the provider', async () => {
    const admin = { merchantId: await createTestMerchant(t), userId: 'a', roles: ['admin', 'agent'] };
    const res = await t.gql<{ ingestDocument: { chunkCount: number; embeddedChunks: number } }>(
      INGEST,
      { input: { id: 'p', title: 'Policy', text, acl: ['role:agent'] } },
      admin,
    );
    expect(res.data!.ingestDocument).toEqual({ chunkCount: 8, embeddedChunks: 8 });
    expect(requests).toBe(4); // 8 chunks in batches of 2
    expect(maxInFlight).toBe(2);
    const found = await t.gql<{ retrieveChunks: { chunks: { documentId: string }[] } }>(
      RETRIEVE,
      { input: { query: 'policy detail number 3', k: 1 } },
      admin,
    );
    expect(found.data!.retrieveChunks.chunks[0].documentId).toBe('p');
  });

  it.each<[Mode]>([
    ['fail'],
    ['wrong-dimension'],
    ['slow'],
    ['reset'],
    ['not-json'],
    ['non-finite'],
    ['fail-after-first-batch'],
  ])('a provider that answers %s fails ingestion with EMBEDDING_FAILED and writes nothing', async (m) => {
    const admin = { merchantId: await createTestMerchant(t), userId: 'a', roles: ['admin'] };
    mode = m;
    const started = Date.now();
    const res = await t.gql(
      INGEST,
      { input: { id: 'p', title: 'Policy', text, acl: ['role:agent'] } },
      admin,
    );
    expect(errorCode(res)).toBe('EMBEDDING_FAILED');
    expect(res.errors![0].message).toMatch(/embedding/i);
    // Bounded: one timeout (no retry after a timeout) or a few quick retries, never an open-ended wait.
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
    const rows = await t.db.dataSource.query<unknown[]>(
      `SELECT 1 FROM support_documents WHERE merchant_id = $1
       UNION ALL SELECT 1 FROM document_chunks WHERE merchant_id = $1`,
      [admin.merchantId],
    );
    expect(rows).toHaveLength(0);
  });

  it('a failed re-ingestion keeps the stored version whole (text and every chunk)', async () => {
    const admin = { merchantId: await createTestMerchant(t), userId: 'a', roles: ['admin', 'agent'] };
    const first = await t.gql(
      INGEST,
      { input: { id: 'p', title: 'Policy', text, acl: ['role:agent'] } },
      admin,
    );
    expect(first.errors).toBeUndefined();
    const snapshot = (): Promise<unknown[]> =>
      t.db.dataSource.query(
        `SELECT d.body, c.chunk_index, c.chunk_text FROM support_documents d
           JOIN document_chunks c ON c.merchant_id = d.merchant_id AND c.document_id = d.id
          WHERE d.merchant_id = $1 ORDER BY c.chunk_index`,
        [admin.merchantId],
      );
    const before = await snapshot();
    expect(before).toHaveLength(8);
    mode = 'fail-after-first-batch';
    const res = await t.gql(
      INGEST,
      { input: { id: 'p', title: 'Policy', text: text.replace(/refunds/g, 'returns'), acl: ['role:agent'] } },
      admin,
    );
    expect(errorCode(res)).toBe('EMBEDDING_FAILED');
    expect(await snapshot()).toEqual(before);
  });

  it('retrieval on the local model is not held up by an ingestion waiting for a slow provider', async () => {
    const admin = { merchantId: await createTestMerchant(t), userId: 'a', roles: ['admin'] };
    mode = 'slow';
    const order: string[] = [];
    const ingest = t
      .gql(INGEST, { input: { id: 'p', title: 'Policy', text, acl: ['role:agent'] } }, admin)
      .then((r) => {
        order.push('ingest');
        return r;
      });
    await new Promise((r) => setTimeout(r, 100)); // the ingestion is now waiting on the provider
    const alice = await t.gql<{ retrieveChunks: { chunks: unknown[] } }>(
      RETRIEVE,
      { input: { query: 'refund', k: 3 } },
      ALICE,
    );
    order.push('retrieve');
    expect(alice.errors).toBeUndefined();
    expect(alice.data!.retrieveChunks.chunks).toHaveLength(3);
    expect(errorCode(await ingest)).toBe('EMBEDDING_FAILED');
    expect(order).toEqual(['retrieve', 'ingest']);
  });

  it('while the provider is down, merchants on the local model keep retrieving', async () => {
    mode = 'fail';
    const admin = { merchantId: await createTestMerchant(t), userId: 'a', roles: ['agent'] };
    const down = await t.gql(RETRIEVE, { input: { query: 'refund', k: 3 } }, admin);
    expect(errorCode(down)).toBe('EMBEDDING_FAILED');
    // m01's corpus version uses local-hash-v1 (seeded), which needs no provider.
    const alice = await t.gql<{ retrieveChunks: { chunks: unknown[] } }>(
      RETRIEVE,
      { input: { query: 'refund', k: 3 } },
      ALICE,
    );
    expect(alice.errors).toBeUndefined();
    expect(alice.data!.retrieveChunks.chunks).toHaveLength(3);
  });
});
