import { toSql } from 'pgvector';
import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type JsonObject } from '../common/graphql-scalars';
import { setLocal } from '../db/distributed';
import { checkedDimensions } from '../vector-index/vector-index.repository';

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
  /** ts_rank_cd normalized to 0..1 (rank / (rank + 1)). */
  rank: number;
}

interface HitRow {
  id: string;
  document_id: string | null;
  ticket_id: string | null;
  chunk_index: number;
  chunk_text: string;
  heading_path: string[];
  citation: string;
  metadata: JsonObject;
  distance: number | string;
}

/** The dimension count is written into the SQL (see checkedDimensions); it comes from a corpus_versions row. */
function dims(corpus: VersionRef): number {
  return checkedDimensions(corpus.dimensions);
}

/**
 * The search SQL over document_chunks: exact, quantized, HNSW and full-text candidates, the capped counts the
 * strategy choice reads, and their EXPLAIN twins. Every method takes the caller's tenant scope explicitly;
 * which of them runs is decided in search-strategy.ts, nowhere else.
 */
export class SearchRepository {
  /**
   * How many chunks the merchant's version has, counted only up to `cap` (an index scan of at most cap rows),
   * which is all the strategy choice needs to know.
   */
  async countVersionChunksUpTo(
    manager: EntityManager,
    merchantId: string,
    version: number,
    cap: number,
  ): Promise<number> {
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks WHERE merchant_id = $1 AND corpus_version = $2 LIMIT $3) capped`,
      [merchantId, version, cap],
    );
    return Number(rows[0].n);
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
    const { where, params } = this.filterSql(scope, p, { vector: false });
    params.push(cap);
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks c WHERE ${where} LIMIT $${params.length}) capped`,
      params,
    );
    return Number(rows[0].n);
  }

  /**
   * Exact top-k: distances for every readable candidate of the merchant, then a top-k sort. The MATERIALIZED CTE
   * has no ORDER BY, so the HNSW index cannot be chosen; the merchant btree / ACL GIN indexes drive the scan.
   * Recall is 1.0 by construction.
   */
  async searchExact(manager: EntityManager, scope: TenantScope, p: ChunkSearchParams): Promise<ChunkHit[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.exactSql(scope, p);
    const rows: HitRow[] = await manager.query(sql, params);
    return rows.map(toHit);
  }

  /**
   * Binary-quantization scan with exact re-rank: every readable candidate of the merchant is ranked by the Hamming
   * distance between its stored sign bits and the query's (an index-only scan of the covering merchant index: no
   * vector is read), the best `rerank` are fetched and ordered by exact cosine distance. Recall depends on
   * `rerank` (measured in docs/RETRIEVAL.md); cost grows with the merchant's rows at well under a microsecond each.
   */
  async searchQuantized(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
  ): Promise<ChunkHit[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.quantizedSql(scope, p, rerank);
    const rows: HitRow[] = await manager.query(sql, params);
    return rows.map(toHit);
  }

  async explainQuantized(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
    analyze = true,
  ): Promise<string[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.quantizedSql(scope, p, rerank);
    return this.explainSql(manager, sql, params, analyze);
  }

  private quantizedSql(
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
  ): { sql: string; params: unknown[] } {
    if (!Number.isInteger(rerank) || rerank < 1) throw new Error(`invalid re-rank size ${String(rerank)}`);
    const { where, params, distance, merchant } = this.filterSql(scope, p, {
      vector: true,
      sizePredicate: false,
    });
    params.push(Math.max(rerank, p.k));
    const rerankParam = `$${params.length}`;
    params.push(p.k);
    // The join repeats merchant_id: redundant on one node, on Citus it keeps the whole statement on the merchant's
    // shard (a router query) instead of joining the shortlist against every shard.
    const sql = `WITH shortlist AS MATERIALIZED (
         SELECT c.id
           FROM document_chunks c
          WHERE ${where}
          ORDER BY c.embedding_bq <~> binary_quantize($1::vector), c.id
          LIMIT ${rerankParam}
       )
       SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
              ${distance} AS distance
         FROM shortlist s JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = s.id
        ORDER BY distance, c.id
        LIMIT $${params.length}`;
    return { sql, params };
  }

  /**
   * The exact path reads one merchant's rows through the merchant index and never the whole table: a sequential
   * scan would read every other tenant's pages (and the planner picks one on small tables). enable_sort is
   * restored in case the HNSW path turned it off earlier in the transaction (this is also its fallback); JIT is off
   * because compiling costs more than these millisecond queries.
   */
  private async prepareExact(manager: EntityManager): Promise<void> {
    await setLocal(manager, { enable_seqscan: 'off', enable_sort: 'on', jit: 'off' });
  }

  private exactSql(scope: TenantScope, p: ChunkSearchParams): { sql: string; params: unknown[] } {
    const { where, params, distance } = this.filterSql(scope, p);
    params.push(p.k);
    const sql = `WITH candidates AS MATERIALIZED (
         SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
                ${distance} AS distance
           FROM document_chunks c
          WHERE ${where}
       )
       SELECT * FROM candidates ORDER BY distance, id LIMIT $${params.length}`;
    return { sql, params };
  }

  /**
   * Approximate top-k through the HNSW index with pgvector's iterative scan, so filtered-out candidates make the
   * scan continue instead of coming back short. relaxed_order may return rows slightly out of order: they are
   * re-sorted by exact distance outside. May still return fewer than k rows (max_scan_tuples); the caller falls
   * back to the exact search then.
   */
  async searchHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
  ): Promise<ChunkHit[]> {
    const { sql, params } = await this.prepareHnsw(manager, scope, p, tuning);
    const rows: HitRow[] = await manager.query(sql, params);
    return rows.map(toHit);
  }

  /**
   * The plan of exactly the statement searchHnsw runs, with the same settings (for tests and admin tools);
   * `analyze` runs it again with EXPLAIN (ANALYZE, BUFFERS).
   */
  async explainHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
    analyze = false,
  ): Promise<string[]> {
    const { sql, params } = await this.prepareHnsw(manager, scope, p, tuning);
    return this.explainSql(manager, sql, params, analyze);
  }

  async explainExact(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    analyze = true,
  ): Promise<string[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.exactSql(scope, p);
    return this.explainSql(manager, sql, params, analyze);
  }

  private async explainSql(
    manager: EntityManager,
    sql: string,
    params: unknown[],
    analyze: boolean,
  ): Promise<string[]> {
    const options = analyze ? '(ANALYZE, BUFFERS, COSTS OFF)' : '(COSTS OFF)';
    const rows: { 'QUERY PLAN': string }[] = await manager.query(`EXPLAIN ${options} ${sql}`, params);
    return rows.map((r) => r['QUERY PLAN']);
  }

  private async prepareHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
  ) {
    // enable_sort = off: left alone, the planner often prefers the merchant btree plus a sort (its cost model
    // underrates filtered HNSW scans); this path is only taken for merchants big enough for the index to pay.
    // jit = off: enable_sort works by adding a huge cost, which pushes the plan past jit_above_cost; PostgreSQL
    // then spent ~110 ms JIT-compiling a 2 ms index scan (measured, bench/strategy-threshold).
    await setLocal(manager, {
      'hnsw.iterative_scan': 'relaxed_order',
      'hnsw.ef_search': String(Math.max(tuning.efSearch, p.k, tuning.candidates ?? 0)),
      'hnsw.max_scan_tuples': String(tuning.maxScanTuples),
      enable_sort: 'off',
      jit: 'off',
    });
    const { where, params, distance } = this.filterSql(scope, p);
    params.push(Math.max(p.k, tuning.candidates ?? p.k));
    const candidates = `$${params.length}`;
    params.push(p.k);
    const sql = `WITH nearest AS MATERIALIZED (
         SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
                ${distance} AS distance
           FROM document_chunks c
          WHERE ${where}
          ORDER BY ${distance}
          LIMIT ${candidates}
       )
       SELECT * FROM nearest ORDER BY distance, id LIMIT $${params.length}`;
    return { sql, params };
  }

  /**
   * Full-text candidates: chunks matching ANY of the query's terms (English stemming, stored tsvector, GIN
   * index), ranked by ts_rank_cd with cover density, ties by id. The vector distance is computed for them too, so
   * every result carries its similarity.
   */
  async searchKeyword(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    text: string,
  ): Promise<KeywordHit[]> {
    // Any-term matching: the query's words joined with `or` for websearch_to_tsquery, which never fails on
    // syntax (unlike to_tsquery) and stems and drops stopwords like the stored tsvector.
    const terms = [
      ...new Set(
        text
          .normalize('NFKC')
          .toLowerCase()
          .match(/[\p{L}\p{N}]+/gu) ?? [],
      ),
    ]
      .filter((t) => t !== 'or')
      .slice(0, 64);
    if (terms.length === 0) return [];
    const { where, params, distance } = this.filterSql(scope, p);
    params.push(terms.join(' or '));
    const tsq = `websearch_to_tsquery('english', $${params.length})`;
    params.push(p.k);
    const rows: (HitRow & { rank: number | string })[] = await manager.query(
      `SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
              ${distance} AS distance, ts_rank_cd(c.search_tsv, ${tsq}, 32) AS rank
         FROM document_chunks c
        WHERE c.search_tsv @@ ${tsq} AND ${where}
        ORDER BY rank DESC, c.id
        LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({ ...toHit(r), rank: Number(r.rank) }));
  }

  /**
   * The WHERE clause shared by every strategy; every value is a bound parameter, no client text is interpolated.
   * `vector: false` leaves out the query vector ($1) and the vector-size predicate, for statements that read no
   * vectors; `sizePredicate: false` keeps $1 but leaves out the predicate. The predicate is only needed to match a
   * partial HNSW index, and it would detoast every row it is evaluated on (the trigger already guarantees that a
   * version's vectors share one size).
   */
  private filterSql(
    scope: TenantScope,
    p: ChunkSearchParams,
    options: { vector: boolean; sizePredicate?: boolean } = { vector: true },
  ): { where: string; params: unknown[]; distance: string; merchant: string } {
    const n = dims(p.corpus);
    const params: unknown[] = options.vector ? [toSql(p.embedding)] : [];
    const bindBase = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const merchant = bindBase(scope.merchantId);
    const clauses = [
      `c.merchant_id = ${merchant}`,
      `c.acl && ${bindBase([...scope.principals])}::text[]`,
      `c.corpus_version = ${bindBase(p.corpus.version)}`,
    ];
    // Matches the partial HNSW index's predicate, and keeps the cast in `distance` from seeing another size.
    if (options.sizePredicate ?? options.vector) clauses.push(`vector_dims(c.embedding) = ${n}`);
    if (p.filter.sourceType === 'document') clauses.push('c.document_id IS NOT NULL');
    if (p.filter.sourceType === 'ticket') clauses.push('c.ticket_id IS NOT NULL');
    const f = p.filter;
    const bind = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (f.metadata !== undefined && Object.keys(f.metadata).length > 0) {
      clauses.push(`c.metadata @> ${bind(JSON.stringify(f.metadata))}::jsonb`);
    }
    if (f.category !== undefined)
      clauses.push(`c.metadata @> ${bind(JSON.stringify({ category: f.category }))}::jsonb`);
    if (f.documentIds !== undefined) clauses.push(`c.document_id = ANY(${bind(f.documentIds)}::text[])`);
    if (f.ticketIds !== undefined) clauses.push(`c.ticket_id = ANY(${bind(f.ticketIds)}::text[])`);
    if (f.customerId !== undefined || f.ticketStatuses !== undefined) {
      const conds = ['t.merchant_id = c.merchant_id', 't.id = c.ticket_id'];
      if (f.customerId !== undefined) conds.push(`t.customer_id = ${bind(f.customerId)}`);
      if (f.ticketStatuses !== undefined) conds.push(`t.status = ANY(${bind(f.ticketStatuses)}::text[])`);
      clauses.push(`EXISTS (SELECT 1 FROM tickets t WHERE ${conds.join(' AND ')})`);
    }
    if (f.updatedSince !== undefined) {
      const since = bind(f.updatedSince.toISOString());
      clauses.push(
        `(EXISTS (SELECT 1 FROM support_documents d
                   WHERE d.merchant_id = c.merchant_id AND d.id = c.document_id AND d.updated_at >= ${since}::timestamptz)
          OR EXISTS (SELECT 1 FROM tickets t2
                      WHERE t2.merchant_id = c.merchant_id AND t2.id = c.ticket_id AND t2.updated_at >= ${since}::timestamptz))`,
      );
    }
    return {
      where: clauses.join(' AND '),
      params,
      distance: `(c.embedding::vector(${n})) <=> $1::vector(${n})`,
      merchant,
    };
  }
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
