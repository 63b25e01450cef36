import {
  ALICE,
  BOB,
  errorCode,
  GLOBEX_AGENT,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';

const RETRIEVE = `query Retrieve($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) {
    strategy
    tookMs
    chunks { id text score similarity sourceType documentId ticketId chunkIndex metadata citation headingPath }
  }
}`;

interface Chunk {
  id: string;
  text: string;
  score: number;
  similarity: number;
  sourceType: 'DOCUMENT' | 'TICKET';
  documentId: string | null;
  ticketId: string | null;
  chunkIndex: number;
  metadata: Record<string, unknown>;
  citation: string;
  headingPath: string[];
}
type RetrieveData = { retrieveChunks: { strategy: string; tookMs: number; chunks: Chunk[] } };

describe('retrieveChunks over HTTP on the demo data', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t.close();
  });

  const retrieve = (input: Record<string, unknown>, as = ALICE) =>
    t.gql<RetrieveData>(RETRIEVE, { input }, as);

  it("gives Alice the Refund Policy and t5 (HYBRID), t1, t5 and d7 (VECTOR) for 'show me recent refund questions'", async () => {
    const res = await retrieve({ query: 'show me recent refund questions', k: 3 });
    expect(res.errors).toBeUndefined();
    const chunks = res.data!.retrieveChunks.chunks;
    expect(chunks).toHaveLength(3);
    const sources = chunks.map((c) => c.ticketId ?? c.documentId).sort();
    // HYBRID is keyword-led since BM25 over weighted titles (docs/EVAL.md): "refund" in the policy's title lifts
    // two of its sections above ticket t1, which VECTOR (below) still ranks third. On Citus titles are not weighted
    // (a shard's trigger cannot read the documents table: docs/SCALE-OUT.md), and t1 keeps its place.
    const citus =
      (await t.db.dataSource.query<unknown[]>(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)).length >
      0;
    if (citus) {
      expect(chunks.map((c) => c.citation)).toEqual([
        'Refund Policy §1 Refund window',
        'Ticket t5',
        'Ticket t1',
      ]);
    } else {
      expect(chunks.map((c) => c.citation)).toEqual([
        'Refund Policy §3 Processing times',
        'Refund Policy §1 Refund window',
        'Ticket t5',
      ]);
      expect(sources).toEqual(['d7', 'd7', 't5']);
    }
    const d7 = chunks.find((c) => c.citation === 'Refund Policy §1 Refund window')!;
    expect(d7.text).toContain('Refunds are granted within 30 days');
    expect(d7.citation).toBe('Refund Policy §1 Refund window');
    expect(d7.headingPath).toEqual(['Refund window']);
    expect(d7.sourceType).toBe('DOCUMENT');
    expect(d7.metadata).toMatchObject({ category: 'refund' });
    expect(chunks.find((c) => c.ticketId === 't5')!.citation).toBe('Ticket t5');
    // HYBRID (the default): fused scores in 0..1, best first.
    const scores = chunks.map((c) => c.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    for (const c of chunks) {
      expect(c.score).toBeGreaterThan(0);
      expect(c.score).toBeLessThanOrEqual(1);
      expect(c.similarity).toBeGreaterThan(0);
      expect(c.similarity).toBeLessThanOrEqual(1);
    }
    // VECTOR: the same three, nearest first, and the score is the cosine similarity.
    const vector = await retrieve({ query: 'show me recent refund questions', k: 3, mode: 'VECTOR' });
    const vchunks = vector.data!.retrieveChunks.chunks;
    expect(vchunks.map((c) => c.ticketId ?? c.documentId).sort()).toEqual(['d7', 't1', 't5']);
    expect(vchunks.find((c) => c.ticketId === 't1')!.citation).toBe('Ticket t1');
    expect(vchunks.find((c) => c.ticketId === 't1')!.text).toContain('Order #4821.');
    const sims = vchunks.map((c) => c.similarity);
    expect([...sims].sort((a, b) => b - a)).toEqual(sims);
    for (const c of vchunks) expect(c.score).toBeCloseTo(c.similarity, 10);
  });

  it('computes similarity as 1 - cosine distance, matching SQL on the stored vectors', async () => {
    const res = await retrieve({ query: 'refund window 30 days', k: 2 });
    const [top] = res.data!.retrieveChunks.chunks;
    const [queryVector] = await t.services.embedders.defaultEmbedder.embed(['refund window 30 days']);
    const rows: { sim: number }[] = await t.db.dataSource.query(
      `SELECT 1 - (embedding <=> $1::vector) AS sim FROM document_chunks WHERE id = $2`,
      [`[${queryVector.join(',')}]`, top.id],
    );
    expect(top.similarity).toBeCloseTo(Number(rows[0].sim), 6);
  });

  it('never gives Bob (contractor) a chunk of d9 or t3, whatever he asks', async () => {
    const questions = [
      'password reset link expired',
      'two-factor authentication lost phone',
      'show me recent refund questions',
      'shipping',
      'account locked',
      'everything',
    ];
    for (const query of questions) {
      const res = await retrieve({ query, k: 50 }, BOB);
      expect(res.errors).toBeUndefined();
      for (const c of res.data!.retrieveChunks.chunks) {
        expect(c.documentId).not.toBe('d9');
        expect(c.documentId).not.toBe('d11');
        expect(c.ticketId).not.toBe('t3');
      }
    }
  });

  it('returns min(k, readable chunks): every chunk Bob may read when k exceeds them', async () => {
    const rows: { n: string }[] = await t.db.dataSource.query(
      `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = 'm01' AND acl && $1::text[]`,
      [['u3', 'role:contractor']],
    );
    const readable = Number(rows[0].n);
    expect(readable).toBeGreaterThan(3);
    const res = await retrieve({ query: 'anything at all', k: 50 }, BOB);
    expect(res.data!.retrieveChunks.chunks).toHaveLength(readable);
    const small = await retrieve({ query: 'anything at all', k: 2 }, BOB);
    expect(small.data!.retrieveChunks.chunks).toHaveLength(2);
  });

  it("never shows another merchant's chunks, even where the ids are the same (d7, t1)", async () => {
    const m01Ids: { id: string }[] = await t.db.dataSource.query(
      `SELECT id::text AS id FROM document_chunks WHERE merchant_id = 'm01'`,
    );
    const m01 = new Set(m01Ids.map((r) => r.id));
    const res = await retrieve(
      { query: 'refund policy 30 days order 4821 blue widget password', k: 50 },
      GLOBEX_AGENT,
    );
    const chunks = res.data!.retrieveChunks.chunks;
    expect(chunks.length).toBeGreaterThan(0);
    for (const c of chunks) {
      expect(m01.has(c.id)).toBe(false);
      expect(c.text).not.toMatch(/Acme|4821|blue widget/);
    }
    expect(chunks.some((c) => c.documentId === 'd7' && c.citation.startsWith('Returns and Refunds'))).toBe(
      true,
    );

    const alice = await retrieve({ query: 'tent returned refund Globex G-1001', k: 50 });
    for (const c of alice.data!.retrieveChunks.chunks) expect(c.text).not.toMatch(/Globex|G-1001|tent/);
  });

  it('filters by source type and by metadata containment', async () => {
    const tickets = await retrieve({ query: 'refund', k: 50, filter: { sourceType: 'TICKET' } });
    expect(tickets.data!.retrieveChunks.chunks.length).toBeGreaterThan(0);
    expect(tickets.data!.retrieveChunks.chunks.every((c) => c.sourceType === 'TICKET')).toBe(true);

    const account = await retrieve({ query: 'refund', k: 50, filter: { metadata: { category: 'account' } } });
    const sources = new Set(account.data!.retrieveChunks.chunks.map((c) => c.documentId ?? c.ticketId));
    expect([...sources].sort()).toEqual(['d9', 't3']);

    const none = await retrieve({
      query: 'refund',
      k: 5,
      filter: { metadata: { category: "x' OR 1=1 --" } },
    });
    expect(none.errors).toBeUndefined();
    expect(none.data!.retrieveChunks.chunks).toHaveLength(0);
  });

  it('rejects a request without a token with UNAUTHENTICATED', async () => {
    const res = await retrieve({ query: 'refund' }, null as never);
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
    expect(res.data).toBeNull();
  });

  it('rejects forged, malformed and expired tokens with 401 UNAUTHENTICATED', async () => {
    const body = JSON.stringify({ query: RETRIEVE, variables: { input: { query: 'refund' } } });
    const forged = t.token(ALICE).replace(/.{4}$/, 'AAAA');
    const expired = (await import('jsonwebtoken')).default.sign(
      { merchant_id: 'm01', roles: ['agent'], sub: 'u1', exp: Math.floor(Date.now() / 1000) - 3600 },
      'test-secret-that-is-long-enough-for-hs256-0123456789',
    );
    const otherSecret = (await import('jsonwebtoken')).default.sign(
      { merchant_id: 'm01', roles: ['agent'], sub: 'u1' },
      'a-completely-different-secret-of-sufficient-length',
    );
    const jwt = (await import('jsonwebtoken')).default;
    const secret = 'test-secret-that-is-long-enough-for-hs256-0123456789';
    // A user id that poses as a role principal, and a token that never expires.
    const rolePosingSub = jwt.sign({ merchant_id: 'm01', roles: [], sub: 'role:agent' }, secret, {
      expiresIn: 600,
    });
    const noExpiry = jwt.sign({ merchant_id: 'm01', roles: ['agent'], sub: 'u1' }, secret);
    for (const header of [
      `Bearer ${rolePosingSub}`,
      `Bearer ${noExpiry}`,
      `Bearer ${forged}`,
      'Bearer not-a-jwt',
      `Basic dTE6cHc=`,
      `Bearer ${expired}`,
      `Bearer ${otherSecret}`,
    ]) {
      const res = await fetch(t.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: header },
        body,
      });
      expect(res.status).toBe(401);
      const json = (await res.json()) as { errors: { extensions: { code: string } }[] };
      expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('validates k and the query text with BAD_USER_INPUT', async () => {
    for (const input of [
      { query: 'refund', k: 0 },
      { query: 'refund', k: 51 },
      { query: '   ' },
      { query: 'x'.repeat(10_000) },
      { query: 'nul \u0000 byte' },
      { query: 'refund', filter: { metadata: ['not', 'an', 'object'] } },
      { query: 'refund', filter: { metadata: { category: 'lone \ud800 surrogate' } } },
      { query: 'refund', filter: { metadata: { 'key\udc00': 1 } } },
    ]) {
      const res = await retrieve(input);
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
    }
    const unknownField = await retrieve({ query: 'refund', filter: { merchantId: 'm02' } });
    expect(errorCode(unknownField)).toBe('BAD_USER_INPUT');
  });

  it('masks internal details in errors', async () => {
    const res = await t.gql(`{ retrieveChunks(input: { query: "refund", k: 3 }) { nope } }`);
    expect(errorCode(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(res)).not.toMatch(/stacktrace|at .*\.ts:/);
  });
});
