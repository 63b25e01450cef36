import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { STOPWORDS, stem, tokenize } from '../../src/embeddings/local-hash.embedder';

/*
 * Embedders fitted on one merchant's corpus (one corpus version): IDF-weighted feature hashing and LSA (a truncated
 * SVD of the corpus's TF-IDF matrix), over local-hash-v1's tokens, stems and stopwords. An experiment only
 * (docs/EVAL.md): a fitted model shipped in the product would need its own frozen copy of the features.
 */

/** Content words, stemmed; stopwords only when there is nothing else (as local-hash-v1). */
export function contentTerms(text: string): string[] {
  const words = tokenize(text);
  const content = words.filter((w) => !STOPWORDS.has(w)).map(stem);
  return content.length > 0 ? content : words.map(stem);
}

export interface Feature {
  key: string;
  weight: number;
}

/** local-hash-v1's features: unigrams (sublinear tf), bigrams (0.5), character trigrams (0.25, sublinear tf). */
export function hashFeatures(terms: readonly string[]): Feature[] {
  const out: Feature[] = [];
  for (const [t, tf] of counts(terms)) out.push({ key: `w:${t}`, weight: 1 + Math.log(tf) });
  for (let i = 0; i + 1 < terms.length; i++) out.push({ key: `b:${terms[i]} ${terms[i + 1]}`, weight: 0.5 });
  for (const [g, tf] of counts(terms.flatMap(trigrams)))
    out.push({ key: `c:${g}`, weight: 0.25 * (1 + Math.log(tf)) });
  return out;
}

/** Document frequencies of unigrams and trigrams (bigrams take their words' idf: storing theirs would be 5× more). */
export interface IdfTable {
  documents: number;
  /** feature key (`w:…` or `c:…`) → document frequency; only features seen in at least `minDf` chunks. */
  df: Map<string, number>;
}

export function fitIdf(texts: readonly string[], minDf = 1): IdfTable {
  const df = new Map<string, number>();
  for (const text of texts) {
    const terms = contentTerms(text);
    const seen = new Set<string>();
    for (const t of terms) seen.add(`w:${t}`);
    for (const g of terms.flatMap(trigrams)) seen.add(`c:${g}`);
    for (const k of seen) df.set(k, (df.get(k) ?? 0) + 1);
  }
  if (minDf > 1) for (const [k, n] of df) if (n < minDf) df.delete(k);
  return { documents: texts.length, df };
}

/**
 * Smoothed idf: `smoothing` pseudo-documents containing every feature. 1 is the textbook form; larger values pull
 * a small corpus's noisy idf toward 1 (unweighted) while barely changing a large corpus's. A feature the corpus never
 * saw is as rare as it gets (a query word no chunk has matches nothing anyway).
 */
export function idfOf(table: IdfTable, key: string, smoothing = 1): number {
  return Math.log((table.documents + smoothing) / ((table.df.get(key) ?? 0) + smoothing)) + 1;
}

export function idfWeighted(table: IdfTable, terms: readonly string[], smoothing = 1): Feature[] {
  const idf = (key: string): number => idfOf(table, key, smoothing);
  return hashFeatures(terms).map((f) => {
    if (f.key.startsWith('b:')) {
      const [a, b] = f.key.slice(2).split(' ');
      return { key: f.key, weight: f.weight * 0.5 * (idf(`w:${a}`) + idf(`w:${b}`)) };
    }
    return { key: f.key, weight: f.weight * idf(f.key) };
  });
}

/** Signed feature hashing into `out` (added, not normalized). */
export function hashInto(out: Float64Array, features: readonly Feature[], scale = 1): void {
  for (const f of features) {
    const h = fnv1a(f.key);
    const sign = (h & 0x80000000) !== 0 ? -1 : 1;
    out[(h & 0x7fffffff) % out.length] += sign * f.weight * scale;
  }
}

