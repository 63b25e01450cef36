import { type Embedder } from '../../src/embeddings/embedder';
import { LocalHashEmbedder } from '../../src/embeddings/local-hash.embedder';

/**
 * The real local embedder, counting what it is asked to embed, and able to fail on demand (after `failAfter`
 * more calls) to interrupt a job half-way. Not a mock: the vectors are the real ones.
 */
export class CountingEmbedder implements Embedder {
  private readonly inner: LocalHashEmbedder;
  calls = 0;
  texts = 0;
  failAfter: number | null = null;

  constructor(
    readonly dimensions = 1536,
    readonly model = 'local-hash-v1',
  ) {
    this.inner = new LocalHashEmbedder(dimensions, model);
  }

  embed(texts: readonly string[]): Promise<number[][]> {
    if (this.failAfter !== null) {
      if (this.failAfter <= 0) return Promise.reject(new Error('provider unavailable (test)'));
      this.failAfter--;
    }
    this.calls++;
    this.texts += texts.length;
    return this.inner.embed(texts);
  }

  reset(): void {
    this.calls = 0;
    this.texts = 0;
  }
}
