import { rng } from './bench-utils';
import { VectorGenerator } from './vector-generator';

/**
 * A synthetic multi-tenant support corpus, reproducible from a seed: merchants of very different sizes (one holds
 * ~30% of all chunks, a few ~5%, some medium, many with 20–500), each with documents of several chunks and
 * tickets, ACLs where a contractor reads ~30% of a merchant and staff nearly all, and clustered embeddings
 * (VectorGenerator: Zipf topics shared by all merchants, documents near a topic, chunks near their document).
 *
 * Every merchant has its own random stream derived from the seed, so a merchant's content does not depend on
 * the others' and the corpus can be streamed merchant by merchant without holding 200k vectors in memory.
 */
export type SizeClass = 'xl' | 'large' | 'medium' | 'small';
export const SIZE_CLASSES: readonly SizeClass[] = ['xl', 'large', 'medium', 'small'];

export interface CorpusParams {
  seed: number;
  totalChunks: number;
  dimensions: number;
  /** Share of all chunks in the single biggest merchant. */
  xlShare: number;
  /** How many merchants hold `largeShare` of all chunks each. */
  largeCount: number;
  largeShare: number;
  /** Share of all chunks in medium merchants, whose sizes are drawn from `mediumRange`. */
  mediumShare: number;
  mediumRange: [number, number];
  /** The rest goes to small merchants with sizes drawn log-uniformly from `smallRange`. */
  smallRange: [number, number];
  chunksPerDocument: [number, number];
  /** Share of each merchant's chunks that belong to tickets (1–3 chunks each). */
  ticketShare: number;
  /** Probability that a document is readable by role:contractor / role:staff. */
  contractorShare: number;
  staffShare: number;
}

export interface MerchantPlan {
  index: number;
  id: string;
  sizeClass: SizeClass;
  chunks: number;
}

export interface GeneratedChunk {
  text: string;
  embedding: number[];
}

export interface GeneratedSource {
  kind: 'document' | 'ticket';
  id: string;
  title: string;
  acl: string[];
  metadata: { category: string };
  chunks: GeneratedChunk[];
}

export const ROLE_STAFF = 'role:staff';
export const ROLE_CONTRACTOR = 'role:contractor';

const CATEGORIES = [
  'refund',
  'shipping',
  'account',
  'warranty',
  'billing',
  'subscription',
  'orders',
  'returns',
];
const VOCABULARY = (
  'refund return money card statement credit reversal password reset login factor account locked email shipping ' +
  'delivery parcel tracking carrier courier address warranty defect repair replacement broken faulty claim invoice ' +
  'billing tax receipt payment charge subscription plan upgrade cancel renewal trial gift voucher discount coupon ' +
  'loyalty points exchange size colour stock restock customs label store policy days within order item'
).split(' ');

/** The merchants and their sizes; deterministic in the parameters. */
export function planMerchants(p: CorpusParams): MerchantPlan[] {
  const next = rng(p.seed ^ 0x5eed);
  const sizes: { sizeClass: SizeClass; chunks: number }[] = [];
  sizes.push({ sizeClass: 'xl', chunks: Math.round(p.totalChunks * p.xlShare) });
  for (let i = 0; i < p.largeCount; i++)
    sizes.push({ sizeClass: 'large', chunks: Math.round(p.totalChunks * p.largeShare) });
  let medium = Math.round(p.totalChunks * p.mediumShare);
  while (medium >= p.mediumRange[0]) {
    const n = Math.min(medium, Math.round(p.mediumRange[0] + next() * (p.mediumRange[1] - p.mediumRange[0])));
    sizes.push({ sizeClass: 'medium', chunks: n });
    medium -= n;
  }
  let small = p.totalChunks - sizes.reduce((a, s) => a + s.chunks, 0);
  const [lo, hi] = p.smallRange;
  while (small > 0) {
    // Log-uniform: many merchants near the bottom of the range, a few near the top.
    const n = Math.min(small, Math.round(Math.exp(Math.log(lo) + next() * (Math.log(hi) - Math.log(lo)))));
    if (n < lo && sizes.length > 0 && sizes[sizes.length - 1].sizeClass === 'small') {
      sizes[sizes.length - 1].chunks += n; // a too-small remainder joins the previous merchant
    } else {
      sizes.push({ sizeClass: 'small', chunks: n });
    }
    small -= n;
  }
  return sizes.map((s, index) => ({
    index,
    id: `bm${String(index).padStart(4, '0')}-${s.sizeClass}`,
    ...s,
  }));
}

