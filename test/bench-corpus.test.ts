import {
  type CorpusParams,
  corpusVectors,
  merchantSources,
  planMerchants,
  recallAtK,
  reciprocalRank,
  ROLE_CONTRACTOR,
  ROLE_STAFF,
} from '../bench/corpus-generator';
import { vectorToBinary } from '../bench/bulk-loader';

// The benchmark itself (npm run bench) is not part of the test suite; these check the two things its numbers rest
// on: the corpus is reproducible from its seed and shaped as documented, and recall is computed correctly.
const params: CorpusParams = {
  seed: 7,
  totalChunks: 6000,
  dimensions: 32,
  xlShare: 0.3,
  largeCount: 3,
  largeShare: 0.05,
  mediumShare: 0.1,
  mediumRange: [300, 600],
  smallRange: [20, 500],
  chunksPerDocument: [3, 8],
  ticketShare: 0.1,
  contractorShare: 0.3,
  staffShare: 0.97,
};

const cosine = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);

describe('benchmark corpus generator', () => {
  it('plans a heavy-tailed set of merchants that adds up to the requested size', () => {
    const plan = planMerchants(params);
    expect(plan.reduce((a, m) => a + m.chunks, 0)).toBe(6000);
    expect(plan.filter((m) => m.sizeClass === 'xl').map((m) => m.chunks)).toEqual([1800]);
    expect(plan.filter((m) => m.sizeClass === 'large').map((m) => m.chunks)).toEqual([300, 300, 300]);
    const small = plan.filter((m) => m.sizeClass === 'small');
    expect(small.length).toBeGreaterThan(10);
    for (const m of small) expect(m.chunks).toBeLessThanOrEqual(500);
    expect(new Set(plan.map((m) => m.id)).size).toBe(plan.length);
    expect(planMerchants(params)).toEqual(plan);
  });

  it('streams the same sources for the same seed, other ones for another seed', () => {
    const plan = planMerchants(params);
    const take = (p: CorpusParams) => [...merchantSources(p, corpusVectors(p), plan[plan.length - 1])];
    const a = take(params);
    const b = take(params);
    expect(b).toEqual(a);
    expect(a.reduce((n, s) => n + s.chunks.length, 0)).toBe(plan[plan.length - 1].chunks);
    const other = take({ ...params, seed: 8 });
    expect(other[0].chunks[0].embedding).not.toEqual(a[0].chunks[0].embedding);
    // A merchant's content does not depend on the merchants generated before it.
    const topics = corpusVectors(params);
    [...merchantSources(params, topics, plan[0])].slice(0, 3);
    expect([...merchantSources(params, topics, plan[plan.length - 1])]).toEqual(a);
  });

  it('gives contractors about 30% and staff nearly all of the sources, and clusters chunks by document', () => {
    const plan = planMerchants(params);
    const sources = [...merchantSources(params, corpusVectors(params), plan[0])];
    const share = (role: string) => sources.filter((s) => s.acl.includes(role)).length / sources.length;
    expect(share(ROLE_CONTRACTOR)).toBeGreaterThan(0.22);
    expect(share(ROLE_CONTRACTOR)).toBeLessThan(0.38);
    expect(share(ROLE_STAFF)).toBeGreaterThan(0.93);
    expect(sources.some((s) => s.kind === 'ticket')).toBe(true);
    for (const s of sources)
      for (const c of s.chunks) expect(Math.abs(cosine(c.embedding, c.embedding) - 1)).toBeLessThan(1e-9);
    // Two chunks of one document are closer than chunks of two different documents, on average.
    let within = 0;
    let across = 0;
    const docs = sources.filter((s) => s.chunks.length >= 2).slice(0, 40);
    docs.forEach((d, i) => {
      within += cosine(d.chunks[0].embedding, d.chunks[1].embedding);
      across += cosine(d.chunks[0].embedding, docs[(i + 1) % docs.length].chunks[1].embedding);
    });
    expect(within / docs.length).toBeGreaterThan(across / docs.length + 0.1);
  });

  it('encodes vectors in pgvector binary format', () => {
    const buf = vectorToBinary([1, -0.5, 0.25]);
    expect(buf.readInt16BE(0)).toBe(3);
    expect(buf.readInt16BE(2)).toBe(0);
    expect([buf.readFloatBE(4), buf.readFloatBE(8), buf.readFloatBE(12)]).toEqual([1, -0.5, 0.25]);
  });
});

describe('benchmark recall computation', () => {
  it('counts the exact top-k found, regardless of order, and 1 when nothing is readable', () => {
    expect(recallAtK(['a', 'b', 'c', 'd'], ['d', 'x', 'a', 'b'], 4)).toBe(0.75);
    expect(recallAtK(['a', 'b'], ['a', 'b', 'c'], 10)).toBe(1);
    expect(recallAtK(['a', 'b'], [], 10)).toBe(0);
    expect(recallAtK([], [], 10)).toBe(1);
    // Only the first k of each list count.
    expect(recallAtK(['a', 'b', 'c'], ['c', 'b', 'a'], 2)).toBe(0.5);
  });

  it('gives the reciprocal rank of the first relevant item within k', () => {
    expect(reciprocalRank(['x', 'a', 'b'], new Set(['a', 'b']), 10)).toBe(0.5);
    expect(reciprocalRank(['x', 'y', 'a'], new Set(['a']), 2)).toBe(0);
  });
});
