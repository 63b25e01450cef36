import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { type EntityManager } from 'typeorm';
import { createServices } from '../src/services';
import {
  allowRecreating,
  DATABASE_USAGE,
  log,
  machine,
  percentile,
  recreateDatabase,
  writeResults,
} from './bench-utils';
import { integerOption, parseCommandLine, usageError } from '../src/cli/command-line';
import { VectorGenerator } from './vector-generator';
import { principalsFor, type TenantScope } from '../src/auth/identity';
import { ChunkRepository, type NewChunkRow } from '../src/chunks/chunk.repository';
import { SearchRepository } from '../src/retrieval/search.repository';
import { type ChunkHit, type ChunkSearchParams } from '../src/retrieval/search.types';
import { VectorIndexRepository } from '../src/vector-index/vector-index.repository';
import { sha256 } from '../src/common/hash';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';

/**
 * Recall and latency of filtered vector retrieval at scale, on native PostgreSQL, for merchants of very
 * different sizes and readers of different reach (everything, 30%, 5%): the tutorial's query (a shared HNSW index,
 * then WHERE merchant AND acl) against ours (RetrievalService, VECTOR mode, whichever strategy it picks), both
 * scored against the exact answer. Two phases over the same data and queries: the tutorial's shared index
 * exists only in the first (the planner would otherwise mix it into our plans), the merchant-dedicated indexes
 * are built by the product's own maintenance for the second.
 * `--explore` also measures every strategy in every cell (quantized re-rank sizes, dedicated HNSW ef_search).
 * Usage: npm run bench:recall [-- --sizes 100000,20000,5000,1000 --small 20 --queries 30 --explore]
 */
