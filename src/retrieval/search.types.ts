import { type JsonObject } from '../common/graphql-scalars';

/**
 * The shapes of a search: what is asked (params, filter, plan), what one statement answers (hits, strategies).
 * Shared by the statement builder (search-statement.sql.ts), the repository that runs it, the strategy that plans
 * it and calibration, which compares its paths.
 */

export interface ChunkSearchFilter {
  sourceType?: 'document' | 'ticket';
  /** jsonb containment (`metadata @> filter`), bound as one parameter. */
  metadata?: JsonObject;
  documentIds?: string[];
  ticketIds?: string[];
  /** Only chunks of this customer's tickets. */
  customerId?: string;
  /** Only chunks of tickets in these states. */
  ticketStatuses?: string[];
  /** metadata.category equals this. */
  category?: string;
  /** The chunk's document or ticket changed at or after this time. */
  updatedSince?: Date;
}

/** The corpus version being read or written, and its vector size (part of the SQL: it selects the HNSW index). */
export interface VersionRef {
  version: number;
  dimensions: number;
}

export interface ChunkSearchParams {
  embedding: ArrayLike<number>;
  corpus: VersionRef;
  k: number;
  filter: ChunkSearchFilter;
}

/** Transaction-local settings of the approximate paths (sent before the search statement, never inside it). */
export interface HnswTuning {
  efSearch: number;
  maxScanTuples: number;
  /**
   * Rows taken from the index scan before the exact re-sort keeps k (at least k). With relaxed_order the scan
   * yields rows only roughly by distance and stops at its LIMIT: asking for more than k lets a near row that came
   * out late still make the top k (it mattered most for narrow readers, see docs/RETRIEVAL.md).
   */
  candidates?: number;
}

export type ApproximatePath = 'none' | 'quantized' | 'hnsw';

export type ShortlistMetric = 'hamming' | 'jaccard';

/** The bit-distance operator of each shortlist metric (pgvector, on `bit`). */
export const SHORTLIST_OPERATORS: Record<ShortlistMetric, string> = { hamming: '<~>', jaccard: '<%>' };

/**
 * What one search statement computes. The vector side is exact when `approximate` is 'none' or when the caller's
 * readable candidates (counted inside the statement; capped on the HNSW path) are at most `exactMaxReadable`;
 * otherwise the approximate path answers, and an HNSW scan that comes back short is replaced by the quantized scan —
 * all decided inside the one statement (one-time filters on InitPlans), so no count travels back and forth.
 */
export interface SearchPlan {
  params: ChunkSearchParams;
  vector: null | {
    approximate: ApproximatePath;
    exactMaxReadable: number;
    /** Re-rank size of the quantized scan (also the HNSW fallback). */
    rerank: number;
    /**
     * How the quantized scan ranks its shortlist by the sign bits: Hamming (`<~>`, the default) or Jaccard (`<%>`,
     * which ignores bits unset in both, as the many zero components of a sparse vector are).
     */
    shortlistMetric?: ShortlistMetric;
    /** Rows the HNSW scan yields before the exact re-sort. */
    hnswCandidates: number;
    /**
     * The dedicated index's bound: it holds the chunks with id <= this; newer ones (the tail) are scanned exactly
     * and merged. Null: an index that covers every chunk (no tail). Read from the registry row that named the
     * index (the retrieval's first statement), never from a request.
     */
    graphMaxId: string | null;
    /**
     * A single exact path (`only`) that reads the readable ids first and then probes each one's row, as the gated
     * exact path of a merchant with an approximate path does: what calibration times (search.repository.ts).
     */
    idsFirst?: boolean;
  };
  /** Query text for the full-text side, or null for none. */
  keyword: string | null;
  /** Whether the database is Citus: how the statement names the merchant where it joins back by id (statementSql). */
  distributed: boolean;
}

export type VectorStrategy = 'exact' | 'quantized' | 'hnsw' | 'hnsw+quantized_fallback';

export interface ChunkHit {
  id: string;
  documentId: string | null;
  ticketId: string | null;
  chunkIndex: number;
  text: string;
  headingPath: string[];
  citation: string;
  metadata: JsonObject;
  distance: number;
}

export interface KeywordHit extends ChunkHit {
  /** The BM25 score normalized to 0..1 (score / (score + 1)); src/retrieval/keyword-ranking.sql.ts. */
  rank: number;
}

export interface SearchOutcome {
  vector: { hits: ChunkHit[]; strategy: VectorStrategy } | null;
  keyword: KeywordHit[] | null;
}