/** A generator over the corpus's topics; queries and merchants fork their own streams from it. */
export function corpusVectors(p: CorpusParams): VectorGenerator {
  return new VectorGenerator(p.dimensions, p.seed);
}

/**
 * The merchant's documents and tickets, in order. Streams (one source at a time) so that a 60k-chunk merchant
 * never sits in memory at once.
 */
export function* merchantSources(
  p: CorpusParams,
  topics: VectorGenerator,
  m: MerchantPlan,
): Generator<GeneratedSource> {
  const next = rng(p.seed * 7919 + m.index * 104729 + 1);
  const vectors = topics.fork(p.seed * 31 + m.index + 1);
  const between = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  const acl = (): string[] => {
    const out: string[] = [];
    if (next() < p.staffShare) out.push(ROLE_STAFF);
    if (next() < p.contractorShare) out.push(ROLE_CONTRACTOR);
    return out.length > 0 ? out : ['role:admin'];
  };
  const words = (n: number): string =>
    Array.from({ length: n }, () => VOCABULARY[Math.floor(next() * VOCABULARY.length)]).join(' ');
  let ticketChunks = Math.round(m.chunks * p.ticketShare);
  let documentChunks = m.chunks - ticketChunks;
  let d = 0;
  while (documentChunks > 0) {
    const n = Math.min(documentChunks, between(p.chunksPerDocument[0], p.chunksPerDocument[1]));
    const centre = vectors.documentCentre(vectors.topic());
    const category = CATEGORIES[Math.floor(next() * CATEGORIES.length)];
    yield {
      kind: 'document',
      id: `d${d}`,
      title: `${category} guide ${d}`,
      acl: acl(),
      metadata: { category },
      chunks: Array.from({ length: n }, (_, i) => ({
        text: `${category} guide ${d} part ${i}: ${words(12)}.`,
        embedding: vectors.chunk(centre),
      })),
    };
    documentChunks -= n;
    d++;
  }
  let t = 0;
  while (ticketChunks > 0) {
    const n = Math.min(ticketChunks, between(1, 3));
    const centre = vectors.documentCentre(vectors.topic());
    const category = CATEGORIES[Math.floor(next() * CATEGORIES.length)];
    yield {
      kind: 'ticket',
      id: `t${t}`,
      title: `${category} question ${t}`,
      acl: acl(),
      metadata: { category },
      chunks: Array.from({ length: n }, (_, i) => ({
        text: `Ticket ${t} message ${i}: ${words(10)}?`,
        embedding: vectors.chunk(centre),
      })),
    };
    ticketChunks -= n;
    t++;
  }
}

/** recall@k of `got` against the exact answer `truth` (both ordered lists of ids); 1 when nothing is readable. */
export function recallAtK(truth: readonly string[], got: readonly string[], k: number): number {
  const expected = truth.slice(0, k);
  if (expected.length === 0) return 1;
  const found = new Set(got.slice(0, k));
  return expected.filter((id) => found.has(id)).length / expected.length;
}

/** The 1-based rank of the first relevant item in `ranked`, as a reciprocal (0 when none is within `k`). */
export function reciprocalRank(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  const i = ranked.slice(0, k).findIndex((id) => relevant.has(id));
  return i < 0 ? 0 : 1 / (i + 1);
}