const USAGE = `Usage: npm run bench:recall -- [--sizes 100000,20000,5000,1000] [--small 20] [--queries 30] [--explore]
                              [--reuse] [--skip-naive] [--recreate-database NAME]

Recall and latency of filtered vector retrieval on native PostgreSQL for merchants of the given --sizes (plus
--small merchants of 50 chunks) and readers of different reach: the tutorial's shared-index query against ours.
--explore measures every strategy in every cell; --reuse keeps the data of an earlier run; --skip-naive leaves
out the tutorial's side (tuning only). Results: docs/benchmarks/recall-at-scale.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_recall)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    sizes: { type: 'string', default: '100000,20000,5000,1000' },
    small: { type: 'string' },
    queries: { type: 'string' },
    explore: { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
    'skip-naive': { type: 'boolean', default: false },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const SIZES = options.sizes.split(',').map(Number);
if (!SIZES.every((n) => Number.isInteger(n) && n > 0))
  usageError(USAGE, `--sizes ${options.sizes}: whole numbers`);
const SMALL = integerOption(USAGE, 'small', options.small, 20, 0);
const SMALL_SIZE = 50;
const QUERIES = integerOption(USAGE, 'queries', options.queries, 30);
const EXPLORE = options.explore;
const SKIP_LOAD = options.reuse;
/** For tuning runs only: the published table needs both sides from one run. */
const SKIP_NAIVE = options['skip-naive'];
const K = 10;
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_recall';

const READERS = [
  { name: 'all', roles: ['agent'] },
  { name: '30%', roles: ['partner'] },
  { name: '5%', roles: ['contractor'] },
] as const;

/** Document d of a merchant: agents read all, partners d % 10 in {0, 3, 6} (30%), contractors d % 20 == 0 (5%). */
function aclOf(d: number): string[] {
  const acl = ['role:agent'];
  if (d % 10 === 0 || d % 10 === 3 || d % 10 === 6) acl.push('role:partner');
  if (d % 20 === 0) acl.push('role:contractor');
  return acl;
}

interface Cell {
  merchant: string;
  merchantChunks: number;
  reader: string;
}

async function main(): Promise<void> {
  const started = Date.now();
  if (!SKIP_LOAD) await recreateDatabase(URL_);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: URL_,
    DB_STATEMENT_TIMEOUT_MS: '0',
    EMBEDDING_CACHE_ENTRIES: '0',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
  });
  const db = await openDatabase(config, { migrate: true, poolSize: 2 });
  const ds = db.dataSource;
  const embedder = new LocalHashEmbedder(1536);
  const generator = new VectorGenerator(1536, 20261121);
  const services = createServices(config, db, embedder);
  const repo = new ChunkRepository();
  const search = new SearchRepository();
  const vectorIndexes = new VectorIndexRepository();

  const merchants: { id: string; size: number }[] = [
    ...SIZES.map((size, i) => ({ id: `big${i}_${size}`, size })),
    ...Array.from({ length: SMALL }, (_, i) => ({ id: `small${i}`, size: SMALL_SIZE })),
  ];
  const total = merchants.reduce((a, m) => a + m.size, 0);
  if (!SKIP_LOAD) {
    let loaded = 0;
    for (const { id: merchant, size } of merchants) {
      await services.merchants.provision({ id: merchant, name: merchant });
      for (let d = 0; d * 10 < size; d++) {
        const n = Math.min(10, size - d * 10);
        const centre = generator.documentCentre(generator.topic());
        const acl = aclOf(d);
        await ds.transaction(async (m) => {
          await m.query(
            `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, acl) VALUES ($1, $2, $2, '', '', $3)`,
            [merchant, `d${d}`, acl],
          );
          const rows: NewChunkRow[] = Array.from({ length: n }, (_, i) => ({
            chunkIndex: i,
            text: `Document ${d} of ${merchant}, part ${i}.`,
            contentHash: sha256(merchant, String(d), String(i)),
            headingPath: [],
            citation: `d${d}`,
            embedding: generator.chunk(centre),
          }));
          await repo.insertChunks(m, merchant, { kind: 'document', documentId: `d${d}` }, 1, rows, {
            embeddingModel: embedder.model,
            metadata: {},
            acl,
          });
        });
        loaded += n;
        if (loaded % 10_000 < n) log(`loaded ${loaded}/${total} chunks`);
      }
    }
    await ds.query(`VACUUM ANALYZE document_chunks`);
  }
  const queries = Array.from({ length: QUERIES }, () => generator.query());
  const cells: Cell[] = [];
  for (const { id, size } of merchants.filter((m) => m.size > SMALL_SIZE || m.id === 'small0')) {
    for (const r of READERS) cells.push({ merchant: id, merchantChunks: size, reader: r.name });
  }
  const scopeOf = (c: Cell): TenantScope => ({
    merchantId: c.merchant,
    principals: principalsFor('bench-user', [...READERS.find((r) => r.name === c.reader)!.roles]),
  });
  const paramsOf = (q: number[]): ChunkSearchParams => ({
    embedding: q,
    corpus: { version: 1, dimensions: 1536 },
    k: K,
    filter: {},
  });
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const r = await fn();
    return [r, performance.now() - t0];
  };
  const tx = <T>(fn: (m: EntityManager) => Promise<T>): Promise<T> => ds.transaction(fn);

  log('exact answers (ground truth)');
  const truth = new Map<string, ChunkHit[][]>();
  for (const c of cells) {
    const rows: ChunkHit[][] = [];
    for (const q of queries) rows.push(await tx((m) => search.searchExact(m, scopeOf(c), paramsOf(q))));
    truth.set(`${c.merchant}/${c.reader}`, rows);
  }
  const score = (c: Cell, i: number, got: { id: string }[]) => {
    const want = truth.get(`${c.merchant}/${c.reader}`)![i];
    const ids = new Set(got.map((h) => h.id));
    return {
      found: want.filter((w) => ids.has(w.id)).length,
      expected: want.length,
      short: got.length < want.length,
    };
  };

  type Measure = (c: Cell, q: number[]) => Promise<{ id: string }[]>;
  const measureAll = async (label: string, run: Measure, cellFilter: (c: Cell) => boolean = () => true) => {
    const rows: Record<string, unknown>[] = [];
    for (const c of cells.filter(cellFilter)) {
      const ms: number[] = [];
      let found = 0;
      let expected = 0;
      let short = 0;
      for (let i = 0; i < queries.length; i++) {
        const [got, t] = await timed(() => run(c, queries[i]));
        ms.push(t);
        const s = score(c, i, got);
        found += s.found;
        expected += s.expected;
        if (s.short) short++;
      }
      const row = {
        strategy: label,
        merchantChunks: c.merchantChunks,
        reader: c.reader,
        recallAt10: expected === 0 ? 1 : found / expected,
        shortQueries: short,
        p50: percentile(ms, 0.5),
        p95: percentile(ms, 0.95),
      };
      log(JSON.stringify(row));
      rows.push(row);
    }
    return rows;
  };

  // Phase 1: the tutorial's shared index and query.
  let naive: Record<string, unknown>[] = [];
  if (!SKIP_NAIVE) {
    log('phase 1: building the shared HNSW index of the tutorial (m=16, ef_construction=64)');
    await ds.query(`SET maintenance_work_mem = '2GB'`);
    await ds.query(
      `CREATE INDEX IF NOT EXISTS bench_tutorial_hnsw_idx ON document_chunks
       USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
    );
    naive = await measureAll('naive', (c, q) =>
      tx(async (m) => {
        const rows: { id: string }[] = await m.query(
          `SELECT id FROM document_chunks
          WHERE merchant_id = $2 AND acl && $3::text[]
          ORDER BY embedding::vector(1536) <=> $1::vector(1536) LIMIT ${K}`,
          [`[${q.join(',')}]`, c.merchant, scopeOf(c).principals],
        );
        return rows.map((r) => ({ id: String(r.id) }));
      }),
    );
    await ds.query(`DROP INDEX bench_tutorial_hnsw_idx`);
  }

  // Phase 2: ours.
  log(`phase 2: dedicated indexes for merchants >= ${config.retrieval.dedicatedIndexMinRows} chunks`);
  const built = await services.indexes.maintain({
    onProgress: (r) =>
      log(`  ${r.merchantId}: ${r.outcome} ${r.indexName ?? ''} in ${(r.ms / 1000).toFixed(0)} s`),
  });
  const strategies = new Map<string, Map<string, number>>();
  const ours = await measureAll('ours', async (c, q) => {
    const roles = [...READERS.find((r) => r.name === c.reader)!.roles];
    // The request path: a tenant session (row-level security context) for this reader.
    const session = services.sessions.open({
      merchantId: c.merchant,
      userId: 'bench-user',
      roles,
      principals: principalsFor('bench-user', roles),
    });
    const r = await services.retrieval.retrieve(session, {
      query: '',
      k: K,
      mode: 'vector',
      embedding: q,
    });
    const key = `${c.merchant}/${c.reader}`;
    const counts = strategies.get(key) ?? new Map<string, number>();
    counts.set(r.strategy, (counts.get(r.strategy) ?? 0) + 1);
    strategies.set(key, counts);
    return r.chunks;
  });
  for (const row of ours) {
    const c = cells.find((x) => x.merchantChunks === row.merchantChunks && x.reader === row.reader)!;
    row.strategies = Object.fromEntries(strategies.get(`${c.merchant}/${c.reader}`) ?? []);
  }

  const explored: Record<string, unknown>[] = [];
  if (EXPLORE) {
    const big = (c: Cell) => c.merchantChunks > 1000;
    for (const rerank of [400, 800, 1200]) {
      explored.push(
        ...(await measureAll(
          `quantized/${rerank}`,
          (c, q) => tx((m) => search.searchQuantized(m, scopeOf(c), paramsOf(q), rerank)),
          big,
        )),
      );
    }
    const withIndex = new Set<string>();
    for (const { id } of merchants)
      if (await vectorIndexes.findMerchantHnswIndex(ds.manager, id, 1536)) withIndex.add(id);
    const indexed = (c: Cell) => withIndex.has(c.merchant);
    for (const [efSearch, candidates] of [
      [100, 10],
      [100, 40],
      [200, 10],
      [200, 40],
      [200, 80],
    ]) {
      explored.push(
        ...(await measureAll(
          `hnsw/ef${efSearch}/${candidates}`,
          (c, q) =>
            tx((m) =>
              search.searchHnsw(m, scopeOf(c), paramsOf(q), { efSearch, maxScanTuples: 20_000, candidates }),
            ),
          indexed,
        )),
      );
    }
  }

  const version = await ds.query<{ v: string; pgv: string }[]>(
    `SELECT version() AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv`,
  );
  const f1 = (x: unknown) => (x as number).toFixed(1);
  const f3 = (x: unknown) => (x as number).toFixed(3);
  const table = (rows: Record<string, unknown>[]) => [
    '| strategy | merchant chunks | reader | recall@10 | short | p50 ms | p95 ms | chosen |',
    '|---|---:|---|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${String(r.strategy)} | ${String(r.merchantChunks)} | ${String(r.reader)} | ${f3(r.recallAt10)} | ${String(r.shortQueries)}/${QUERIES} | ${f1(r.p50)} | ${f1(r.p95)} | ${
          r.strategies
            ? Object.entries(r.strategies as Record<string, number>)
                .map(([s, n]) => `${s} ${n}`)
                .join(', ')
            : ''
        } |`,
    ),
  ];
  const side = SKIP_NAIVE
    ? ours
    : naive.flatMap((n) => [
        n,
        ours.find((o) => o.merchantChunks === n.merchantChunks && o.reader === n.reader)!,
      ]);
  const md = [
    '# Recall and latency at scale: the tutorial query against ours',
    '',
    `Run ${new Date().toISOString()} on ${machine()}, ${version[0].v.split(' on ')[0]}, pgvector ${version[0].pgv}; ` +
      `${total} chunks in ${merchants.length} merchants (${SIZES.join(', ')} and ${SMALL} × ${SMALL_SIZE}), 1536-d clustered ` +
      `synthetic vectors (bench/vector-generator.ts, seed 20261121), ${QUERIES} queries per row, k = ${K}. Readers: ` +
      'an agent reads every chunk, a partner 30%, a contractor 5% (whole documents). Recall@10 against the exact ' +
      'answer; "short" counts queries that returned fewer rows than the exact answer. One transaction per query. ' +
      'The tutorial query runs with its shared HNSW index (m=16, ef_construction=64, default ef_search 40); ours ' +
      `through RetrievalService (VECTOR mode, precomputed query vector) with the product's settings: exact up to ` +
      `${config.retrieval.exactScanMaxRows} readable chunks, dedicated HNSW (m=${config.retrieval.dedicatedIndexM}, ` +
      `ef_construction=${config.retrieval.dedicatedIndexEfConstruction}, ef_search ${config.retrieval.hnswEfSearch}) for merchants of ` +
      `${config.retrieval.dedicatedIndexMinRows}+ chunks, else the quantized scan (re-rank ${config.retrieval.quantizedRerank}). ` +
      'Reproduce: `npm run bench:recall`.',
    '',
    ...table(side),
    '',
    ...(explored.length > 0
      ? ['## Every strategy in every cell (`--explore`)', '', ...table(explored), '']
      : []),
    `Dedicated index builds: ${built.map((b) => `${b.merchantId} ${(b.ms / 1000).toFixed(0)} s`).join(', ') || 'none'}.`,
    '',
  ].join('\n');
  writeResults(
    'recall-at-scale',
    {
      date: new Date().toISOString(),
      machine: os.cpus().length,
      sizes: SIZES,
      small: SMALL,
      queries: QUERIES,
      naive,
      ours,
      explored,
      built,
    },
    md,
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
