import { performance } from 'node:perf_hooks';
import { type DataSource } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type ChunkHit, type ChunkRepository, type ChunkSearchFilter } from '../chunks/chunk.repository';
import { badInput } from '../common/errors/domain-error';
import { assertText, normalizeMetadata } from '../common/validation';
import { type Config } from '../config/config';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type EmbedderRegistry } from '../embeddings/embedder.registry';

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
    private readonly embedders: EmbedderRegistry,
    private readonly corpus: CorpusVersionRepository,
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

    for (let attempt = 1; ; attempt++) {
      // The query is embedded with the model of the merchant's active corpus version, before the transaction
      // opens (a provider call must not hold the connection); the transaction then checks the version still holds.
      const { active } = await this.corpus.findLive(this.dataSource.manager, scope.merchantId);
      if (!active) return { chunks: [], strategy: 'exact', tookMs: performance.now() - started };
      const embedder = this.embedders.get(active.embeddingModel, active.dimensions);
      const { vectors } = await this.embedders.embed(embedder, [text]);
      const params = {
        embedding: vectors[0],
        corpus: { version: active.version, dimensions: active.dimensions },
        k: q.k,
        filter,
      };
      const outcome = await this.dataSource.transaction(async (manager) => {
        const now = await this.corpus.findLive(manager, scope.merchantId);
        if (now.active?.version !== active.version) return null;
        const threshold = this.config.retrieval.exactScanMaxRows;
        const rows = await this.chunks.countVersionChunksUpTo(
          manager,
          scope.merchantId,
          active.version,
          threshold + 1,
        );
        if (rows <= threshold) {
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
      if (outcome === null && attempt < 3) continue; // a model flip happened in between: embed again
      if (outcome === null) return { chunks: [], strategy: 'exact', tookMs: performance.now() - started };
      const { hits, strategy } = outcome;
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
  }
}
