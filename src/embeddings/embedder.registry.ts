import { LRUCache } from 'lru-cache';
import { type Config } from '../config/config';
import { sha256 } from '../common/hash';
import { type Embedder } from './embedder';
import { assertValidEmbeddings, embeddingFailed } from './embedding.errors';
import { DomainError } from '../common/errors/domain-error';
import { LocalHashEmbedder } from './local-hash.embedder';
import { OpenAIEmbedder } from './openai.embedder';
import { NO_SERVICE_EVENTS, type ServiceEvents } from '../ops/service-events';

export interface EmbeddingStats {
  /** Texts sent to a provider. */
  embedded: number;
  /** Texts answered from the in-memory cache. */
  cacheHits: number;
}

/**
 * Embedders by (model, dimensions), created on demand: each corpus version names its model, and a merchant whose
 * active version uses another model than the configured default must still be served. Models named
 * `local-hash*` are the offline embedder; any other name goes to the configured OpenAI-compatible endpoint.
 *
 * Also the in-memory embedding cache, keyed by (model, dimensions, content hash), LRU-bounded. Ingestion first
 * reuses vectors already stored in the database for the same text; this cache additionally covers query texts
 * and repeated texts across requests.
 */
export class EmbedderRegistry {
  private readonly embedders = new Map<string, Embedder>();
  /** Float32 halves the memory of a cached vector; a query embedding does not need float64. */
  private readonly cache: LRUCache<string, Float32Array> | undefined;
  readonly stats: EmbeddingStats = { embedded: 0, cacheHits: 0 };

  constructor(
    private readonly config: Config,
    /** The configured default (or a test's); used for new merchants. */
    readonly defaultEmbedder: Embedder,
    cacheEntries: number = config.embedding.cacheEntries,
    private readonly events: ServiceEvents = NO_SERVICE_EVENTS,
  ) {
    this.embedders.set(key(defaultEmbedder.model, defaultEmbedder.dimensions), defaultEmbedder);
    this.cache = cacheEntries > 0 ? new LRUCache({ max: cacheEntries }) : undefined;
  }

  /** Makes `embedder` the one used for its (model, dimensions), e.g. a provider configured outside the env. */
  register(embedder: Embedder): void {
    this.embedders.set(key(embedder.model, embedder.dimensions), embedder);
  }

  get(model: string, dimensions: number): Embedder {
    const k = key(model, dimensions);
    let embedder = this.embedders.get(k);
    if (!embedder) {
      const e = this.config.embedding;
      embedder = model.startsWith('local-hash')
        ? new LocalHashEmbedder(dimensions, model)
        : new OpenAIEmbedder({
            baseUrl: e.baseUrl,
            apiKey: e.apiKey,
            model,
            dimensions,
            timeoutMs: e.timeoutMs,
            batchSize: e.batchSize,
            concurrency: e.concurrency,
            maxRetries: e.maxRetries,
          });
      this.embedders.set(k, embedder);
    }
    return embedder;
  }

  /**
   * Vectors for `texts` in order, computing only what neither `known` (hash → vector, e.g. from the database)
   * nor the cache has, each distinct text once. Validates what the provider returns. Returns which positions
   * were computed now.
   */
  async embed(
    embedder: Embedder,
    texts: readonly string[],
    known: ReadonlyMap<string, number[]> = new Map(),
  ): Promise<{ vectors: number[][]; computed: boolean[] }> {
    const hashes = texts.map((t) => sha256(t));
    const vectors: (number[] | undefined)[] = hashes.map((h) => known.get(h));
    const computed = texts.map(() => false);
    const missing = new Map<string, number[]>(); // hash → positions
    let hits = 0;
    hashes.forEach((h, i) => {
      if (vectors[i] !== undefined) return;
      const cached = this.cacheGet(embedder, h);
      if (cached) {
        vectors[i] = cached;
        hits++;
        return;
      }
      const positions = missing.get(h) ?? [];
      positions.push(i);
      missing.set(h, positions);
    });
    if (hits > 0) {
      this.stats.cacheHits += hits;
      this.events.embeddingCacheHits(embedder.model, hits);
    }
    if (missing.size > 0) {
      const order = [...missing.keys()];
      const toEmbed = order.map((h) => texts[missing.get(h)![0]]);
      let fresh: number[][];
      const started = performance.now();
      try {
        fresh = await embedder.embed(toEmbed);
        assertValidEmbeddings(fresh, toEmbed.length, embedder.dimensions);
        this.events.embeddingCall(embedder.model, toEmbed.length, (performance.now() - started) / 1000, true);
      } catch (err) {
        this.events.embeddingCall(
          embedder.model,
          toEmbed.length,
          (performance.now() - started) / 1000,
          false,
        );
        if (err instanceof DomainError) throw err;
        throw embeddingFailed(err instanceof Error ? err.message : 'the embedding provider failed');
      }
      this.stats.embedded += toEmbed.length;
      order.forEach((h, j) => {
        this.cacheSet(embedder, h, fresh[j]);
        for (const i of missing.get(h)!) {
          vectors[i] = fresh[j];
          computed[i] = true;
        }
      });
    }
    return { vectors: vectors as number[][], computed };
  }

  private cacheGet(embedder: Embedder, hash: string): number[] | undefined {
    const hit = this.cache?.get(`${key(embedder.model, embedder.dimensions)}:${hash}`);
    return hit ? Array.from(hit) : undefined;
  }

  private cacheSet(embedder: Embedder, hash: string, vector: number[]): void {
    this.cache?.set(`${key(embedder.model, embedder.dimensions)}:${hash}`, Float32Array.from(vector));
  }
}

const key = (model: string, dimensions: number): string => `${model}@${dimensions}`;
