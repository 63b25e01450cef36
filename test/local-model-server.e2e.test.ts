import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * A local model server (Ollama, text-embeddings-inference, llama.cpp server: docs/EVAL.md) behind the
 * OpenAI-compatible provider: a base URL ending in /v1, no API key, the model's own size (384), a response in the
 * shape those servers send. A merchant is re-embedded from the default local model to it, and then retrieves
 * through GraphQL with queries embedded by the server. The "model" is the real local embedder at 384 dimensions.
 */
describe('a local model server speaking /v1/embeddings', () => {
  const MODEL = 'bge-small-en-v1.5';
  const model = new LocalHashEmbedder(384, MODEL);
  const seen: { path: string; authorization?: string; model: string; inputs: string[] }[] = [];
  let server: http.Server;
  let t: TestGateway;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
          return;
        }
        const request = JSON.parse(body) as { model: string; input: string[] };
        seen.push({
          path: req.url,
          authorization: req.headers.authorization,
          model: request.model,
          inputs: request.input,
        });
        void model.embed(request.input).then((vectors) =>
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              object: 'list',
              model: request.model,
              data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
              usage: { prompt_tokens: 0, total_tokens: 0 },
            }),
          ),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    // New merchants stay on the default local model; the server is only reached for the model named below.
    t = await startTestGateway({
      env: { OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, EMBEDDING_CACHE_ENTRIES: '0' },
    });
  });
  afterAll(async () => {
    await t?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('re-embeds a merchant to the server model, then answers GraphQL queries embedded by it', async () => {
    const merchant = await createTestMerchant(t, 'lms');
    const docs = [
      { id: 'refunds', title: 'Refunds', text: 'Refunds reach your card within 5 business days.' },
      { id: 'shipping', title: 'Shipping', text: 'Parcels ship from our warehouse every weekday.' },
      { id: 'gift', title: 'Gift Cards', text: 'Gift cards never expire and cannot be exchanged for cash.' },
    ];
    for (const d of docs) await t.services.ingestion.writeDocument(merchant, { ...d, acl: ['role:agent'] });
    expect(seen).toHaveLength(0); // ingested with the default local model

    const report = await t.services.reembed.run(merchant, { model: MODEL, dimensions: 384 });
    expect(report).toMatchObject({ status: 'flipped', chunksEmbedded: 3 });
    expect(seen.length).toBeGreaterThan(0);
    for (const r of seen) {
      expect(r).toMatchObject({ path: '/v1/embeddings', model: MODEL });
      expect(r.authorization).toBeUndefined(); // no key configured, none sent
    }
    const dims = await t.db.dataSource.query<{ dims: number; n: string }[]>(
      `SELECT min(vector_dims(embedding)) AS dims, count(*) AS n FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    expect(dims).toEqual([{ dims: 384, n: '3' }]);

    seen.length = 0;
    const res = await t.gql<{ retrieveChunks: { chunks: { documentId: string }[] } }>(
      `query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { documentId } } }`,
      { input: { query: 'when do gift cards expire', k: 3, mode: 'VECTOR' } },
      { merchantId: merchant, userId: 'agent', roles: ['agent'] },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.retrieveChunks.chunks[0].documentId).toBe('gift');
    expect(seen).toEqual([expect.objectContaining({ model: MODEL, inputs: ['when do gift cards expire'] })]);
  });
});
