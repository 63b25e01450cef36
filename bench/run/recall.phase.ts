import { performance } from 'node:perf_hooks';
import { type PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import type pg from 'pg';
import { percentile } from '../bench-utils';
import { recallAtK, type SizeClass } from '../corpus-generator';
import { type GatewayProcess, graphql, recordSql } from '../load-harness';
import { vectorToBinary } from '../bulk-loader';
import { type BenchQuery, fmt, K, mean, type Role, SHARED_TABLE } from './setup';
import { log } from '../bench-utils';

/**
 * Recall@10 against the exact answers and single-query latency, per class/reader: ours over HTTP, the tutorial's
 * query on the shared HNSW table, LangChain's PGVectorStore — interleaved per query so cache warmth favours none.
 */
export interface RecallRow {
  cell: string;
  sizeClass: SizeClass;
  role: Role;
  queries: number;
  merchants: number;
  readableMedian: number;
  ours: {
    recall: number;
    exactRowCount: number;
    sqlStatements: number;
    strategies: Record<string, number>;
    p50: number;
    p95: number;
  };
  tutorial: { recall: number; exactRowCount: number; p50: number; p95: number };
  langchain: { recall: number; exactRowCount: number; hnswPlans: number; p50: number; p95: number };
}

/**
 * The tutorial's query as the planner runs it on a big table: HNSW scan (default ef_search 40, no iterative scan),
 * merchant and ACL applied after the index scan. Plan forced so small merchants get it too.
 */
export async function tutorialSearch(rawPool: pg.Pool, q: BenchQuery): Promise<string[]> {
  const client = await rawPool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
              set_config('enable_sort', 'off', true)`,
    );
    const ids = (
      await client.query<{ id: string }>(
        `SELECT chunk_id::text AS id FROM ${SHARED_TABLE} WHERE merchant_id = $1 AND acl && $2::text[]
          ORDER BY embedding <=> $3::vector(1536) LIMIT ${K}`,
        [q.merchantId, q.principals, vectorToBinary(q.embedding)],
      )
    ).rows.map((x) => x.id);
    await client.query('COMMIT');
    return ids;
  } finally {
    client.release();
  }
}

export async function measureRecall({
  cells,
  byCell,
  gateway,
  rawPool,
  store,
}: {
  cells: string[];
  byCell: (cell: string) => BenchQuery[];
  gateway: GatewayProcess;
  rawPool: pg.Pool;
  store: PGVectorStore;
}): Promise<RecallRow[]> {
  const rows: RecallRow[] = [];
  for (const cell of cells) {
    const qs = byCell(cell);
    const ours = {
      recall: [] as number[],
      exact: 0,
      strategies: {} as Record<string, number>,
      ms: [] as number[],
    };
    const tut = { recall: [] as number[], exact: 0, ms: [] as number[] };
    const lc = { recall: [] as number[], exact: 0, ms: [] as number[], hnswPlans: 0 };
    for (const q of qs) {
      const want = Math.min(K, q.readable);
      // Interleaved per query so cache warmth favours none of the three.
      let t0 = performance.now();
      const r = await graphql<{ retrieveChunks: { strategy: string; chunks: { id: string }[] } }>(
        gateway.url,
        q.token,
        q.gatewayBody,
      );
      ours.ms.push(performance.now() - t0);
      const got = r.retrieveChunks.chunks.map((c) => c.id);
      ours.recall.push(recallAtK(q.truth, got, K));
      if (got.length === want) ours.exact++;
      ours.strategies[r.retrieveChunks.strategy] = (ours.strategies[r.retrieveChunks.strategy] ?? 0) + 1;

      t0 = performance.now();
      const naive = await tutorialSearch(rawPool, q);
      tut.ms.push(performance.now() - t0);
      tut.recall.push(recallAtK(q.truth, naive, K));
      if (naive.length === want) tut.exact++;

      t0 = performance.now();
      // LangChain's closest filter: metadata equality on the merchant, `arrayContains` (jsonb ?|) on the ACL.
      const docs = await store.similaritySearchVectorWithScore(q.embedding, K, {
        merchant_id: q.merchantId,
        acl: { arrayContains: q.principals },
      });
      lc.ms.push(performance.now() - t0);
      const lcIds = docs.map(([d]) => String((d.metadata as { chunk_id: string }).chunk_id));
      lc.recall.push(recallAtK(q.truth, lcIds, K));
      if (lcIds.length === want) lc.exact++;
      // Which plan LangChain's statement got: its recall depends on whether the planner used the HNSW index.
      const { statements } = await recordSql(() =>
        store.similaritySearchVectorWithScore(q.embedding, K, {
          merchant_id: q.merchantId,
          acl: { arrayContains: q.principals },
        }),
      );
      const plan = await rawPool.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${statements[statements.length - 1].text}`,
        statements[statements.length - 1].values,
      );
      if (plan.rows.some((row) => /Index Scan using \S*hnsw\S*/.test(row['QUERY PLAN']))) lc.hnswPlans++;
    }
    rows.push({
      cell,
      sizeClass: qs[0].sizeClass,
      role: qs[0].role,
      queries: qs.length,
      merchants: new Set(qs.map((q) => q.merchantId)).size,
      readableMedian: percentile(
        qs.map((q) => q.readable),
        0.5,
      ),
      ours: {
        recall: mean(ours.recall),
        exactRowCount: ours.exact,
        sqlStatements: percentile(
          qs.map((q) => q.statements.length),
          0.5,
        ),
        strategies: ours.strategies,
        p50: percentile(ours.ms, 0.5),
        p95: percentile(ours.ms, 0.95),
      },
      tutorial: {
        recall: mean(tut.recall),
        exactRowCount: tut.exact,
        p50: percentile(tut.ms, 0.5),
        p95: percentile(tut.ms, 0.95),
      },
      langchain: {
        recall: mean(lc.recall),
        exactRowCount: lc.exact,
        hnswPlans: lc.hnswPlans,
        p50: percentile(lc.ms, 0.5),
        p95: percentile(lc.ms, 0.95),
      },
    });
    log(
      `  ${cell}: ours ${fmt(mean(ours.recall), 3)}, tutorial ${fmt(mean(tut.recall), 3)}, LangChain ${fmt(mean(lc.recall), 3)}`,
    );
  }
  return rows;
}
