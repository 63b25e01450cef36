import { performance } from 'node:perf_hooks';
import { type DataSource } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type ChunkHit, type ChunkRepository, type ChunkSearchFilter } from '../chunks/chunk.repository';
import { badInput } from '../common/errors/domain-error';
import { assertText, normalizeMetadata } from '../common/validation';
import { type Config } from '../config/config';
import { type Embedder } from '../embeddings/embedder';
import { assertValidEmbeddings, embeddingFailed } from '../embeddings/embedding.errors';
import { DomainError } from '../common/errors/domain-error';

export const MAX_K = 50;
export const DEFAULT_K = 5;

export type RetrievalStrategy = 'exact' | 'hnsw_iterative' | 'hnsw_iterative+exact_fallback';

export interface RetrieveQuery {
  query: string;
  k: number;
  filter?: { sourceType?: 'document' | 'ticket' | null; metadata?: unknown } | null;
}

export interface RetrievedChunkView extends ChunkHit {
  similarity: number;
  score: number;
  sourceType: 'document' | 'ticket';
}

export interface RetrieveResult {
  chunks: RetrievedChunkView[];
  strategy: RetrievalStrategy;
  tookMs: number;
}

/**
 * Top-k chunks of the caller's merchant that the caller may read, nearest first.
 *
 * pgvector's HNSW scan applies WHERE filters after the index scan, so the tutorial's query returns fewer than k
 * rows whenever the filter is selective. Here: a merchant small enough is searched exactly (fast, recall 1.0);
 * a larger one goes through HNSW with iterative scan, and if that still comes back short the exact search runs,
 * so the answer always has min(k, readable matches) rows. docs/RETRIEVAL.md has the measurements.
 */
export class RetrievalService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly embedder: Embedder,
    private readonly chunks: ChunkRepository,
    private readonly config: Config,
  ) {}

  async retrieve(scope: TenantScope, q: RetrieveQuery): Promise<RetrieveResult> {
    const started = performance.now();
    const text = assertText('query', q.query, this.config.limits.maxQueryChars);
    if (!Number.isInteger(q.k) || q.k < 1 || q.k > MAX_K)
      throw badInput(`k must be between 1 and ${MAX_K}`, { field: 'k' });
    const filter: ChunkSearchFilter = {};
    if (q.filter?.sourceType) filter.sourceType = q.filter.sourceType;
    if (q.filter?.metadata !== undefined && q.filter.metadata !== null) {
      filter.metadata = normalizeMetadata('filter.metadata', q.filter.metadata);
    }
    if (scope.principals.length === 0)
      return { chunks: [], strategy: 'exact', tookMs: performance.now() - started };

    const embedding = await this.embedQuery(text);
    const params = { embedding, embeddingModel: this.embedder.model, k: q.k, filter };
    const { hits, strategy } = await this.dataSource.transaction(async (manager) => {
      const threshold = this.config.retrieval.exactScanMaxRows;
      const merchantRows = await this.chunks.countMerchantChunksUpTo(
        manager,
        scope.merchantId,
        threshold + 1,
      );
      if (merchantRows <= threshold) {
        return { hits: await this.chunks.searchExact(manager, scope, params), strategy: 'exact' as const };
      }
      const approx = await this.chunks.searchHnsw(manager, scope, params, {
        efSearch: this.config.retrieval.hnswEfSearch,
        maxScanTuples: 20_000,
      });
      if (approx.length >= q.k) return { hits: approx, strategy: 'hnsw_iterative' as const };
      return {
        hits: await this.chunks.searchExact(manager, scope, params),
        strategy: 'hnsw_iterative+exact_fallback' as const,
      };
    });
    return {
      chunks: hits.map((h) => {
        const similarity = 1 - h.distance;
        return {
          ...h,
          similarity,
          score: similarity,
          sourceType: h.documentId !== null ? 'document' : 'ticket',
        };
      }),
      strategy,
      tookMs: performance.now() - started,
    };
  }

  private async embedQuery(text: string): Promise<number[]> {
    try {
      const vectors = await this.embedder.embed([text]);
      return assertValidEmbeddings(vectors, 1, this.embedder.dimensions)[0];
    } catch (err) {
      if (err instanceof DomainError) throw err;
      throw embeddingFailed(err instanceof Error ? err.message : 'the embedding provider failed');
    }
  }
}
