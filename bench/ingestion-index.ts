import { type QueryRunner } from 'typeorm';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { VectorIndexRepository } from '../src/vector-index/vector-index.repository';

// The ingestion benchmark's per-merchant HNSW index: built and dropped the way the product does it, and its recall.

/** recall@10 of the merchant's HNSW index against an exact scan, queries = stored chunk vectors (held out by offset). */
export async function indexRecall(url: string, merchant: string, queries: number): Promise<number> {
  const db = await openDatabase(
    loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, DB_STATEMENT_TIMEOUT_MS: '0' }),
    { poolSize: 1 },
  );
  try {
    if (!/^[a-z0-9-]+$/.test(merchant)) throw new Error('unsafe merchant id');
    const sample = await db.dataSource.query<{ e: string }[]>(
      `SELECT embedding::text AS e FROM document_chunks WHERE merchant_id = $1 ORDER BY id DESC LIMIT $2`,
      [merchant, queries],
    );
    // The index covers the chunks up to its bound (a frozen graph; newer chunks are the exact tail): both sides are
    // compared over the covered rows, with the bound as a literal so the planner matches the partial index.
    const bound = await db.dataSource.query<{ n: string | null }[]>(
      `SELECT max_chunk_id::text AS n FROM merchant_vector_indexes WHERE merchant_id = $1 AND dimensions = 1536`,
      [merchant],
    );
    const maxId = bound[0]?.n ?? null;
    if (maxId !== null && !/^[0-9]+$/.test(maxId)) throw new Error('unexpected index bound');
    const covered = maxId === null ? '' : ` AND id <= ${maxId}`;
    let hit = 0;
    for (const { e } of sample) {
      // The literal merchant id lets the planner match the partial index's predicate.
      const sql = `SELECT id FROM document_chunks WHERE merchant_id = '${merchant}' AND vector_dims(embedding) = 1536${covered}
                   ORDER BY embedding::vector(1536) <=> $1::vector(1536) LIMIT 10`;
      const viaIndex = await db.dataSource.transaction(async (m) => {
        await m.query(`SET LOCAL hnsw.ef_search = 200`);
        return (await m.query<{ id: string }[]>(sql, [e])).map((r) => r.id);
      });
      const exact = await db.dataSource.transaction(async (m) => {
        await m.query(`SET LOCAL enable_indexscan = off`);
        await m.query(`SET LOCAL enable_bitmapscan = off`);
        return (await m.query<{ id: string }[]>(sql, [e])).map((r) => r.id);
      });
      hit += exact.filter((id) => viaIndex.includes(id)).length;
    }
    return hit / (sample.length * 10);
  } finally {
    await db.close();
  }
}

/** An owner connection without statement timeout, for index DDL (CREATE/DROP INDEX CONCURRENTLY). */
async function withIndexRunner<T>(
  url: string,
  work: (runner: QueryRunner, repo: VectorIndexRepository) => Promise<T>,
): Promise<T> {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, DB_STATEMENT_TIMEOUT_MS: '0' });
  const db = await openDatabase(config, { poolSize: 1 });
  try {
    const runner = db.dataSource.createQueryRunner();
    await runner.connect();
    await runner.query(`SET statement_timeout = 0`);
    // The memory the gateway's and `npm run vector-index`'s builds take: with PostgreSQL's default 64 MB the graph
    // spills (docs/INGESTION.md, second-session runs).
    await runner.query(`SELECT set_config('maintenance_work_mem', $1, false)`, [
      `${config.retrieval.indexBuildMemoryMb}MB`,
    ]);
    try {
      return await work(runner, new VectorIndexRepository());
    } finally {
      await runner.release();
    }
  } finally {
    await db.close();
  }
}

export const buildIndex = (url: string, merchant: string) =>
  withIndexRunner(url, (runner, repo) =>
    repo.ensureMerchantHnswIndex(runner, merchant, 1536, { m: 32, efConstruction: 128 }),
  );
export const dropIndex = (url: string, merchant: string) =>
  withIndexRunner(url, (runner, repo) => repo.dropMerchantHnswIndexes(runner, merchant));
