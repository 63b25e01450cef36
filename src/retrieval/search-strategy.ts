import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type Config } from '../config/config';
import { type VectorIndexRepository } from '../vector-index/vector-index.repository';
import {
  type ChunkHit,
  type ChunkSearchParams,
  type HnswTuning,
  type SearchRepository,
} from './search.repository';

export type VectorStrategy = 'exact' | 'quantized' | 'hnsw' | 'hnsw+quantized_fallback';

/**
 * The one place that decides how the vector side of a retrieval is answered, and its EXPLAIN twin: the plan
 * shown is the plan of the statement the same decision runs. docs/RETRIEVAL.md has the numbers.
 */
export class SearchStrategy {
  constructor(
    private readonly search: SearchRepository,
    private readonly indexes: VectorIndexRepository,
    private readonly config: Config,
  ) {}

  /**
   * Chooses the search from what the database knows, cheapest checks first:
   *  - exact when the merchant's version, or the caller's readable candidates under these filters, hold at most
   *    `exactScanMaxRows` chunks (both counts are capped and read no vectors): recall 1.0, fastest there;
   *  - the merchant's dedicated HNSW index (iterative scan) when it has one: large merchants only; the quantized
   *    scan takes over if it comes back short;
   *  - otherwise the binary-quantization scan over the merchant's rows with an exact re-rank.
   */
  async vectorSearch(
    manager: EntityManager,
    scope: TenantScope,
    params: ChunkSearchParams,
    k: number,
  ): Promise<{ hits: ChunkHit[]; strategy: VectorStrategy }> {
    const threshold = this.config.retrieval.exactScanMaxRows;
    const merchantRows = await this.search.countVersionChunksUpTo(
      manager,
      scope.merchantId,
      params.corpus.version,
      threshold + 1,
    );
    const few =
      merchantRows <= threshold ||
      (await this.search.countReadableUpTo(manager, scope, params, threshold + 1)) <= threshold;
    if (few) return { hits: await this.search.searchExact(manager, scope, params), strategy: 'exact' };
    const index = await this.indexes.findMerchantHnswIndex(
      manager,
      scope.merchantId,
      params.corpus.dimensions,
    );
    if (index !== null) {
      const approx = await this.search.searchHnsw(manager, scope, params, this.hnswTuning());
      if (approx.length >= k) return { hits: approx, strategy: 'hnsw' };
      return { hits: await this.quantized(manager, scope, params), strategy: 'hnsw+quantized_fallback' };
    }
    return { hits: await this.quantized(manager, scope, params), strategy: 'quantized' };
  }

  explain(
    manager: EntityManager,
    scope: TenantScope,
    params: ChunkSearchParams,
    strategy: VectorStrategy,
  ): Promise<string[]> {
    switch (strategy) {
      case 'hnsw':
        return this.search.explainHnsw(manager, scope, params, this.hnswTuning(), true);
      case 'quantized':
      case 'hnsw+quantized_fallback':
        return this.search.explainQuantized(manager, scope, params, this.rerankSize(params.k));
      case 'exact':
        return this.search.explainExact(manager, scope, params);
    }
  }

  private quantized(manager: EntityManager, scope: TenantScope, params: ChunkSearchParams) {
    return this.search.searchQuantized(manager, scope, params, this.rerankSize(params.k));
  }

  /** At least the configured shortlist, and 8× the rows asked for (HYBRID asks for a pool of up to 200). */
  private rerankSize(k: number): number {
    return Math.max(this.config.retrieval.quantizedRerank, 8 * k);
  }

  private hnswTuning(): HnswTuning {
    return {
      efSearch: this.config.retrieval.hnswEfSearch,
      maxScanTuples: this.config.retrieval.hnswMaxScanTuples,
      candidates: this.config.retrieval.hnswCandidates,
    };
  }
}
