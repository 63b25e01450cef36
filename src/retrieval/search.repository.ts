import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type JsonObject } from '../common/graphql-scalars';
import { isDistributed, setLocal } from '../db/distributed';
import { managerClient, type Row, type SqlClient } from '../db/session';
import { vectorParam } from '../db/vector-binary';
import { checkedChunkId, checkedDimensions } from '../vector-index/vector-index.repository';
import { keywordRankingCtes } from './keyword-ranking.sql';
import { queryTerms } from './query-terms';
import { filterSql } from './search-filter.sql';

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
  embedding: number[];
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

/**
 * What one search statement computes. The vector side is exact when `approximate` is 'none' or when the caller's
 * readable candidates (a capped count inside the statement) are at most `exactMaxReadable`; otherwise the
 * approximate path answers, and an HNSW scan that comes back short is replaced by the quantized scan — all
 * decided inside the one statement (one-time filters on InitPlans), so no count travels back and forth.
 */
export interface SearchPlan {
  params: ChunkSearchParams;
  vector: null | {
    approximate: ApproximatePath;
    exactMaxReadable: number;
    /** Re-rank size of the quantized scan (also the HNSW fallback). */
    rerank: number;
    /** Rows the HNSW scan yields before the exact re-sort. */
    hnswCandidates: number;
    /**
     * The dedicated index's bound: it holds the chunks with id <= this; newer ones (the tail) are scanned exactly
     * and merged. Null: an index that covers every chunk (no tail). Read from the registry row that named the
     * index (the retrieval's first statement), never from a request.
     */
    graphMaxId: string | null;
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

interface HitRow extends Row {
  side: 'v' | 'k';
  strategy: VectorStrategy | 'keyword';
  id: string;
  document_id: string | null;
  ticket_id: string | null;
  chunk_index: number;
  chunk_text: string;
  heading_path: string[];
  citation: string;
  metadata: JsonObject;
  distance: number | string;
  rank: number | string | null;
}

/**
 * The search SQL over document_chunks: one statement per retrieval that answers the vector side (exact, quantized
 * or HNSW, chosen inside the statement by the caller's readable count) and the full-text side together, so
 * HYBRID's two lists come from one snapshot; the transaction-local tuning it needs; its EXPLAIN. Every method takes
 * the caller's tenant scope explicitly. Which plan runs is decided in search-strategy.ts, nowhere else.
 */
export class SearchRepository {
  async run(client: SqlClient, scope: TenantScope, plan: SearchPlan): Promise<SearchOutcome> {
    if (plan.vector === null && (plan.keyword === null || queryTerms(plan.keyword).length === 0))
      return { vector: null, keyword: plan.keyword === null ? null : [] };
    const { sql, params } = statementSql(scope, plan);
    const rows = await client.query<HitRow>(sql, params);
    const vectorRows = rows.filter((r) => r.side === 'v');
    return {
      vector: plan.vector
        ? { hits: vectorRows.map(toHit), strategy: (vectorRows[0]?.strategy as VectorStrategy) ?? 'exact' }
        : null,
      keyword:
        plan.keyword === null
          ? null
          : rows.filter((r) => r.side === 'k').map((r) => ({ ...toHit(r), rank: Number(r.rank) })),
    };
  }

  /** The plan of exactly the statement `run` sends; `analyze` runs it with EXPLAIN (ANALYZE, BUFFERS). */
  async explain(client: SqlClient, scope: TenantScope, plan: SearchPlan, analyze = true): Promise<string[]> {
    const { sql, params } = statementSql(scope, plan);
    const explain = async (options: string) =>
      (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${options} ${sql}`, params)).map(
        (r) => r['QUERY PLAN'],
      );
    if (!analyze) return explain('(COSTS OFF)');
    // Citus refuses EXPLAIN ANALYZE of the gated statement (the readable count feeding both paths) in a transaction
    // that has executed locally, as every request transaction has (the claim check reads the reference table's
    // coordinator placement): "a local execution has accessed a placement in the transaction". The search itself
    // runs; the admin then gets the plan without execution figures, and a line that says why.
    await client.query('SAVEPOINT srg_explain', []);
    try {
      const lines = await explain('(ANALYZE, BUFFERS, COSTS OFF)');
      await client.query('RELEASE SAVEPOINT srg_explain', []);
      return lines;
    } catch (err) {
      if (!/local execution has accessed a placement/.test(String((err as Error).message))) throw err;
      await client.query('ROLLBACK TO SAVEPOINT srg_explain', []);
      return [
        'EXPLAIN ANALYZE refused by Citus in this transaction (local execution); plan without execution:',
        ...(await explain('(COSTS OFF)')),
      ];
    }
  }

  /**
   * The transaction-local settings every search runs with, as one parameterless statement (it travels in the
   * round trip of BEGIN, see TenantSession.read). Integers only, checked here.
   *  - enable_seqscan off: a sequential scan would read every other tenant's pages (the planner picks one on small
   *    tables); every path reads one merchant's rows through a merchant-leading index.
   *  - enable_sort off: left alone, the planner often prefers the merchant btree plus a sort over a dedicated HNSW
   *    index (its cost model underrates filtered HNSW scans). The other paths have no plan without a sort, so it
   *    only steers that choice.
   *  - jit off: enable_sort works by adding a huge cost, which pushes the plan past jit_above_cost; PostgreSQL then
   *    spent ~110 ms JIT-compiling a 2 ms index scan (measured, bench/strategy-threshold).
   *  - hnsw.iterative_scan relaxed_order: filtered-out candidates make the scan continue instead of coming back short.
   * `efSearch` may be SQL computed in the same SELECT (the prelude reads it from the merchant's calibration).
   */
  tuningSql(t: { efSearch: number | string; maxScanTuples: number }): string {
    const ef = typeof t.efSearch === 'number' ? String(checkedInt(t.efSearch)) : t.efSearch;
    return `set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true),
            set_config('jit', 'off', true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
            set_config('hnsw.max_scan_tuples', '${checkedInt(t.maxScanTuples)}', true),
            set_config('hnsw.ef_search', (${ef})::text, true)`;
  }

  /**
   * How many chunks the caller may read under these filters, counted only up to `cap`: no distances and no
   * vector reads, so it stops early for a broad reader and costs one pass over the merchant's rows for a narrow one.
   */
  async countReadableUpTo(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    cap: number,
  ): Promise<number> {
    // No vector here: an unused $1 would leave PostgreSQL unable to type it.
    const params: unknown[] = [];
    const f = filterSql(scope, p, params);
    params.push(cap);
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks c WHERE ${f.base} LIMIT $${params.length}) capped`,
      params,
    );
    return Number(rows[0].n);
  }

  // One path at a time through a TypeORM transaction: benchmarks, tests and calibration, which compare the paths.
  // The same statement builder as `run`, with the tuning sent first.

  /** Exact top-k: distances for every readable candidate, then a top-k sort. Recall 1.0 by construction. */
  async searchExact(manager: EntityManager, scope: TenantScope, p: ChunkSearchParams): Promise<ChunkHit[]> {
    return this.one(manager, scope, await this.single(manager, p, 'none', {}));
  }

  /**
   * Binary-quantization scan with exact re-rank: every readable candidate of the merchant is ranked by the Hamming
   * distance between its stored sign bits and the query's (an index-only scan of the covering merchant index: no
   * vector is read), the best `rerank` are fetched and ordered by exact cosine distance.
   */
  async searchQuantized(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
  ): Promise<ChunkHit[]> {
    return this.one(manager, scope, await this.single(manager, p, 'quantized', { rerank }));
  }

  /**
   * Approximate top-k through the HNSW index with pgvector's iterative scan. May return fewer than k rows
   * (max_scan_tuples): alone, without the quantized fallback `run` adds.
   */
  async searchHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
  ): Promise<ChunkHit[]> {
    const graphMaxId = await graphBound(manager, scope, p);
    return this.one(
      manager,
      scope,
      await this.single(manager, p, 'hnsw', { candidates: tuning.candidates, graphMaxId }),
      tuning,
    );
  }

  /** Full-text candidates alone (ranked by BM25, ties by id), each with its vector distance. */
  async searchKeyword(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    text: string,
  ): Promise<KeywordHit[]> {
    await this.tune(manager, { efSearch: 40, maxScanTuples: 20_000 });
    const out = await this.run(managerClient(manager), scope, {
      params: p,
      vector: null,
      keyword: text,
      distributed: await isDistributed(manager),
    });
    return out.keyword ?? [];
  }

  async explainExact(manager: EntityManager, scope: TenantScope, p: ChunkSearchParams, analyze = true) {
    await this.tune(manager, { efSearch: 40, maxScanTuples: 20_000 });
    return this.explain(managerClient(manager), scope, await this.single(manager, p, 'none', {}), analyze);
  }

  async explainQuantized(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
    analyze = true,
  ) {
    await this.tune(manager, { efSearch: 40, maxScanTuples: 20_000 });
    return this.explain(
      managerClient(manager),
      scope,
      await this.single(manager, p, 'quantized', { rerank }),
      analyze,
    );
  }

  async explainHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
    analyze = false,
  ) {
    await this.tune(manager, tuning, p.k);
    const graphMaxId = await graphBound(manager, scope, p);
    const plan = await this.single(manager, p, 'hnsw', { candidates: tuning.candidates, graphMaxId });
    return this.explain(managerClient(manager), scope, plan, analyze);
  }

