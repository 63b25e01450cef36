import { type Embedder } from './embedder';

/**
 * The offline default: a LEXICAL embedder, not a semantic model. It hashes word unigrams, word bigrams and
 * character trigrams (feature hashing with a sign bit) into a fixed number of dimensions, weights them
 * sublinearly by frequency and L2-normalizes, so cosine similarity measures shared vocabulary. It needs no
 * network, is deterministic across machines, and makes retrieval testable with exact expectations. It does not
 * know that "money back" means "refund": use the OpenAI-compatible provider for meaning.
 */
export class LocalHashEmbedder implements Embedder {
  readonly inProcess = true;

  constructor(
    readonly dimensions: number,
    readonly model = 'local-hash-v1',
  ) {}

  embed(texts: readonly string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((t) => this.embedOne(t)));
  }

  embedOne(text: string): number[] {
    const dims = this.dimensions;
    const vec = new Float64Array(dims);
    boundCaches();
    // Each feature's hash, then `vec[slot] += sign * weight` in the original order (unigrams, bigrams, trigrams,
    // each in first-occurrence order): floating-point addition is not associative, and stored corpora hold the
    // exact bits (local-hash.embedder.pinned.test.ts). What is cached per term is only its hashes.
    const add = (h: number, weight: number): void => {
      const sign = (h & 0x80000000) !== 0 ? -1 : 1;
      vec[(h & 0x7fffffff) % dims] += sign * weight;
    };
    const content = contentTerms(text);
    const tf = new Map<TermFeatures, number>();
    for (const t of content) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const [term, n] of tf) add(term.unigram, 1 + Math.log(n));
    for (let i = 0; i + 1 < content.length; i++)
      add(fnvContinue(content[i].bigramPrefix, content[i + 1].term), 0.5);
    // Trigram counts by interned id, in first-occurrence order (a Map keyed by the trigram strings did the same
    // at ~3x the cost: it was most of embedOne).
    const counts = gramCounts(gramHashes.length);
    const order: number[] = [];
    for (const t of content) {
      for (const id of t.gramIds) {
        if (counts[id]++ === 0) order.push(id);
      }
    }
    for (const id of order) {
      add(gramHashes[id], 0.25 * (1 + Math.log(counts[id])));
      counts[id] = 0;
    }
    let norm = 0;
    for (let i = 0; i < dims; i++) norm += vec[i] * vec[i];
    if (norm === 0) {
      // Text without a single letter or digit: a fixed unit vector keeps cosine distance defined (a zero vector
      // would make it NaN) while matching nothing in particular.
      vec[fnv1a('empty') % dims] = 1;
      norm = 1;
    }
    const inv = 1 / Math.sqrt(norm);
    const out = new Array<number>(dims);
    for (let i = 0; i < dims; i++) out[i] = vec[i] * inv;
    return out;
  }
}

/** A stemmed term's features, hashed once: `w:term`, the state of `b:term ` (a bigram continues it), trigrams. */
interface TermFeatures {
  term: string;
  unigram: number;
  bigramPrefix: number;
  /** Its trigrams as ids into gramHashes (one id per distinct trigram string). */
  gramIds: number[];
}

/**
 * Words repeat (Zipf), so the stem of each word and the hashes of each term are computed once per process. Bounded:
 * cleared when full (a clear only costs recomputation).
 */
const MAX_CACHED_WORDS = 100_000;
const wordCache = new Map<string, { stop: boolean; features: TermFeatures }>();
const termCache = new Map<string, TermFeatures>();
/** Interned trigrams: id by string, hash by id. Emptied with the caches above, whose features hold the ids. */
const gramIds = new Map<string, number>();
const gramHashes: number[] = [];
/** Per-id counts for one embedOne call, all zero between calls (embedOne resets what it counted). */
let scratchCounts = new Int32Array(1024);
const FNV_OFFSET = 0x811c9dc5;
const UNIGRAM = fnvContinue(FNV_OFFSET, 'w:');
const BIGRAM = fnvContinue(FNV_OFFSET, 'b:');
const TRIGRAM = fnvContinue(FNV_OFFSET, 'c:');

function termFeatures(term: string): TermFeatures {
  let f = termCache.get(term);
  if (f === undefined) {
    f = {
      term,
      unigram: fnvContinue(UNIGRAM, term) >>> 0,
      bigramPrefix: fnvContinue(fnvContinue(BIGRAM, term), ' '),
      gramIds: trigrams(term).map(gramId),
    };
    termCache.set(term, f);
  }
  return f;
}

function gramId(gram: string): number {
  let id = gramIds.get(gram);
  if (id === undefined) {
    id = gramHashes.length;
    gramIds.set(gram, id);
    gramHashes.push(fnvContinue(TRIGRAM, gram) >>> 0);
  }
  return id;
}

/** The zeroed counts array, grown to hold every interned id. */
function gramCounts(ids: number): Int32Array {
  if (scratchCounts.length < ids) scratchCounts = new Int32Array(Math.max(ids, scratchCounts.length * 2));
  return scratchCounts;
}

/**
 * Empties the caches once either is full: all together, since cached features hold trigram ids, and only between
 * two texts (embedOne calls it first), never while a text's features are in hand. A text adds at most its own words.
 */
function boundCaches(): void {
  if (wordCache.size < MAX_CACHED_WORDS && termCache.size < MAX_CACHED_WORDS) return;
  wordCache.clear();
  termCache.clear();
  gramIds.clear();
  gramHashes.length = 0;
}

/** The stemmed content words (stopwords dropped, unless nothing else is left), as cached features. */
function contentTerms(text: string): TermFeatures[] {
  const words = tokenize(text);
  const content: TermFeatures[] = [];
  for (const w of words) {
    let known = wordCache.get(w);
    if (known === undefined) {
      known = { stop: STOPWORDS.has(w), features: termFeatures(stem(w)) };
      wordCache.set(w, known);
    }
    if (!known.stop) content.push(known.features);
  }
  if (content.length > 0 || words.length === 0) return content;
  return words.map((w) => termFeatures(stem(w)));
}

export function tokenize(text: string): string[] {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** A light suffix stripper so that "refunds"/"refund" and "questions"/"question" share a feature. */
export function stem(word: string): string {
  if (word.length <= 3 || /^\d+$/.test(word)) return word;
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (word.endsWith('ing') && word.length > 5) return word.slice(0, -3);
  if (word.endsWith('ed') && word.length > 4) return word.slice(0, -2);
  if (word.endsWith('es') && /(ch|sh|x|ss|z)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss') && !word.endsWith('us')) return word.slice(0, -1);
  return word;
}

function trigrams(word: string): string[] {
  const padded = `^${word}$`;
  const out: string[] = [];
  for (let i = 0; i + 3 <= padded.length; i++) out.push(padded.slice(i, i + 3));
  return out;
}

function fnv1a(s: string): number {
  return fnvContinue(FNV_OFFSET, s) >>> 0;
}

/** FNV-1a over `s` from a given state, as a signed 32-bit state: `fnv1a(a + b) === fnvContinue(state(a), b) >>> 0`. */
function fnvContinue(state: number, s: string): number {
  let h = state;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** Words left out of features when a text has others (also read by bench/eval's fitted-embedder experiment). */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both ' +
    'but by can could did do does doing down during each few for from further had has have having he her here hers ' +
    'him his how i if in into is it its itself just me more most my myself no nor not now of off on once only or ' +
    'other our ours out over own same she should so some such than that the their theirs them then there these ' +
    'they this those through to too under until up very was we were what when where which while who whom why will ' +
    'with would you your yours yourself show tell give please get got let us'
  ).split(' '),
);
