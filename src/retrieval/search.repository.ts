import pg from 'pg';
import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { isDistributed, setLocal } from '../db/distributed';
import { textArrayLiteral } from '../db/session';
import { managerClient, preparedStatementName, type SqlClient } from '../db/sql-client';
import { vectorFromBinary } from '../db/vector-binary';
import { checkedDimensions } from '../vector-index/vector-index.repository';
import { queryTerms } from './query-terms';
import { filterSql } from './search-filter.sql';
import { type HitRow, statementSql, toHit } from './search-statement.sql';
import {
  type ApproximatePath,
  type ChunkHit,
  type ChunkSearchParams,
  type HnswTuning,
  type KeywordHit,
  type SearchOutcome,
  type SearchPlan,
  type ShortlistMetric,
  type VectorStrategy,
} from './search.types';

/**
 * Runs the search over document_chunks: the one statement per retrieval built in search-statement.sql.ts (the
 * vector side, exact, quantized or HNSW, chosen inside the statement by the caller's readable count, and the
 * full-text side together, so HYBRID's two lists come from one snapshot); the transaction-local tuning it needs;
 * its EXPLAIN; and one path at a time for the tools that compare paths. Every method takes the caller's tenant
 * scope explicitly. Which plan runs is decided in search-strategy.ts, nowhere else.
 */
export class SearchRepository {
  async run(client: SqlClient, scope: TenantScope, plan: SearchPlan): Promise<SearchOutcome> {
    const statement = this.statement(scope, plan);
    if (statement === null) return nothingToSearch(plan);
    return outcomeOf(plan, await client.query<HitRow>(statement.text, statement.values, statement));
  }

  /**
   * The one statement `run` sends for this plan (null: nothing to search, a keyword query without terms). One
   * node: a named statement, parsed once per connection, and planned once where the transaction asks for generic
   * plans (the gateway's prelude does: tuningSql). Planning the whole statement, every path's CTEs, cost 2.5-3.5 ms
   * a retrieval, as much as running it in a mid-size merchant. Citus plans its router queries itself.
   */
  statement(scope: TenantScope, plan: SearchPlan): SearchStatement | null {
    if (plan.vector === null && (plan.keyword === null || queryTerms(plan.keyword).length === 0)) return null;
    const { sql, params } = statementSql(scope, plan);
    return { text: sql, values: params, prepared: !plan.distributed };
  }

  /**
   * The plan of exactly the statement `run` sends; `analyze` runs it with EXPLAIN (ANALYZE, BUFFERS). `prepared`:
   * `run` has just executed it as a named statement on this connection; its plan is then the prepared statement's
   * (EXPLAIN EXECUTE: the generic plan the gateway runs, not a plan made for these values).
   */
  async explain(
    client: SqlClient,
    scope: TenantScope,
    plan: SearchPlan,
    analyze = true,
    prepared = false,
  ): Promise<string[]> {
    const { sql, params } = statementSql(scope, plan);
    // EXECUTE's arguments inside EXPLAIN take no bind parameters: the values go as literals (an admin's request).
    const target = prepared
      ? `EXECUTE ${preparedStatementName(sql)}(${params.map(literalOf).join(', ')})`
      : sql;
    const explain = async (options: string) =>
      (
        await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${options} ${target}`, prepared ? [] : params)
      ).map((r) => r['QUERY PLAN']);
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
   *  - plan_cache_mode force_generic_plan (`genericPlans`, one node): the search statement, prepared per connection
   *    (`run`), is planned once instead of at every execution. The plan's shape does not depend on the values:
   *    every choice between paths is made inside the statement, the dedicated index is matched by the constants
   *    of its predicate written into the text, and the settings above leave no other plan without a sort.
   * `efSearch` may be SQL computed in the same SELECT (the prelude reads it from the merchant's calibration).
   */
  tuningSql(t: { efSearch: number | string; maxScanTuples: number; genericPlans?: boolean }): string {
    const ef = typeof t.efSearch === 'number' ? String(checkedInt(t.efSearch)) : t.efSearch;
    return `set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true),
            set_config('jit', 'off', true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
            set_config('hnsw.max_scan_tuples', '${checkedInt(t.maxScanTuples)}', true),
            set_config('hnsw.ef_search', (${ef})::text, true)${
              t.genericPlans === true ? `, set_config('plan_cache_mode', 'force_generic_plan', true)` : ''
            }`;
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

  /**
   * Exact top-k: distances for every readable candidate, then a top-k sort. Recall 1.0 by construction. `idsFirst`:
   * in the form the gated exact path of a merchant with an approximate path runs (readable ids, then one probe
   * per id), which costs more per row for a broad reader than the direct scan: what calibration must time.
   */
  async searchExact(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    o: { idsFirst?: boolean } = {},
  ): Promise<ChunkHit[]> {
    return this.one(manager, scope, await this.single(manager, p, 'none', o));
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
    shortlistMetric: ShortlistMetric = 'hamming',
  ): Promise<ChunkHit[]> {
    return this.one(manager, scope, await this.single(manager, p, 'quantized', { rerank, shortlistMetric }));
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
    o: {
      rerank?: number;
      shortlistMetric?: ShortlistMetric;
      candidates?: number;
      graphMaxId?: string | null;
      idsFirst?: boolean;
    },
  ): Promise<SearchPlan & { only: true }> {
    return {
      params: p,
      keyword: null,
      distributed: await isDistributed(manager),
      vector: {
        approximate,
        exactMaxReadable: approximate === 'none' ? Number.MAX_SAFE_INTEGER : -1,
        rerank: o.rerank ?? p.k,
        shortlistMetric: o.shortlistMetric,
        hnswCandidates: o.candidates ?? p.k,
        graphMaxId: o.graphMaxId ?? null,
        idsFirst: o.idsFirst,
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
    // SET LOCAL on Citus (propagated to the workers, where the scan runs), set_config on one node. Generic plans
    // as the gateway runs them (tuningSql), so that calibration times the plans requests get.
    await setLocal(manager, {
      enable_seqscan: 'off',
      enable_sort: 'off',
      jit: 'off',
      'hnsw.iterative_scan': 'relaxed_order',
      'hnsw.max_scan_tuples': String(checkedInt(t.maxScanTuples)),
      'hnsw.ef_search': String(checkedInt(efSearch)),
      ...((await isDistributed(manager)) ? {} : { plan_cache_mode: 'force_generic_plan' }),
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

/** A bound value of the search statement as an SQL literal, typed by the prepared statement it is passed to. */
export function literalOf(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return pg.escapeLiteral(JSON.stringify(vectorFromBinary(v)));
  if (Array.isArray(v)) return pg.escapeLiteral(textArrayLiteral(v.map(String)));
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return pg.escapeLiteral(v);
  throw new Error(`no literal for a ${typeof v} parameter`);
}

function checkedInt(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid setting ${String(n)}`);
  return n;
}

/** A search statement as sent: its text, its values, and whether it goes as a named (prepared) statement. */
export interface SearchStatement {
  text: string;
  values: unknown[];
  prepared: boolean;
}

/** What a search statement's rows answer: the vector side's hits and strategy, the full-text side's hits. */
export function outcomeOf(plan: SearchPlan, rows: readonly HitRow[]): SearchOutcome {
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

export function nothingToSearch(plan: SearchPlan): SearchOutcome {
  return { vector: null, keyword: plan.keyword === null ? null : [] };
}
