import { rng } from './bench-utils';

/**
 * Embeddings that cluster like real ones, reproducible from a seed: topic centres; each document near one topic
 * (topics drawn from a Zipf-like distribution, as real corpora have a few dominant subjects); each chunk near its
 * document; queries near a topic. Independent random vectors would make every neighbour equally far and ANN
 * indexes behave unrealistically well or badly; this keeps the structure HNSW is built for.
 */
export class VectorGenerator {
  private readonly next: () => number;
  private readonly topics: Float64Array[];
  /** The second value of the last Box-Muller pair; NaN when used (a number field keeps this hot path monomorphic). */
  private spare = NaN;

  constructor(
    readonly dimensions: number,
    seed: number,
    readonly topicCount = 64,
    /** Spread of a document around its topic, and of a chunk around its document (relative to unit vectors). */
    readonly spread = { document: 0.55, chunk: 0.35, query: 0.6 },
    topics?: Float64Array[],
  ) {
    this.next = rng(seed);
    this.topics = topics ?? Array.from({ length: topicCount }, () => this.unit(this.gaussianVector(1)));
  }

  /**
   * A generator over the same topics with its own random stream: one per merchant (or for queries), so each can
   * be generated on its own and in any order, and still be reproducible from the seeds.
   */
  fork(seed: number): VectorGenerator {
    return new VectorGenerator(this.dimensions, seed, this.topicCount, this.spread, this.topics);
  }

  /** A topic index, low indexes more likely (weight 1/(i+1)). */
  topic(): number {
    const total = this.harmonic();
    let r = this.next() * total;
    for (let i = 0; i < this.topicCount; i++) {
      r -= 1 / (i + 1);
      if (r <= 0) return i;
    }
    return this.topicCount - 1;
  }

  documentCentre(topic: number): Float64Array {
    return this.around(this.topics[topic], this.spread.document);
  }

  chunk(documentCentre: Float64Array): number[] {
    return Array.from(this.around(documentCentre, this.spread.chunk));
  }

  query(topic = this.topic()): number[] {
    return Array.from(this.around(this.topics[topic], this.spread.query));
  }

  /** A unit vector near `centre`: Gaussian noise of total size ~`spread`, normalized (written as loops: it is hot). */
  private around(centre: Float64Array, spread: number): Float64Array {
    const n = this.dimensions;
    const sigma = spread / Math.sqrt(n);
    const out = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = centre[i] + this.gaussian() * sigma;
      out[i] = x;
      sum += x * x;
    }
    const inv = 1 / Math.sqrt(sum);
    for (let i = 0; i < n; i++) out[i] *= inv;
    return out;
  }

  private gaussianVector(sigma: number): Float64Array {
    const out = new Float64Array(this.dimensions);
    for (let i = 0; i < out.length; i++) out[i] = this.gaussian() * sigma;
    return out;
  }

  /** Box-Muller. */
  private gaussian(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = NaN;
      return s;
    }
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  private unit(v: Float64Array): Float64Array {
    let sum = 0;
    for (const x of v) sum += x * x;
    const n = Math.sqrt(sum);
    return v.map((x) => x / n);
  }

  private harmonicCache: number | undefined;
  private harmonic(): number {
    this.harmonicCache ??= Array.from({ length: this.topicCount }, (_, i) => 1 / (i + 1)).reduce(
      (a, b) => a + b,
      0,
    );
    return this.harmonicCache;
  }
}