  private async single(
    manager: EntityManager,
    p: ChunkSearchParams,
    approximate: ApproximatePath,
    o: { rerank?: number; candidates?: number; graphMaxId?: string | null },
  ): Promise<SearchPlan & { only: true }> {
    return {
      params: p,
      keyword: null,
      distributed: await isDistributed(manager),
      vector: {
        approximate,
        exactMaxReadable: approximate === 'none' ? Number.MAX_SAFE_INTEGER : -1,
        rerank: o.rerank ?? p.k,
        hnswCandidates: o.candidates ?? p.k,
        graphMaxId: o.graphMaxId ?? null,
      },
      only: true,
    };
  }

  private async one(
    manager: EntityManager,
    scope: TenantScope,
    plan: SearchPlan & { only: true },
    tuning: HnswTuning = { efSearch: 40, maxScanTuples: 20_000 },
  ): Promise<ChunkHit[]> {
    await this.tune(manager, tuning, plan.params.k);
    return (await this.run(managerClient(manager), scope, plan)).vector!.hits;
  }

  private async tune(manager: EntityManager, t: HnswTuning, k = 0): Promise<void> {
    const efSearch = Math.max(t.efSearch, k, t.candidates ?? 0);
    // SET LOCAL on Citus (propagated to the workers, where the scan runs), set_config on one node.
    await setLocal(manager, {
      enable_seqscan: 'off',
      enable_sort: 'off',
      jit: 'off',
      'hnsw.iterative_scan': 'relaxed_order',
      'hnsw.max_scan_tuples': String(checkedInt(t.maxScanTuples)),
      'hnsw.ef_search': String(checkedInt(efSearch)),
    });
  }
}

