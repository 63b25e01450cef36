import { type Embedder } from './embedder';

/**
 * The offline default: a LEXICAL embedder, not a semantic model. It hashes word unigrams, word bigrams and
 * character trigrams (feature hashing with a sign bit) into a fixed number of dimensions, weights them
 * sublinearly by frequency and L2-normalizes, so cosine similarity measures shared vocabulary. It needs no
 * network, is deterministic across machines, and makes retrieval testable with exact expectations. It does not
 * know that "money back" means "refund": use the OpenAI-compatible provider for meaning.
 */
export class LocalHashEmbedder implements Embedder {
  constructor(
    readonly dimensions: number,
    readonly model = 'local-hash-v1',
  ) {}

  embed(texts: readonly string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((t) => this.embedOne(t)));
  }

  embedOne(text: string): number[] {
    const vec = new Float64Array(this.dimensions);
    const words = tokenize(text);
    let content = words.filter((w) => !STOPWORDS.has(w)).map(stem);
    if (content.length === 0) content = words.map(stem);
    const add = (feature: string, weight: number): void => {
      const h = fnv1a(feature);
      const sign = (h & 0x80000000) !== 0 ? -1 : 1;
      vec[(h & 0x7fffffff) % this.dimensions] += sign * weight;
    };
    for (const [term, tf] of counts(content)) add(`w:${term}`, 1 + Math.log(tf));
    for (let i = 0; i + 1 < content.length; i++) add(`b:${content[i]} ${content[i + 1]}`, 0.5);
    for (const [gram, tf] of counts(content.flatMap(trigrams))) add(`c:${gram}`, 0.25 * (1 + Math.log(tf)));
    let norm = 0;
    for (const x of vec) norm += x * x;
    if (norm === 0) {
      // Text without a single letter or digit: a fixed unit vector keeps cosine distance defined (a zero vector
      // would make it NaN) while matching nothing in particular.
      vec[fnv1a('empty') % this.dimensions] = 1;
      norm = 1;
    }
    const inv = 1 / Math.sqrt(norm);
    return Array.from(vec, (x) => x * inv);
  }
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

function counts(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) m.set(it, (m.get(it) ?? 0) + 1);
  return m;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const STOPWORDS = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both ' +
    'but by can could did do does doing down during each few for from further had has have having he her here hers ' +
    'him his how i if in into is it its itself just me more most my myself no nor not now of off on once only or ' +
    'other our ours out over own same she should so some such than that the their theirs them then there these ' +
    'they this those through to too under until up very was we were what when where which while who whom why will ' +
    'with would you your yours yourself show tell give please get got let us'
  ).split(' '),
);
