import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { ADA_ADMIN, ALICE, BOB, errorCode, startTestGateway, type TestGateway } from './support/test-gateway';

const RETRIEVE = `query R($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) {
    strategy
    chunks { id score similarity documentId ticketId text sourceType }
    debug { strategy embedMs searchMs plan }
  }
}`;
interface Chunk {
  id: string;
  score: number;
  similarity: number;
  documentId: string | null;
  ticketId: string | null;
  text: string;
  sourceType: string;
}
type Data = {
  retrieveChunks: {
    strategy: string;
    chunks: Chunk[];
    debug: { strategy: string; plan: string[]; searchMs: number } | null;
  };
};

describe('retrieval modes, filters and inputs on the demo data', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t.close();
  });
  const retrieve = (input: Record<string, unknown>, as = ALICE) => t.gql<Data>(RETRIEVE, { input }, as);
  const sources = (res: { data?: Data | null }) =>
    res.data!.retrieveChunks.chunks.map((c) => c.documentId ?? c.ticketId);

  it('KEYWORD ranks chunks containing the words, and needs query text', async () => {
    const res = await retrieve({ query: 'gift cards', mode: 'KEYWORD', k: 5 });
    expect(res.data!.retrieveChunks.strategy).toBe('keyword');
    const chunks = res.data!.retrieveChunks.chunks;
    expect(chunks.length).toBeGreaterThan(0);
    for (const c of chunks) expect(c.text.toLowerCase()).toMatch(/gift|card/);
    const scores = chunks.map((c) => c.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    // Stopwords only: nothing matches, honestly empty.
    expect((await retrieve({ query: 'the and of', mode: 'KEYWORD' })).data!.retrieveChunks.chunks).toEqual(
      [],
    );
    expect(
      errorCode(await retrieve({ query: '', mode: 'KEYWORD', embedding: new Array(1536).fill(0.01) })),
    ).toBe('BAD_USER_INPUT');
  });

  it('HYBRID with weight 1 is the VECTOR order, and reports both sides in its strategy', async () => {
    const q = { query: 'how long do refunds take to reach my card', k: 5 };
    const vector = await retrieve({ ...q, mode: 'VECTOR' });
    const hybrid1 = await retrieve({ ...q, hybridWeight: 1 });
    expect(hybrid1.data!.retrieveChunks.chunks.map((c) => c.id)).toEqual(
      vector.data!.retrieveChunks.chunks.map((c) => c.id),
    );
    expect(hybrid1.data!.retrieveChunks.strategy).toBe('hybrid:exact+keyword');
    expect(errorCode(await retrieve({ ...q, hybridWeight: 1.5 }))).toBe('BAD_USER_INPUT');
  });

  it('accepts a precomputed embedding (query text may then be empty) and validates it', async () => {
    const [vector] = await new LocalHashEmbedder(1536).embed(['refund window 30 days']);
    const byText = await retrieve({ query: 'refund window 30 days', mode: 'VECTOR', k: 3 });
    const byVector = await retrieve({ query: '', embedding: vector, mode: 'VECTOR', k: 3 });
    expect(byVector.errors).toBeUndefined();
    expect(byVector.data!.retrieveChunks.chunks.map((c) => c.id)).toEqual(
      byText.data!.retrieveChunks.chunks.map((c) => c.id),
    );
    expect(errorCode(await retrieve({ query: '', embedding: vector.slice(1) }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await retrieve({ query: '', embedding: new Array(1536).fill(0) }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await retrieve({ query: '', embedding: ['x'] }))).toBe('BAD_USER_INPUT');
    // Finite in JavaScript, degenerate in pgvector's float32: underflows to zero, overflows to infinity.
    expect(errorCode(await retrieve({ query: '', embedding: new Array(1536).fill(1e-50) }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await retrieve({ query: '', embedding: new Array(1536).fill(1e39) }))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('accepts the embedding as base64 float32 (OpenAI\'s encoding_format "base64"): the same answer as the list', async () => {
    const [vector] = await new LocalHashEmbedder(1536).embed(['refund window 30 days']);
    const base64 = (values: ArrayLike<number>) =>
      Buffer.from(new Float32Array(values).buffer).toString('base64');
    const byList = await retrieve({ query: '', embedding: vector, mode: 'VECTOR', k: 5 });
    const byBase64 = await retrieve({ query: '', embeddingBase64: base64(vector), mode: 'VECTOR', k: 5 });
    expect(byBase64.errors).toBeUndefined();
    const view = (res: { data?: Data | null }) =>
      res.data!.retrieveChunks.chunks.map((c) => [c.id, c.similarity]);
    expect(view(byList)).toHaveLength(5);
    // pgvector stores float32 and the list is rounded to it: both forms are the same query, bit for bit.
    expect(view(byBase64)).toEqual(view(byList));
    // HYBRID: the text drives the keyword side, the vector the other.
    const hybrid = await retrieve({ query: 'refund window', embeddingBase64: base64(vector), k: 5 });
    expect(hybrid.data!.retrieveChunks.strategy).toBe('hybrid:exact+keyword');

    const refused = async (input: Record<string, unknown>, message: RegExp) => {
      const res = await retrieve({ query: '', mode: 'VECTOR', ...input });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0].extensions!.field).toBe('embeddingBase64');
      expect(res.errors![0].message).toMatch(message);
    };
    await refused({ embedding: vector, embeddingBase64: base64(vector) }, /not both/);
    await refused({ embeddingBase64: base64(vector.slice(1)) }, /1535 dimensions/);
    await refused({ embeddingBase64: base64(vector).replace('A', '*') }, /standard base64/);
    await refused({ embeddingBase64: base64(vector).slice(0, -4) + '====' }, /standard base64/);
    await refused({ embeddingBase64: 'AAAA' }, /3 bytes/);
    await refused({ embeddingBase64: base64(new Array(1536).fill(0)) }, /zero vector/);
    await refused({ embeddingBase64: base64([NaN, ...vector.slice(1)]) }, /finite/);
    await refused({ embeddingBase64: base64([Infinity, ...vector.slice(1)]) }, /finite/);
    await refused({ embeddingBase64: 'A'.repeat(100_000) }, /at most 16000/);
  });

  it('drops results below minScore', async () => {
    const all = await retrieve({ query: 'password reset', mode: 'VECTOR', k: 20 });
    const high = await retrieve({ query: 'password reset', mode: 'VECTOR', k: 20, minScore: 0.2 });
    const kept = high.data!.retrieveChunks.chunks;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(all.data!.retrieveChunks.chunks.length);
    for (const c of kept) expect(c.score).toBeGreaterThanOrEqual(0.2);
  });

  it.each([
    ['documentIds', { documentIds: ['d7'] }, (s: string[]) => s.every((x) => x === 'd7')],
    ['ticketIds', { ticketIds: ['t3', 't5'] }, (s: string[]) => s.every((x) => x === 't3' || x === 't5')],
    ['customerId', { customerId: 'u42' }, (s: string[]) => s.every((x) => x === 't1')],
    ['ticketStatus', { ticketStatus: ['RESOLVED'] }, (s: string[]) => s.every((x) => x === 't3')],
    ['category', { category: 'account' }, (s: string[]) => s.every((x) => x === 'd9' || x === 't3')],
    ['sourceType', { sourceType: 'DOCUMENT' }, (s: string[]) => s.every((x) => x.startsWith('d'))],
  ])('filters by %s', async (_name, filter, ok) => {
    const res = await retrieve({ query: 'refund password order', k: 50, filter });
    expect(res.errors).toBeUndefined();
    const s = sources(res) as string[];
    expect(s.length).toBeGreaterThan(0);
    expect(ok(s)).toBe(true);
  });

  it('filters by update time, and returns nothing for ids of another merchant', async () => {
    const future = await retrieve({
      query: 'refund',
      k: 50,
      filter: { updatedSince: '2999-01-01T00:00:00Z' },
    });
    expect(future.data!.retrieveChunks.chunks).toEqual([]);
    const past = await retrieve({ query: 'refund', k: 50, filter: { updatedSince: '2000-01-01T00:00:00Z' } });
    expect(past.data!.retrieveChunks.chunks.length).toBeGreaterThan(5);
    // g2 is a Globex document: for Alice (Acme) it does not exist.
    expect(
      (await retrieve({ query: 'warranty', k: 50, filter: { documentIds: ['g2'] } })).data!.retrieveChunks
        .chunks,
    ).toEqual([]);
    expect(errorCode(await retrieve({ query: 'x', filter: { documentIds: ['bad id!'] } }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await retrieve({ query: 'x', filter: { updatedSince: 'yesterday' } }))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('keeps the ACL under every filter: Bob never gets d9 or t3', async () => {
    for (const filter of [
      { category: 'account' },
      { ticketStatus: ['RESOLVED'] },
      { documentIds: ['d9'] },
      { ticketIds: ['t3'] },
    ]) {
      const res = await retrieve({ query: 'password reset', k: 50, filter }, BOB);
      expect(res.data!.retrieveChunks.chunks).toEqual([]);
    }
  });

  it('takes any text in KEYWORD mode, operators and URLs included', async () => {
    for (const query of ['example.com/p?a=1&b=2', "refund & ! | ( ' :*", 'or or or', 'refund OR password']) {
      const res = await retrieve({ query, mode: 'KEYWORD', k: 5 });
      expect(res.errors).toBeUndefined();
    }
    const either = await retrieve({ query: 'refund password', mode: 'KEYWORD', k: 50 });
    const texts = either.data!.retrieveChunks.chunks.map((c) => c.text.toLowerCase());
    expect(texts.some((x) => x.includes('refund') && !x.includes('password'))).toBe(true);
    expect(texts.some((x) => x.includes('password') && !x.includes('refund'))).toBe(true);
  });

  it('is deterministic', async () => {
    const a = await retrieve({ query: 'refund order blue widget', k: 10 });
    const b = await retrieve({ query: 'refund order blue widget', k: 10 });
    expect(a.data!.retrieveChunks.chunks.map((c) => c.id)).toEqual(
      b.data!.retrieveChunks.chunks.map((c) => c.id),
    );
  });

  it('explains the query to admins only', async () => {
    const res = await retrieve({ query: 'refund', k: 3, explain: true }, ADA_ADMIN);
    const debug = res.data!.retrieveChunks.debug!;
    expect(debug.strategy).toMatch(/^hybrid:exact/);
    expect(debug.plan.join('\n')).toMatch(/Execution Time/);
    expect(debug.plan.join('\n')).toMatch(/document_chunks/);
    expect((await retrieve({ query: 'refund', k: 3 }, ADA_ADMIN)).data!.retrieveChunks.debug).toBeNull();
    expect(errorCode(await retrieve({ query: 'refund', k: 3, explain: true }))).toBe('FORBIDDEN');
  });
});