/**
 * The bound of the merchant's valid dedicated index for this size (null: none, or one covering everything): what
 * the single-path HNSW helpers search with, read in their transaction (the retrieval reads it in its prelude).
 */
async function graphBound(
  manager: EntityManager,
  scope: TenantScope,
  p: ChunkSearchParams,
): Promise<string | null> {
  const rows: { max_chunk_id: string | null }[] = await manager.query(
    `SELECT max_chunk_id::text AS max_chunk_id FROM merchant_vector_indexes
      WHERE merchant_id = $1 AND dimensions = $2 AND vector_index_ready(index_name)`,
    [scope.merchantId, checkedDimensions(p.corpus.dimensions)],
  );
  return rows[0]?.max_chunk_id ?? null;
}

function checkedInt(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid setting ${String(n)}`);
  return n;
}

/**
 * One statement for the whole search. `(plan as {only}).only` marks a single-path statement (no readable count,
 * no fallback): what the comparisons between paths run.
 */
function statementSql(scope: TenantScope, plan: SearchPlan): { sql: string; params: unknown[] } {
  const p = plan.params;
  const n = checkedDimensions(p.corpus.dimensions);
  const params: unknown[] = [vectorParam(p.embedding)];
  const bind = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const f = filterSql(scope, p, params);
  // Joins back to document_chunks by id repeat the merchant: on Citus a join by id alone is planned across every
  // shard, and there the merchant must be the bound value (a router query on its shard). On one node it is an
  // InitPlan: compared with a value, a merchant the planner statistics predate (onboarded since the last ANALYZE;
  // the embedded database never analyzes on its own) is estimated at one row, and the planner then rescans the
  // merchant's whole range for every row it joins back instead of probing its id: a HYBRID retrieval in a
  // 5,000-chunk merchant took 5.2 s instead of 61 ms (docs/RETRIEVAL.md, "Planner statistics").
  const merchantValue = bind(scope.merchantId);
  const merchant = plan.distributed ? merchantValue : `(SELECT ${merchantValue}::text)`;
  const distance = `(c.embedding::vector(${n})) <=> $1::vector(${n})`;
  const k = bind(p.k);
  const ctes: string[] = [];
  const parts: string[] = [];
  const v = plan.vector;
  if (v !== null) {
    const only = (plan as { only?: boolean }).only === true;
    const gated = v.approximate !== 'none' && !only;
    const exactGate = gated ? ` AND (SELECT n FROM readable) <= ${bind(v.exactMaxReadable)}` : '';
    const approxGate = gated ? ` AND (SELECT n FROM readable) > $${params.length}` : '';
    // Gated (a merchant big enough to have an approximate path), the readable ids come first, from the covering
    // merchant index alone (it carries the ACL: an index-only scan, and the same ids are the capped count), then
    // the rows for their vectors. A direct scan reads the heap row of every chunk of the merchant to test its ACL,
    // readable or not: one page per row with vectors in line, 1.4x slower for a reader of 1,000 of 3,800 chunks.
    // Not gated (a merchant answered exactly), the direct scan: the extra probe per readable row cost a reader of
    // everything in a 600-chunk merchant 1.6x (docs/RETRIEVAL.md, "Vector strategies").
    if (gated) {
      ctes.push(`readable_ids AS MATERIALIZED (
         SELECT c.id FROM document_chunks c WHERE ${f.base} LIMIT ${bind(v.exactMaxReadable + 1)})`);
      ctes.push(`readable AS (SELECT count(*) AS n FROM readable_ids)`);
    }
    if (v.approximate === 'none' || gated) {
      // MATERIALIZED and without ORDER BY: the HNSW index cannot be chosen, and only ids and distances are kept
      // until the top k is known.
      ctes.push(
        gated
          ? `exact_all AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM readable_ids r
           JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = r.id
          WHERE ${f.size}${exactGate})`
          : `exact_all AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM document_chunks c WHERE ${f.base} AND ${f.size})`,
      );
      ctes.push(`exact_top AS (SELECT id, distance FROM exact_all ORDER BY distance, id LIMIT ${k})`);
      parts.push(`SELECT id, distance, 'exact' AS strategy FROM exact_top`);
    }
    const quantized = (gate: string, label: VectorStrategy): void => {
      // The shortlist reads the covering (merchant_id, corpus_version) INCLUDE (acl, embedding_bq, id) index: no
      // vector, and no size predicate (it would detoast every row; the trigger keeps a version's sizes equal).
      ctes.push(`shortlist AS MATERIALIZED (
         SELECT c.id FROM document_chunks c WHERE ${f.base}${gate}
          ORDER BY c.embedding_bq <~> binary_quantize($1::vector), c.id LIMIT ${bind(Math.max(v.rerank, p.k))})`);
      ctes.push(`quantized_top AS (
         SELECT c.id, ${distance} AS distance FROM shortlist s JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = s.id
          ORDER BY distance, c.id LIMIT ${k})`);
      parts.push(`SELECT id, distance, '${label}' AS strategy FROM quantized_top`);
    };
    if (v.approximate === 'quantized') quantized(approxGate, 'quantized');
    if (v.approximate === 'hnsw') {
      // The graph: ORDER BY the distance expression with a LIMIT, the size predicate and the bound matching the
      // partial index: the merchant's own HNSW index (an index with a larger bound matches too, so a search holding
      // the bound of an index being replaced still finds one). relaxed_order may yield rows slightly out of
      // order: re-sorted outside. The tail (chunks newer than the bound, not in the graph): every readable one,
      // exactly, found through (merchant_id, id). The two are disjoint; their merged top k is exact over the tail.
      const bound = v.graphMaxId === null ? null : checkedChunkId(v.graphMaxId);
      const graphCut = bound === null ? '' : ` AND c.id <= ${bound}`;
      ctes.push(`hnsw_graph AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM document_chunks c WHERE ${f.base} AND ${f.size}${graphCut}${approxGate}
          ORDER BY ${distance} LIMIT ${bind(Math.max(p.k, v.hnswCandidates))})`);
      if (bound !== null) {
        // ORDER BY id (sorts are disabled): only an index led by (merchant_id, id) serves it without a sort, so
        // the planner walks the merchant's newest ids even when its statistics predate the tail.
        ctes.push(`hnsw_tail AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM document_chunks c
          WHERE ${f.base} AND c.id > ${bound} AND ${f.size}${approxGate} ORDER BY c.id)`);
      }
      const merged =
        bound === null ? 'hnsw_graph' : '(SELECT * FROM hnsw_graph UNION ALL SELECT * FROM hnsw_tail) g';
      ctes.push(
        `hnsw_top AS MATERIALIZED (SELECT id, distance FROM ${merged} ORDER BY distance, id LIMIT ${k})`,
      );
      if (only) parts.push(`SELECT id, distance, 'hnsw' AS strategy FROM hnsw_top`);
      else {
        // A graph scan that came back with fewer than k rows may have stopped early (max_scan_tuples under a
        // narrow filter): the quantized scan over every readable row answers instead.
        const graphFull = `(SELECT count(*) FROM hnsw_graph) >= ${k}`;
        parts.push(`SELECT id, distance, 'hnsw' AS strategy FROM hnsw_top WHERE ${graphFull}`);
        quantized(`${approxGate} AND NOT (${graphFull})`, 'hnsw+quantized_fallback');
      }
    }
    ctes.push(`vector_top AS (${parts.join(' UNION ALL ')})`);
  }
  const terms = plan.keyword === null ? [] : queryTerms(plan.keyword);
  if (plan.keyword !== null && terms.length > 0) {
    ctes.push(
      ...keywordRankingCtes({
        merchant: merchantValue,
        joinMerchant: merchant,
        version: bind(p.corpus.version),
        anyTerms: bind(terms.join(' or ')),
        allTerms: bind(terms.join(' ')),
        base: f.base,
        size: f.size,
        distance,
        k,
      }),
    );
  }
  const sides: string[] = [];
  if (v !== null)
    sides.push(`SELECT 'v' AS side, strategy, id, distance, NULL::real AS rank FROM vector_top`);
  if (plan.keyword !== null && terms.length > 0)
    sides.push(`SELECT 'k' AS side, 'keyword' AS strategy, id, distance, rank FROM keyword_top`);
  const sql = `WITH ${ctes.join(',\n       ')}
    SELECT t.side, t.strategy, c.id::text AS id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text,
           c.heading_path, c.citation, c.metadata, t.distance, t.rank
      FROM (${sides.join(' UNION ALL ')}) t (side, strategy, id, distance, rank)
      JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = t.id
     ORDER BY t.side DESC, CASE WHEN t.side = 'v' THEN t.distance ELSE -t.rank END, t.id`;
  return { sql, params };
}

function toHit(r: HitRow): ChunkHit {
  return {
    id: String(r.id),
    documentId: r.document_id,
    ticketId: r.ticket_id,
    chunkIndex: r.chunk_index,
    text: r.chunk_text,
    headingPath: r.heading_path,
    citation: r.citation,
    metadata: r.metadata,
    distance: Number(r.distance),
  };
}
