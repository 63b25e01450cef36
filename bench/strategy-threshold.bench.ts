import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { allowRecreating, DATABASE_USAGE, log, percentile, rng, writeResults } from './bench-utils';
import { integerOption, parseCommandLine, usageError } from '../src/cli/command-line';
import { freshBenchServices } from './bench-services';
import { VectorGenerator } from './vector-generator';
import { principalsFor, type TenantScope } from '../src/auth/identity';
import { ChunkRepository, type NewChunkRow } from '../src/chunks/chunk.repository';
import { SearchRepository } from '../src/retrieval/search.repository';
import { type ChunkSearchParams } from '../src/retrieval/search.types';
import { sha256 } from '../src/common/hash';

/**
 * Where should retrieval switch from the exact scan to HNSW? For merchants of growing size on native PostgreSQL,
 * measures side by side (interleaved, same queries) the exact search and the HNSW iterative-scan search:
 * p50/p95 latency, and HNSW recall@10 against the exact answer, for a reader of everything and a 5% reader.
 * Usage: npm run bench:strategy [-- --sizes 500,1000,2000,5000,10000,20000 --queries 40]
 */
const USAGE = `Usage: npm run bench:strategy -- [--sizes 500,1000,2000,5000,10000,20000] [--queries 40]
                                [--vectors synthetic|lexical] [--recreate-database NAME]

Where retrieval should switch from the exact scan to HNSW: for merchants of the given --sizes on native
PostgreSQL, exact and HNSW iterative-scan search side by side (p50/p95 latency, HNSW recall@10). --vectors:
clustered synthetic vectors (default) or the local embedder on generated text. Results:
docs/benchmarks/strategy-threshold.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_strategy)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    sizes: { type: 'string', default: '500,1000,2000,5000,10000,20000' },
    queries: { type: 'string' },
    vectors: { type: 'string', default: 'synthetic' },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const SIZES = options.sizes.split(',').map(Number);
if (!SIZES.every((n) => Number.isInteger(n) && n > 0))
  usageError(USAGE, `--sizes ${options.sizes}: whole numbers`);
const QUERIES = integerOption(USAGE, 'queries', options.queries, 40);
/** synthetic: clustered vectors from VectorGenerator (default); lexical: the local embedder on generated text. */
const VECTORS = options.vectors;
if (VECTORS !== 'synthetic' && VECTORS !== 'lexical')
  usageError(USAGE, '--vectors must be synthetic or lexical');
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_strategy';

const TOPICS = [
  'refund return money card statement credit reversal',
  'password reset login two factor account locked email',
  'shipping delivery parcel tracking carrier courier address',
  'warranty defect repair replacement broken faulty claim',
  'invoice billing tax receipt payment charge vat',
  'subscription plan upgrade cancel renewal trial seats',
  'gift card voucher discount coupon loyalty points',
  'size exchange colour fit swap stock restock',
];
const rand = rng(11);
const pick = (words: string[]): string => words[Math.floor(rand() * words.length)];
const text = (topic: number, doc: number, i: number): string => {
  const w = TOPICS[topic].split(' ');
  return `Doc ${doc} part ${i}: ${Array.from({ length: 14 }, () => pick(w)).join(' ')} ${pick(TOPICS[(topic + 1) % TOPICS.length].split(' '))}.`;
};

async function main(): Promise<void> {
  const started = Date.now();
  const { db, embedder, services } = await freshBenchServices(URL_);
  const ds = db.dataSource;
  const generator = new VectorGenerator(1536, 20261121);
  const repo = new ChunkRepository();
  const search = new SearchRepository();
  await ds.query(`DROP INDEX document_chunks_embedding_hnsw_idx`);
  for (const size of SIZES) {
    const merchant = `m${size}`;
    await services.merchants.provision({ id: merchant, name: merchant });
    for (let d = 0; d * 10 < size; d++) {
      const texts = Array.from({ length: Math.min(10, size - d * 10) }, (_, i) =>
        text((d + i) % TOPICS.length, d, i),
      );
      let vectors: number[][];
      if (VECTORS === 'synthetic') {
        const centre = generator.documentCentre(generator.topic());
        vectors = texts.map(() => generator.chunk(centre));
      } else {
        vectors = await embedder.embed(texts);
      }
      // Contractors read about 5% of the documents.
      const acl = d % 20 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      await ds.transaction(async (m) => {
        await m.query(
          `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, acl) VALUES ($1, $2, $2, '', '', $3)`,
          [merchant, `d${d}`, acl],
        );
        const rows: NewChunkRow[] = texts.map((t, i) => ({
          chunkIndex: i,
          text: t,
          contentHash: sha256(t),
          headingPath: [],
          citation: `d${d}`,
          embedding: vectors[i],
        }));
        await repo.insertChunks(m, merchant, { kind: 'document', documentId: `d${d}` }, 1, rows, {
          embeddingModel: embedder.model,
          metadata: {},
          acl,
        });
      });
    }
    log(`merchant ${merchant}: ${size} chunks`);
  }
  log('building the HNSW index');
  await ds.query(`SET maintenance_work_mem = '2GB'`);
  await ds.query(
    `CREATE INDEX document_chunks_embedding_hnsw_idx ON document_chunks USING hnsw ((embedding::vector(1536)) vector_cosine_ops)
       WITH (m = 16, ef_construction = 64) WHERE vector_dims(embedding) = 1536`,
  );
  await ds.query(`ANALYZE document_chunks`);

  const queryTexts = Array.from(
    { length: QUERIES },
    (_, i) =>
      `${pick(TOPICS[i % TOPICS.length].split(' '))} ${pick(TOPICS[(i * 3) % TOPICS.length].split(' '))} question`,
  );
  const queryVectors =
    VECTORS === 'synthetic' ? queryTexts.map(() => generator.query()) : await embedder.embed(queryTexts);
  const results: Record<string, unknown>[] = [];
  for (const size of SIZES) {
    for (const [reader, roles] of [
      ['all', ['agent']],
      ['5%', ['contractor']],
    ] as const) {
      const scope: TenantScope = { merchantId: `m${size}`, principals: principalsFor('u', [...roles]) };
      const exactMs: number[] = [];
      const hnswMs: number[] = [];
      let found = 0;
      let expected = 0;
      let short = 0;
      for (let i = 0; i < QUERIES; i++) {
        const params: ChunkSearchParams = {
          embedding: queryVectors[i],
          corpus: { version: 1, dimensions: 1536 },
          k: 10,
          filter: {},
        };
        const runExact = async () => {
          const t0 = performance.now();
          const r = await ds.transaction((m) => search.searchExact(m, scope, params));
          exactMs.push(performance.now() - t0);
          return r;
        };
        const runHnsw = async () => {
          const t0 = performance.now();
          const r = await ds.transaction((m) =>
            search.searchHnsw(m, scope, params, { efSearch: 100, maxScanTuples: 20_000 }),
          );
          hnswMs.push(performance.now() - t0);
          return r;
        };
        // Alternate which runs first so caching favours neither.
        const [exact, hnsw] = i % 2 === 0 ? [await runExact(), await runHnsw()] : [null, await runHnsw()];
        const exactRows = exact ?? (await runExact());
        const got = new Set(hnsw.map((h) => h.id));
        found += exactRows.filter((r) => got.has(r.id)).length;
        expected += exactRows.length;
        if (hnsw.length < exactRows.length) short++;
      }
      const row = {
        merchantChunks: size,
        reader,
        exactP50: percentile(exactMs, 0.5),
        exactP95: percentile(exactMs, 0.95),
        hnswP50: percentile(hnswMs, 0.5),
        hnswP95: percentile(hnswMs, 0.95),
        hnswRecallAt10: expected === 0 ? 1 : found / expected,
        hnswShortQueries: short,
      };
      results.push(row);
      log(JSON.stringify(row));
    }
  }
  const version = await ds.query<{ v: string; pgv: string }[]>(
    `SELECT version() AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv`,
  );
  const f = (x: unknown) =>
    typeof x === 'number'
      ? x.toFixed(x < 1.0001 && x > 0 && !Number.isInteger(x) && x <= 1 ? 3 : 1)
      : String(x);
  const md = [
    '# Exact scan or HNSW: where to switch',
    '',
    `Run ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${version[0].v.split(' on ')[0]}, pgvector ${version[0].pgv}; ` +
      `${SIZES.reduce((a, b) => a + b, 0)} chunks in ${SIZES.length} merchants, 1536-d ${VECTORS === 'synthetic' ? 'clustered synthetic vectors (64 topics, Zipf)' : 'local lexical embedder'}, ${QUERIES} queries per row, k = 10, ` +
      'HNSW m=16 ef_construction=64, ef_search=100, iterative scan relaxed_order, max_scan_tuples 20000. Milliseconds, one transaction per query. ' +
      'Reproduce: `npm run bench:strategy`.',
    '',
    '| merchant chunks | reader | exact p50 | exact p95 | HNSW p50 | HNSW p95 | HNSW recall@10 | HNSW short |',
    '|---:|---|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${String(r.merchantChunks)} | ${String(r.reader)} | ${f(r.exactP50)} | ${f(r.exactP95)} | ${f(r.hnswP50)} | ${f(r.hnswP95)} | ${(r.hnswRecallAt10 as number).toFixed(3)} | ${String(r.hnswShortQueries)}/${QUERIES} |`,
    ),
    '',
  ].join('\n');
  writeResults(
    VECTORS === 'synthetic' ? 'strategy-threshold' : 'strategy-threshold-lexical',
    { date: new Date().toISOString(), vectors: VECTORS, sizes: SIZES, queries: QUERIES, results },
    md,
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