export function normalize(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  if (n === 0) {
    // A fixed unit vector keeps cosine defined for text with no known feature (as local-hash-v1).
    v[fnv1a('empty') % v.length] = 1;
    return v;
  }
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// LSA

export interface LsaModel {
  /** Vocabulary (unigram terms) in column order. */
  terms: string[];
  idf: Float32Array;
  rank: number;
  /** terms.length × rank, row-major: the right singular vectors scaled by 1/σ (query fold-in). */
  projection: Float32Array;
}

/** Sparse TF-IDF row of a text over the model's vocabulary, L2-normalized. */
function tfidfRow(
  terms: readonly string[],
  index: ReadonlyMap<string, number>,
  idf: ArrayLike<number>,
): { cols: number[]; vals: number[] } {
  const cols: number[] = [];
  const vals: number[] = [];
  for (const [t, tf] of counts(terms)) {
    const j = index.get(t);
    if (j === undefined) continue;
    cols.push(j);
    vals.push((1 + Math.log(tf)) * idf[j]);
  }
  const n = Math.sqrt(vals.reduce((s, x) => s + x * x, 0));
  if (n > 0) for (let i = 0; i < vals.length; i++) vals[i] /= n;
  return { cols, vals };
}

/**
 * Randomized truncated SVD (Halko, Martinsson & Tropp 2011) of the chunks' TF-IDF matrix with two power
 * iterations; deterministic (seeded). `rank` is capped by the corpus size. Vocabulary: unigrams in ≥ minDf chunks.
 */
export function fitLsa(
  texts: readonly string[],
  rank: number,
  opts: { minDf?: number; seed?: number } = {},
): LsaModel {
  const docs = texts.map(contentTerms);
  const df = new Map<string, number>();
  for (const d of docs) for (const t of new Set(d)) df.set(t, (df.get(t) ?? 0) + 1);
  const minDf = opts.minDf ?? 2;
  const terms = [...df.entries()]
    .filter(([, n]) => n >= minDf)
    .map(([t]) => t)
    .sort();
  const index = new Map(terms.map((t, j) => [t, j]));
  const n = docs.length;
  const V = terms.length;
  const idf = Float32Array.from(terms, (t) => Math.log((n + 1) / (df.get(t)! + 1)) + 1);
  const rows = docs.map((d) => tfidfRow(d, index, idf));
  const k = Math.max(1, Math.min(rank, n - 1, V - 1));
  const l = Math.min(k + 10, n, V);
  const rand = mulberry32(opts.seed ?? 12);
  // Tall matrices as column lists: A·X (n rows) and Aᵀ·Y (V rows) for the sparse A.
  const times = (X: Float64Array[]): Float64Array[] =>
    X.map((x) => {
      const out = new Float64Array(n);
      rows.forEach((r, i) => {
        let s = 0;
        for (let p = 0; p < r.cols.length; p++) s += r.vals[p] * x[r.cols[p]];
        out[i] = s;
      });
      return out;
    });
  const transposeTimes = (Y: Float64Array[]): Float64Array[] =>
    Y.map((y) => {
      const out = new Float64Array(V);
      rows.forEach((r, i) => {
        const yi = y[i];
        if (yi !== 0) for (let p = 0; p < r.cols.length; p++) out[r.cols[p]] += r.vals[p] * yi;
      });
      return out;
    });
  const omega = Array.from({ length: l }, () => Float64Array.from({ length: V }, () => gaussian(rand)));
  let Q = orthonormal(times(omega));
  for (let it = 0; it < 2; it++) Q = orthonormal(times(orthonormal(transposeTimes(Q))));
  const Bt = transposeTimes(Q); // columns of Bᵀ (V × l), B = Qᵀ A
  const m = Bt.length;
  const BBt = new Matrix(m, m);
  for (let a = 0; a < m; a++)
    for (let b = a; b < m; b++) {
      const v = dotArrays(Bt[a], Bt[b]);
      BBt.set(a, b, v);
      BBt.set(b, a, v);
    }
  const evd = new EigenvalueDecomposition(BBt, { assumeSymmetric: true });
  const order = evd.realEigenvalues
    .map((v, i) => ({ v, i }))
    .sort((a, b) => b.v - a.v)
    .slice(0, Math.min(k, m));
  const projection = new Float32Array(V * k);
  const Ue = evd.eigenvectorMatrix;
  order.forEach(({ v, i }, c) => {
    // Right singular vector c = Bᵀu / σ; the fold-in divides by σ once more.
    const scale = 1 / Math.max(v, 1e-12);
    const u = Ue.getColumn(i);
    for (let a = 0; a < m; a++) {
      const w = u[a] * scale;
      if (w === 0) continue;
      const col = Bt[a];
      for (let j = 0; j < V; j++) projection[j * k + c] += col[j] * w;
    }
  });
  return { terms, idf, rank: k, projection };
}

export function lsaIndex(model: LsaModel): Map<string, number> {
  return new Map(model.terms.map((t, j) => [t, j]));
}

/** Fold a text into the latent space; the caller normalizes. */
export function lsaInto(
  out: Float64Array,
  offset: number,
  model: LsaModel,
  index: ReadonlyMap<string, number>,
  terms: readonly string[],
  scale = 1,
): void {
  const { cols, vals } = tfidfRow(terms, index, model.idf);
  const k = model.rank;
  for (let p = 0; p < cols.length; p++) {
    const base = cols[p] * k;
    for (let c = 0; c < k; c++) out[offset + c] += scale * vals[p] * model.projection[base + c];
  }
}

/** Modified Gram–Schmidt, twice ("twice is enough"); a column that vanishes is dropped. */
function orthonormal(Y: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (const y of Y) {
    const v = Float64Array.from(y);
    for (let pass = 0; pass < 2; pass++)
      for (const q of out) {
        const d = dotArrays(q, v);
        for (let i = 0; i < v.length; i++) v[i] -= d * q[i];
      }
    const norm = Math.sqrt(dotArrays(v, v));
    if (norm < 1e-10) continue;
    for (let i = 0; i < v.length; i++) v[i] /= norm;
    out.push(v);
  }
  return out;
}

function dotArrays(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function trigrams(word: string): string[] {
  const padded = `^${word}$`;
  const out: string[] = [];
  for (let i = 0; i + 3 <= padded.length; i++) out.push(padded.slice(i, i + 3));
  return out;
}

function counts(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) m.set(it, (m.get(it) ?? 0) + 1);
  return m;
}

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
