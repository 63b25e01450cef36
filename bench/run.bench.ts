import 'reflect-metadata';
import { execSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import { Embeddings } from '@langchain/core/embeddings';
import pg from 'pg';
import * as prettier from 'prettier';
import { createServices, type Services } from '../src/app';
import { principalsFor, type TenantScope } from '../src/auth/identity';
import { signToken } from '../src/auth/jwt';
import { progressPrinter } from '../src/cli/progress';
import { projectRoot } from '../src/common/project-root';
import { loadConfig } from '../src/config/config';
import { type Database, openDatabase } from '../src/db/database';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { loadFolder } from '../src/ingestion/folder-loader';
import {
  allowRecreating,
  DATABASE_USAGE,
  log,
  percentile,
  recreateDatabase,
  writeResults,
} from './bench-utils';
import { parseCommandLine, usageError } from '../src/cli/command-line';
import { runCalibration } from './calibration-phase';
import { bulkLoad, createIndexes, dropIndexes, secondaryIndexes, vectorToBinary } from './bulk-loader';
import {
  type CorpusParams,
  corpusVectors,
  type MerchantPlan,
  planMerchants,
  recallAtK,
  reciprocalRank,
  ROLE_CONTRACTOR,
  ROLE_STAFF,
  SIZE_CLASSES,
  type SizeClass,
} from './corpus-generator';
import {
  graphql,
  type LoadResult,
  type Recorded,
  recordSql,
  replay,
  runConcurrent,
  startGatewayProcess,
} from './load-harness';
import { listManuals, readManual, readQuestions, writeManualFolder } from './samsung-relevance';

/**
 * The rerunnable benchmark (issue 6): one command builds a multi-tenant corpus in an empty database and measures,
 * in the same run, retrieveChunks over real HTTP against the same SQL replayed through `pg`, recall@10 against
 * exact answers for our retrieval, the tutorial's query and LangChain.js PGVectorStore, relevance on real manuals,
 * ingestion throughput and the gateway's memory. See docs/BENCHMARKS.md.
 *
 * Usage: npm run bench -- --preset small|large [--url postgres://postgres@127.0.0.1:5432/srg_bench] [--seed 42]
 */

interface Preset {
  corpus: Omit<CorpusParams, 'seed' | 'dimensions'>;
  /** Queries per (size class, role) cell. */
  queriesPerCell: number;
  /** Merchants sampled per size class (queries cycle over them). */
  merchantsPerClass: number;
  concurrency: number[];
  /** Requests per worker at each concurrency (at least queriesPerCell requests in all). */
  requestsPerWorker: number;
  /** Manuals of the relevance set to load: the two labelled ones first. */
  manuals: number;
  /** Documents (20 sections each) ingested through GraphQL. */
  ingestDocuments: number;
}

const PRESETS: Record<'small' | 'large', Preset> = {
  small: {
    corpus: {
      totalChunks: 12_000,
      xlShare: 0.3,
      largeCount: 4,
      largeShare: 0.05,
      mediumShare: 0.1,
      mediumRange: [500, 1000],
      smallRange: [20, 500],
      chunksPerDocument: [3, 8],
      ticketShare: 0.1,
      contractorShare: 0.3,
      staffShare: 0.97,
    },
    queriesPerCell: 20,
    merchantsPerClass: 6,
    concurrency: [1, 8, 32],
    requestsPerWorker: 4,
    manuals: 4,
    ingestDocuments: 10,
  },
  large: {
    corpus: {
      totalChunks: 200_000,
      xlShare: 0.3,
      largeCount: 4,
      largeShare: 0.05,
      mediumShare: 0.1,
      mediumRange: [1000, 5000],
      smallRange: [20, 500],
      chunksPerDocument: [3, 8],
      ticketShare: 0.1,
      contractorShare: 0.3,
      staffShare: 0.97,
    },
    queriesPerCell: 24,
    merchantsPerClass: 8,
    concurrency: [1, 8, 32],
    requestsPerWorker: 4,
    manuals: 6,
    ingestDocuments: 20,
  },
};

const K = 10;
const ROLES = { staff: ROLE_STAFF, contractor: ROLE_CONTRACTOR } as const;
type Role = keyof typeof ROLES;
const SHARED_TABLE = 'bench_alternatives';

interface BenchQuery {
  cell: string;
  sizeClass: SizeClass;
  role: Role;
  merchantId: string;
  principals: string[];
  token: string;
  embedding: number[];
  /** The exact top-k by a sequential scan, and how many chunks the caller may read in all. */
  truth: string[];
  readable: number;
  gatewayBody: string;
  statements: Recorded[];
}

const RETRIEVE = `query Bench($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { strategy chunks { id similarity } }
}`;
const INGEST = `mutation Ingest($input: IngestDocumentInput!) {
  ingestDocument(input: $input) { chunkCount embeddedChunks reusedChunks }
}`;

/** LangChain's store embeds nothing here: queries come with their vectors, as on our side. */
class PrecomputedEmbeddings extends Embeddings {
  constructor() {
    super({});
  }
  embedDocuments(): Promise<number[][]> {
    return Promise.reject(new Error('the benchmark passes vectors'));
  }
  embedQuery(): Promise<number[]> {
    return Promise.reject(new Error('the benchmark passes vectors'));
  }
}

const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const mean = (xs: number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

const USAGE = `Usage: npm run bench -- [--preset small|large] [--url postgres://...] [--seed 42] [--chunks N]
                     [--recreate-database NAME]

The benchmark of docs/BENCHMARKS.md on native PostgreSQL: a generated corpus (--preset small by default, or
large; --chunks overrides its size, at least 1000) with exact answers for our retrieval, the tutorial's query
and LangChain.js PGVectorStore, relevance on real manuals, ingestion throughput and the gateway's memory.
Results: docs/benchmarks/bench-<preset>.* and the table in docs/BENCHMARKS.md.

${DATABASE_USAGE.replace('BENCH_DATABASE_URL names', '--url (default BENCH_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/srg_bench) names')}`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(USAGE, {
    options: {
      preset: { type: 'string', default: 'small' },
      url: {
        type: 'string',
        default: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench',
      },
      seed: { type: 'string', default: '42' },
      chunks: { type: 'string' },
      'recreate-database': { type: 'string' },
    },
  });
  allowRecreating(values['recreate-database']);
  if (values.preset !== 'small' && values.preset !== 'large')
    usageError(USAGE, '--preset must be small or large');
  const presetName = values.preset;
  const preset = PRESETS[presetName];
  const seed = Number(values.seed);
  const url = values.url;
  const params: CorpusParams = {
    ...preset.corpus,
    ...(values.chunks ? { totalChunks: Number(values.chunks) } : {}),
    seed,
    dimensions: 1536,
  };
  if (!Number.isInteger(params.totalChunks) || params.totalChunks < 1000)
    throw new Error('--chunks must be an integer of at least 1000');
  const started = performance.now();
  const root = projectRoot();
  const phases: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    log(`▶ ${name}`);
    const t0 = performance.now();
    const r = await fn();
    phases[name] = (performance.now() - t0) / 1000;
    log(`✔ ${name} (${phases[name].toFixed(1)} s)`);
    return r;
  };

  // ---------------------------------------------------------------- database, schema, merchants
  await recreateDatabase(url);
  // Index builds (ours, the product's dedicated indexes, LangChain's) get the memory to build a 200k-vector HNSW
  // graph in memory, as a tuned server would give them; on disk they take several times longer.
  {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(
      `ALTER DATABASE "${decodeURIComponent(new URL(url).pathname.slice(1))}" SET maintenance_work_mem = '2GB'`,
    );
    await c.end();
  }
  // Index maintenance runs explicitly below, never in the background of this process (it would disturb the SQL recording).
  // Retrieval settings given to the benchmark (RETRIEVAL_*) apply to the gateway and to the in-process services alike.
  const retrievalEnv = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[0].startsWith('RETRIEVAL_') && e[1] !== undefined,
    ),
  );
  const env = {
    ...retrievalEnv,
    NODE_ENV: 'test',
    DATABASE_URL: url,
    DB_STATEMENT_TIMEOUT_MS: '0',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
  };
  const config = loadConfig(env);
  const db = await openDatabase(config, { migrate: true, poolSize: 4 });
  const embedder = new LocalHashEmbedder(1536);
  const services = createServices(config, db, embedder);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  // A second connection for the bulk loader, and one for the alternatives' table built in the background.
  const writer = new pg.Client({ connectionString: url });
  await writer.connect();
  const background = new pg.Client({ connectionString: url });
  await background.connect();
  const rawPool = new pg.Pool({ connectionString: url, max: 10 });
  const lcPool = new pg.Pool({ connectionString: url, max: 10 });
  // Statements of these connections are never part of a recorded product request (see recordSql below).
  const notProduct = new WeakSet<object>([admin, writer, background]);
  rawPool.on('connect', (c) => notProduct.add(c));
  lcPool.on('connect', (c) => notProduct.add(c));

  const merchants = planMerchants(params);
  const topics = corpusVectors(params);
  await phase(`provision ${merchants.length} merchants`, async () => {
    const show = progressPrinter('merchants');
    for (const [i, m] of merchants.entries()) {
      await services.merchants.provision({ id: m.id, name: `Bench ${m.sizeClass} ${m.index}` });
      show(i + 1, merchants.length);
    }
  });

  // ---------------------------------------------------------------- bulk load into the empty table
  const indexes = await secondaryIndexes(admin, 'document_chunks');
  const load = await phase(`bulk load ${params.totalChunks} chunks`, async () => {
    await dropIndexes(admin, indexes);
    const show = progressPrinter('chunks');
    return bulkLoad([admin, writer], params, topics, merchants, embedder.model, (n) =>
      show(n, params.totalChunks),
    );
  });
  // ---------------------------------------------------------------- the alternatives' table (LangChain + tutorial)
  // Built in the background on its own connections from right after the load (the copy) and the product's index
  // maintenance (the HNSW build), while the folder loader and the relevance queries run, the gateway starts and the
  // exact answers are computed (the build is the longest step of a large run); awaited before the recall and latency
  // measurements. The index-build and folder-loader timings are therefore taken next to this work.
  let markProductIndexesDone = (): void => undefined;
  const productIndexesDone = new Promise<void>((resolve) => (markProductIndexesDone = resolve));
  const sharedBuild = phase(
    'LangChain PGVectorStore table + shared HNSW (tutorial), in the background',
    async () => {
      const store = await PGVectorStore.initialize(new PrecomputedEmbeddings(), {
        pool: lcPool,
        tableName: SHARED_TABLE,
        dimensions: 1536,
      });
      // The tutorial's columns next to LangChain's: both read one shared HNSW graph over every merchant.
      await background.query(
        `ALTER TABLE ${SHARED_TABLE} ADD COLUMN chunk_id bigint, ADD COLUMN merchant_id text, ADD COLUMN acl text[]`,
      );
      const t0 = performance.now();
      await background.query(
        `INSERT INTO ${SHARED_TABLE} (text, metadata, embedding, chunk_id, merchant_id, acl)
       SELECT chunk_text, jsonb_build_object('merchant_id', merchant_id, 'acl', to_jsonb(acl), 'chunk_id', id::text),
              embedding::vector(1536), id, merchant_id, acl
         FROM document_chunks WHERE merchant_id LIKE 'bm%'`,
      );
      const copySeconds = (performance.now() - t0) / 1000;
      // A plain CREATE INDEX holds its snapshot for the whole build, and the product's CREATE INDEX CONCURRENTLY
      // waits for every older snapshot: the HNSW build waits until the product's index maintenance is done.
      await productIndexesDone;
      const t1 = performance.now();
      await store.createHnswIndex({ dimensions: 1536, m: 16, efConstruction: 64 });
      const hnswSeconds = (performance.now() - t1) / 1000;
      await background.query(`CREATE INDEX ${SHARED_TABLE}_merchant_idx ON ${SHARED_TABLE} (merchant_id)`);
      await background.query(`CREATE INDEX ${SHARED_TABLE}_acl_idx ON ${SHARED_TABLE} USING gin (acl)`);
      await background.query(`VACUUM ANALYZE ${SHARED_TABLE}`);
      return { store, copySeconds, hnswSeconds };
    },
  );
  sharedBuild.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"

  const indexSeconds = await phase('re-create secondary indexes', async () => {
    // The HNSW graph of 200k 1536-d vectors needs ~1.5 GB to be built in memory (much slower on disk).
    await admin.query(`SET maintenance_work_mem = '2GB'`);
    return createIndexes(admin, indexes, (name) => log(`  index ${name}`));
  });
  const maintenance = await phase('product index maintenance', () => runIndexMaintenance(services, db));
  markProductIndexesDone();
  await phase('VACUUM ANALYZE', async () => {
    for (const t of ['document_chunks', 'support_documents', 'tickets', 'corpus_versions', 'merchants'])
      await admin.query(`VACUUM ANALYZE ${t}`);
  });

  // ---------------------------------------------------------------- the product's folder loader, real manuals
  const manualDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-bench-manuals-'));
  const manuals = listManuals()
    .slice(0, preset.manuals)
    .map((m) => readManual(m));
  const loader = await phase(`folder loader: ${manuals.length} manuals`, async () => {
    let chunks = 0;
    let files = 0;
    const t0 = performance.now();
    for (const [i, manual] of manuals.entries()) {
      const dir = path.join(manualDir, manual.merchantId);
      writeManualFolder(manual, dir, [ROLE_STAFF, ROLE_CONTRACTOR]);
      const s = await loadFolder(services, manual.merchantId, dir, { merchantName: manual.name });
      chunks += s.chunks;
      files += s.files;
      log(`  ${i + 1}/${manuals.length} ${manual.merchantId}: ${s.files} sections, ${s.chunks} chunks`);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { manuals: manuals.length, files, chunks, seconds, chunksPerSecond: chunks / seconds };
  });
  fs.rmSync(manualDir, { recursive: true, force: true });

  // ---------------------------------------------------------------- relevance on the labelled manuals
  const relevance = await phase('relevance (VECTOR / KEYWORD / HYBRID)', async () => {
    const out: {
      manual: string;
      questions: number;
      unmatchedLabels: number;
      mode: string;
      recallAt5: number;
      mrrAt10: number;
    }[] = [];
    for (const manual of manuals.filter((m) => m.questionsFile)) {
      const { questions, unmatched } = readQuestions(manual);
      const scope: TenantScope = {
        merchantId: manual.merchantId,
        principals: principalsFor('eval', ['staff']),
      };
      // The request path: a tenant session (row-level security context) for this reader.
      const session = services.sessions.open({
        userId: 'eval',
        roles: ['staff'],
        merchantId: scope.merchantId,
        principals: [...scope.principals],
      });
      for (const mode of ['vector', 'keyword', 'hybrid'] as const) {
        let hits5 = 0;
        let rr = 0;
        for (const q of questions) {
          const r = await services.retrieval.retrieve(session, { query: q.question, k: K, mode });
          const docs = [...new Set(r.chunks.map((c) => c.documentId ?? ''))];
          if (docs.slice(0, 5).some((d) => q.relevant.has(d))) hits5++;
          rr += reciprocalRank(docs, q.relevant, K);
        }
        out.push({
          manual: manual.name,
          questions: questions.length,
          unmatchedLabels: unmatched,
          mode: mode.toUpperCase(),
          recallAt5: questions.length ? hits5 / questions.length : NaN,
          mrrAt10: questions.length ? rr / questions.length : NaN,
        });
      }
    }
    return out;
  });

  // ---------------------------------------------------------------- the query set
  const secret = crypto.randomBytes(32).toString('hex');
  const token = (merchantId: string, roles: string[], sub: string): string =>
    signToken({ sub, merchantId, roles }, secret, 6 * 3600);
  const xl = merchants.find((m) => m.sizeClass === 'xl')!;
  const sample = (cls: SizeClass): MerchantPlan[] => {
    const all = merchants.filter((m) => m.sizeClass === cls).sort((a, b) => a.chunks - b.chunks);
    if (all.length <= preset.merchantsPerClass) return all;
    return Array.from(
      { length: preset.merchantsPerClass },
      (_, i) => all[Math.round((i * (all.length - 1)) / (preset.merchantsPerClass - 1))],
    );
  };
  const queryVectors = topics.fork(seed * 977 + 5);
  const queries: BenchQuery[] = [];
  for (const sizeClass of SIZE_CLASSES) {
    const pool = sample(sizeClass);
    if (pool.length === 0) continue;
    for (const role of Object.keys(ROLES) as Role[]) {
      for (let i = 0; i < preset.queriesPerCell; i++) {
        const m = pool[i % pool.length];
        const sub = `bench-${role}`;
        const embedding = queryVectors.query();
        queries.push({
          cell: `${sizeClass}/${role}`,
          sizeClass,
          role,
          merchantId: m.id,
          principals: principalsFor(sub, [role]),
          token: token(m.id, [role], sub),
          embedding,
          truth: [],
          readable: 0,
          gatewayBody: JSON.stringify({
            query: RETRIEVE,
            variables: { input: { query: '', k: K, mode: 'VECTOR', embedding } },
          }),
          statements: [],
        });
      }
    }
  }

  // The SQL the product sends for each query, recorded from the same service code the gateway runs (only the
  // statements of the services' own connections: the alternatives' table is being built meanwhile).
  await phase('record the product SQL per query', async () => {
    for (const q of queries) {
      const { statements } = await recordSql(
        () =>
          services.retrieval.retrieve(
            services.sessions.open({
              merchantId: q.merchantId,
              userId: 'bench',
              roles: [],
              principals: [...q.principals],
            }),
            { query: '', k: K, mode: 'vector', embedding: q.embedding },
          ),
        (client) => !notProduct.has(client),
      );
      q.statements = statements;
    }
  });

  // ---------------------------------------------------------------- the gateway, a separate process
  const gateway = await phase('start gateway', () =>
    startGatewayProcess(root, {
      ...retrievalEnv,
      NODE_ENV: 'production',
      // As in production: requests as the gateway role under row-level security, admin work as the owner
      // (production refuses a superuser or owner request login). Roles from scripts/create-db-roles.sh.
      DATABASE_URL: gatewayUrl(url),
      MIGRATION_DATABASE_URL: url,
      // Calibrated explicitly above, like the index maintenance: nothing runs in the background while measuring.
      RETRIEVAL_CALIBRATION_AUTO: 'false',
      // Throughput is what is measured: the per-merchant and per-caller rate limits would cap it at their refill.
      RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
      RATE_LIMIT_CALLER_PER_MINUTE: '0',
      AUTH_JWT_SECRET: secret,
      PORT: '0',
      HOST: '127.0.0.1',
    }),
  );
  const rssAtStart = gateway.rssMiB();

  await phase('exact answers (sequential scan)', async () => {
    const show = progressPrinter('exact answers');
    for (const [i, q] of queries.entries()) {
      const client = await rawPool.connect();
      try {
        // Independent of every index: a sequential scan computes every readable chunk's distance.
        await client.query('BEGIN');
        await client.query(
          `SELECT set_config('enable_indexscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
                  set_config('enable_indexonlyscan', 'off', true)`,
        );
        const top = await client.query<{ id: string }>(
          `SELECT id::text AS id FROM document_chunks
            WHERE merchant_id = $1 AND acl && $2::text[] AND corpus_version = 1
            ORDER BY embedding <=> $3::vector, id LIMIT ${K}`,
          [q.merchantId, q.principals, vectorToBinary(q.embedding)],
        );
        const count = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1 AND acl && $2::text[] AND corpus_version = 1`,
          [q.merchantId, q.principals],
        );
        await client.query('COMMIT');
        q.truth = top.rows.map((r) => r.id);
        q.readable = Number(count.rows[0].n);
      } finally {
        client.release();
      }
      show(i + 1, queries.length);
    }
  });

  const shared = await sharedBuild;
  const cells = [...new Set(queries.map((q) => q.cell))];
  const byCell = (cell: string): BenchQuery[] => queries.filter((q) => q.cell === cell);

  // ---------------------------------------------------------------- recall: ours (over HTTP), tutorial, LangChain
  interface RecallRow {
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
  const recall: RecallRow[] = await phase('recall@10: ours, tutorial, LangChain', async () => {
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
        const client = await rawPool.connect();
        let naive: string[];
        try {
          // The tutorial's query as the planner runs it on a big table: HNSW scan (default ef_search 40, no
          // iterative scan), merchant and ACL applied after the index scan. Plan forced so small merchants get it too.
          await client.query('BEGIN');
          await client.query(
            `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
                    set_config('enable_sort', 'off', true)`,
          );
          naive = (
            await client.query<{ id: string }>(
              `SELECT chunk_id::text AS id FROM ${SHARED_TABLE} WHERE merchant_id = $1 AND acl && $2::text[]
                ORDER BY embedding <=> $3::vector(1536) LIMIT ${K}`,
              [q.merchantId, q.principals, vectorToBinary(q.embedding)],
            )
          ).rows.map((x) => x.id);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
        tut.ms.push(performance.now() - t0);
        tut.recall.push(recallAtK(q.truth, naive, K));
        if (naive.length === want) tut.exact++;

        t0 = performance.now();
        // LangChain's closest filter: metadata equality on the merchant, `arrayContains` (jsonb ?|) on the ACL.
        const docs = await shared.store.similaritySearchVectorWithScore(q.embedding, K, {
          merchant_id: q.merchantId,
          acl: { arrayContains: q.principals },
        });
        lc.ms.push(performance.now() - t0);
        const lcIds = docs.map(([d]) => String((d.metadata as { chunk_id: string }).chunk_id));
        lc.recall.push(recallAtK(q.truth, lcIds, K));
        if (lcIds.length === want) lc.exact++;
        // Which plan LangChain's statement got: its recall depends on whether the planner used the HNSW index.
        const { statements } = await recordSql(() =>
          shared.store.similaritySearchVectorWithScore(q.embedding, K, {
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
  });

  // ---------------------------------------------------------------- latency and throughput: gateway vs raw SQL
  interface LatencyRow extends LoadResult {
    cell: string;
    concurrency: number;
    side: 'gateway' | 'raw';
    /** CPU per request of the gateway process (gateway side) or of this client process (both sides). */
    gatewayCpuMsPerRequest: number | null;
    clientCpuMsPerRequest: number;
  }
  const latency: LatencyRow[] = await phase(
    'latency: gateway over HTTP vs the same SQL through pg',
    async () => {
      const rows: LatencyRow[] = [];
      const total = cells.length * preset.concurrency.length;
      const show = progressPrinter('latency runs');
      let done = 0;
      for (const cell of cells) {
        const qs = byCell(cell);
        for (const [ci, c] of preset.concurrency.entries()) {
          const n = Math.max(qs.length, c * preset.requestsPerWorker);
          const runGateway = async (): Promise<void> => {
            const cpu0 = gateway.cpuMs();
            const own0 = process.cpuUsage();
            const r = await runConcurrent(n, c, (i) =>
              graphql(gateway.url, qs[i % qs.length].token, qs[i % qs.length].gatewayBody),
            );
            const own = process.cpuUsage(own0);
            rows.push({
              cell,
              concurrency: c,
              side: 'gateway',
              ...r,
              gatewayCpuMsPerRequest: (gateway.cpuMs() - cpu0) / n,
              clientCpuMsPerRequest: (own.user + own.system) / 1000 / n,
            });
          };
          const runRaw = async (): Promise<void> => {
            const own0 = process.cpuUsage();
            const r = await runConcurrent(n, c, (i) => replay(rawPool, qs[i % qs.length].statements));
            const own = process.cpuUsage(own0);
            rows.push({
              cell,
              concurrency: c,
              side: 'raw',
              ...r,
              gatewayCpuMsPerRequest: null,
              clientCpuMsPerRequest: (own.user + own.system) / 1000 / n,
            });
          };
          // Alternate which side goes first, so neither always meets the warmer cache.
          if (ci % 2 === 0) {
            await runRaw();
            await runGateway();
          } else {
            await runGateway();
            await runRaw();
          }
          show(++done, total, `${cell} c=${c}`);
        }
      }
      return rows;
    },
  );
  const peakRssAfterQueries = gateway.peakRssMiB();

  // ---------------------------------------------------------------- ingestion through GraphQL into the indexed table
  const ingest = await phase('ingestDocument over GraphQL + re-ingest one paragraph', async () => {
    const adminToken = token(xl.id, ['admin'], 'bench-admin');
    const words =
      'refund parcel invoice warranty password courier voucher subscription exchange receipt'.split(' ');
    const doc = (d: number, changed = -1): string =>
      Array.from(
        { length: 20 },
        (_, s) =>
          `## Section ${s}\n\nDocument ${d} section ${s}: ${words[(d + s) % words.length]} ${words[(d * 3 + s) % words.length]} ` +
          `policy details for case ${d}-${s}.${s === changed ? ' Revised wording in this paragraph.' : ''}`,
      ).join('\n\n');
    const body = (d: number, changed = -1): string =>
      JSON.stringify({
        query: INGEST,
        variables: {
          input: {
            id: `bench-ingest-${d}`,
            title: `Bench ingest ${d}`,
            text: doc(d, changed),
            acl: [ROLE_STAFF],
          },
        },
      });
    type Ingested = { ingestDocument: { chunkCount: number; embeddedChunks: number } };
    let chunks = 0;
    const firstMs: number[] = [];
    for (let d = 0; d < preset.ingestDocuments; d++) {
      const t0 = performance.now();
      const r = await graphql<Ingested>(gateway.url, adminToken, body(d));
      firstMs.push(performance.now() - t0);
      chunks += r.ingestDocument.chunkCount;
    }
    const againMs: number[] = [];
    let reEmbedded = 0;
    for (let d = 0; d < preset.ingestDocuments; d++) {
      const t0 = performance.now();
      const r = await graphql<Ingested>(gateway.url, adminToken, body(d, 7));
      againMs.push(performance.now() - t0);
      reEmbedded += r.ingestDocument.embeddedChunks;
    }
    const seconds = firstMs.reduce((a, b) => a + b, 0) / 1000;
    return {
      merchant: xl.id,
      documents: preset.ingestDocuments,
      chunks,
      seconds,
      chunksPerSecond: chunks / seconds,
      firstIngestMsPerDocument: mean(firstMs),
      oneParagraphChangedMsPerDocument: mean(againMs),
      chunksReEmbeddedPerDocument: reEmbedded / preset.ingestDocuments,
    };
  });

  // ---------------------------------------------------------------- the bulk loader into the now-indexed table
  const indexedLoad = await phase('bulk loader into the indexed table', async () => {
    const extra: CorpusParams = {
      ...params,
      seed: seed + 1,
      totalChunks: Math.round(params.totalChunks * 0.02),
    };
    const extraMerchants = planMerchants(extra).map((m) => ({ ...m, id: `${m.id}-x` }));
    for (const m of extraMerchants)
      await services.merchants.provision({ id: m.id, name: `Extra ${m.index}` });
    return bulkLoad([admin, writer], extra, corpusVectors(extra), extraMerchants, embedder.model);
  });
  const peakRss = gateway.peakRssMiB();

  // ---------------------------------------------------------------- versions, teardown, results
  const versions = (
    await admin.query<{ v: string; pgv: string; chunks: string }>(
      `SELECT version() AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv,
              (SELECT count(*) FROM document_chunks)::text AS chunks`,
    )
  ).rows[0];
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
  } catch {
    // not a git checkout
  }
  await gateway.stop();
  await shared.store.end(); // releases its client and ends lcPool
  await rawPool.end();
  await admin.end();
  await writer.end();
  await background.end();
  await services.indexes.close();
  await db.close();

  const classCounts = Object.fromEntries(
    SIZE_CLASSES.map((c) => {
      const ms = merchants.filter((m) => m.sizeClass === c);
      return [
        c,
        {
          merchants: ms.length,
          chunks: ms.reduce((a, m) => a + m.chunks, 0),
          min: Math.min(...ms.map((m) => m.chunks)),
          max: Math.max(...ms.map((m) => m.chunks)),
        },
      ];
    }),
  );
  const result = {
    preset: presetName,
    date: new Date().toISOString(),
    commit,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      loadAverageAtEnd: os.loadavg(),
      node: process.version,
      postgres: versions.v.split(' on ')[0],
      pgvector: versions.pgv,
    },
    data: {
      ...params,
      merchants: merchants.length,
      classes: classCounts,
      chunksAtEnd: Number(versions.chunks),
    },
    seed,
    k: K,
    retrievalSettings: retrievalEnv,
    phasesSeconds: phases,
    load: { ...load, chunksPerSecond: load.chunks / load.seconds, indexSeconds, maintenance },
    alternatives: { copySeconds: shared.copySeconds, sharedHnswBuildSeconds: shared.hnswSeconds },
    recall,
    latency,
    relevance,
    ingestion: {
      graphql: ingest,
      folderLoader: loader,
      bulkIntoIndexed: { ...indexedLoad, chunksPerSecond: indexedLoad.chunks / indexedLoad.seconds },
    },
    memory: {
      gatewayRssAtStartMiB: rssAtStart,
      gatewayPeakRssAfterQueriesMiB: peakRssAfterQueries,
      gatewayPeakRssMiB: peakRss,
    },
    totalSeconds: (performance.now() - started) / 1000,
  };
  writeResults(`bench-${presetName}`, result, markdown(result, preset));
  await updateSummary(presetName, summary(result));
  log(`done in ${result.totalSeconds.toFixed(0)} s`);
}

/** The product's index maintenance (`npm run vector-index`): dedicated HNSW indexes for merchants that need one. */
async function runIndexMaintenance(services: Services, db: Database): Promise<string> {
  const reports = await services.indexes.maintain({
    onProgress: (r) =>
      log(`  ${r.merchantId}: ${r.outcome} ${r.indexName ?? ''} (${(r.ms / 1000).toFixed(1)} s)`),
  });
  const calibration = await runCalibration(services, db, log);
  if (reports.length === 0) return `no merchant needed a dedicated index; ${calibration}`;
  return `${reports
    .map((r) => `${r.merchantId} ${r.outcome} ${r.indexName ?? ''} in ${(r.ms / 1000).toFixed(1)} s`)
    .join('; ')}; ${calibration}`;
}

/** The headline numbers of a run, written into docs/BENCHMARKS.md between this preset's markers. */
function summary(r: Result): string {
  const worst = (pick: (x: Result['recall'][number]) => number): string => {
    const min = r.recall.reduce((a, x) => (pick(x) < pick(a) ? x : a), r.recall[0]);
    return `${fmt(pick(min), 3)} (${min.cell})`;
  };
  const throughputRatio = (c: number): string => {
    const rows = r.latency.filter((l) => l.concurrency === c);
    const rate = (side: 'gateway' | 'raw') =>
      rows.filter((l) => l.side === side).reduce((a, l) => a + l.requests, 0) /
      rows.filter((l) => l.side === side).reduce((a, l) => a + l.seconds, 0);
    return `${fmt(rate('gateway'), 0)} vs ${fmt(rate('raw'), 0)} req/s (${fmt(rate('gateway') / rate('raw'), 2)}×)`;
  };
  const p95c1 = r.latency.filter((l) => l.side === 'gateway' && l.concurrency === 1);
  const worstP95 = p95c1.reduce((a, l) => (l.p95 > a.p95 ? l : a), p95c1[0]);
  const hybrid = r.relevance.filter((x) => x.mode === 'HYBRID');
  return [
    `Latest run: ${r.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`, ${r.data.chunksAtEnd} chunks in ` +
      `${r.data.merchants} synthetic merchants + ${r.ingestion.folderLoader.manuals} manuals, ${r.totalSeconds.toFixed(0)} s. ` +
      `Full tables: [benchmarks/bench-${r.preset}.md](benchmarks/bench-${r.preset}.md).`,
    '',
    '| measure | result |',
    '|---|---|',
    `| recall@10, worst class/reader: ours / tutorial / LangChain | ${worst((x) => x.ours.recall)} / ${worst((x) => x.tutorial.recall)} / ${worst((x) => x.langchain.recall)} |`,
    `| queries with exactly min(k, readable) rows: ours / tutorial / LangChain | ${r.recall.reduce((a, x) => a + x.ours.exactRowCount, 0)} / ` +
      `${r.recall.reduce((a, x) => a + x.tutorial.exactRowCount, 0)} / ${r.recall.reduce((a, x) => a + x.langchain.exactRowCount, 0)} of ${r.recall.reduce((a, x) => a + x.queries, 0)} |`,
    `| gateway p95 at concurrency 1, worst class/reader | ${fmt(worstP95.p95)} ms (${worstP95.cell}) |`,
    ...[...new Set(r.latency.map((l) => l.concurrency))].map(
      (c) => `| throughput gateway vs raw SQL, concurrency ${c} | ${throughputRatio(c)} |`,
    ),
    `| relevance, HYBRID recall@5 / MRR@10 | ${hybrid.map((x) => `${x.manual}: ${fmt(x.recallAt5, 2)} / ${fmt(x.mrrAt10, 2)}`).join('; ')} |`,
    `| bulk load into the empty table | ${fmt(r.load.chunksPerSecond, 0)} chunks/s |`,
    `| ingestDocument over GraphQL / folder loader, into the indexed table | ${fmt(r.ingestion.graphql.chunksPerSecond, 0)} / ${fmt(r.ingestion.folderLoader.chunksPerSecond, 0)} chunks/s |`,
    `| re-ingesting a 20-section document, one paragraph changed | ${fmt(r.ingestion.graphql.oneParagraphChangedMsPerDocument)} ms (first ingestion ${fmt(r.ingestion.graphql.firstIngestMsPerDocument)} ms) |`,
    `| gateway peak RSS | ${fmt(r.memory.gatewayPeakRssMiB, 0)} MiB |`,
  ].join('\n');
}

/** Replaces the text between `<!-- bench:<preset> -->` and `<!-- /bench:<preset> -->` in docs/BENCHMARKS.md. */
async function updateSummary(preset: string, text: string): Promise<void> {
  const file = path.join(projectRoot(), 'docs', 'BENCHMARKS.md');
  if (!fs.existsSync(file)) return;
  const doc = fs.readFileSync(file, 'utf8');
  const start = `<!-- bench:${preset} -->`;
  const end = `<!-- /bench:${preset} -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) return;
  const updated = `${doc.slice(0, i + start.length)}\n${text}\n${doc.slice(j)}`;
  // Formatted as `npm run lint` expects (Prettier pads Markdown tables).
  const options = (await prettier.resolveConfig(file)) ?? {};
  fs.writeFileSync(file, await prettier.format(updated, { ...options, filepath: file }));
}

type Result = {
  preset: string;
  retrievalSettings: Record<string, string>;
  date: string;
  commit: string;
  machine: Record<string, unknown> & {
    cpus: number;
    cpuModel: string;
    node: string;
    postgres: string;
    pgvector: string;
    loadAverageAtEnd: number[];
    memoryGiB: number;
  };
  data: CorpusParams & {
    merchants: number;
    classes: Record<string, { merchants: number; chunks: number; min: number; max: number }>;
    chunksAtEnd: number;
  };
  seed: number;
  load: {
    chunks: number;
    seconds: number;
    chunksPerSecond: number;
    indexSeconds: Record<string, number>;
    maintenance: string;
  };
  alternatives: { copySeconds: number; sharedHnswBuildSeconds: number };
  recall: {
    cell: string;
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
  }[];
  latency: (LoadResult & {
    cell: string;
    concurrency: number;
    side: 'gateway' | 'raw';
    gatewayCpuMsPerRequest: number | null;
    clientCpuMsPerRequest: number;
  })[];
  relevance: {
    manual: string;
    questions: number;
    unmatchedLabels: number;
    mode: string;
    recallAt5: number;
    mrrAt10: number;
  }[];
  ingestion: {
    graphql: {
      documents: number;
      chunks: number;
      chunksPerSecond: number;
      firstIngestMsPerDocument: number;
      oneParagraphChangedMsPerDocument: number;
      chunksReEmbeddedPerDocument: number;
      merchant: string;
    };
    folderLoader: {
      manuals: number;
      files: number;
      chunks: number;
      seconds: number;
      chunksPerSecond: number;
    };
    bulkIntoIndexed: { chunks: number; seconds: number; chunksPerSecond: number };
  };
  memory: { gatewayRssAtStartMiB: number; gatewayPeakRssAfterQueriesMiB: number; gatewayPeakRssMiB: number };
  totalSeconds: number;
};

function markdown(r: Result, preset: Preset): string {
  const lines: string[] = [];
  const cls = r.data.classes;
  lines.push(
    `# Benchmark, preset \`${r.preset}\``,
    '',
    `Run ${r.date} at commit \`${r.commit}\` on ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB ` +
      `(load average at the end ${r.machine.loadAverageAtEnd.map((x) => x.toFixed(1)).join(' / ')}: the machine is shared), ` +
      `Node ${r.machine.node}, ${r.machine.postgres}, pgvector ${r.machine.pgvector}. Seed ${r.seed}; ${r.totalSeconds.toFixed(0)} s in all; ` +
      `${Object.keys(r.retrievalSettings).length ? `retrieval settings ${JSON.stringify(r.retrievalSettings)}` : 'default retrieval settings'}; ` +
      'the benchmark database has `maintenance_work_mem = 2GB`. ' +
      `Reproduce: \`npm run bench -- --preset ${r.preset} --seed ${r.seed}\`.`,
    '',
    `**Data**: ${r.data.totalChunks} synthetic chunks (1536-d clustered vectors) in ${r.data.merchants} merchants — ` +
      Object.entries(cls)
        .map(
          ([c, v]) =>
            `${c}: ${v.merchants} merchant(s), ${v.min === v.max ? v.min : `${v.min}–${v.max}`} chunks each`,
        )
        .join('; ') +
      `; documents of ${r.data.chunksPerDocument[0]}–${r.data.chunksPerDocument[1]} chunks, ${r.data.ticketShare * 100}% ticket chunks; ` +
      `staff read ${r.data.staffShare * 100}% of a merchant's sources, contractors ${r.data.contractorShare * 100}%. ` +
      `Plus the Samsung manuals of the relevance set; ${r.data.chunksAtEnd} chunks at the end. k = ${K} everywhere.`,
    '',
    `Bulk load into the empty table (secondary indexes dropped, then re-created from their definitions): ` +
      `${r.load.chunks} chunks in ${fmt(r.load.seconds)} s (**${fmt(r.load.chunksPerSecond, 0)} chunks/s**); index builds ` +
      Object.entries(r.load.indexSeconds)
        .map(([n, s]) => `${n} ${fmt(s)} s`)
        .join(', ') +
      `. Product index maintenance: ${r.load.maintenance}.`,
    '',
    '## Recall@10 against exact answers (sequential scan), and single-query latency',
    '',
    `${preset.queriesPerCell} queries per row over up to ${preset.merchantsPerClass} merchants of the class. "rows ok" = queries that returned exactly ` +
      'min(k, readable) rows. Ours = `retrieveChunks` (VECTOR, precomputed embedding) over HTTP; tutorial = `WHERE merchant_id AND acl && … ORDER BY ' +
      'embedding <=> q LIMIT k` through a shared HNSW index (m 16, ef_construction 64, ef_search 40, no iterative scan); LangChain = ' +
      '`PGVectorStore.similaritySearchVectorWithScore` with filter `{merchant_id, acl: {arrayContains: principals}}` on its own table and ' +
      `HNSW index (same vectors; built in ${fmt(r.alternatives.sharedHnswBuildSeconds)} s). Latency in ms at concurrency 1 (ours includes HTTP and GraphQL).`,
    '',
    '| class / reader | readable (median) | ours recall | rows ok | ours p50 / p95 | strategies; statements per request | tutorial recall | rows ok | p50 / p95 | LangChain recall | rows ok | HNSW plans | p50 / p95 |',
    '|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.recall.map(
      (x) =>
        `| ${x.cell} | ${x.readableMedian} | **${fmt(x.ours.recall, 3)}** | ${x.ours.exactRowCount}/${x.queries} | ${fmt(x.ours.p50)} / ${fmt(x.ours.p95)} | ` +
        `${Object.entries(x.ours.strategies)
          .map(([s, n]) => `${s} ${n}`)
          .join(
            ', ',
          )}; ${x.ours.sqlStatements} SQL statements | ${fmt(x.tutorial.recall, 3)} | ${x.tutorial.exactRowCount}/${x.queries} | ${fmt(x.tutorial.p50)} / ${fmt(x.tutorial.p95)} | ` +
        `${fmt(x.langchain.recall, 3)} | ${x.langchain.exactRowCount}/${x.queries} | ${x.langchain.hnswPlans}/${x.queries} | ${fmt(x.langchain.p50)} / ${fmt(x.langchain.p95)} |`,
    ),
    '',
    '## Latency and throughput: gateway over HTTP vs the same SQL through `pg`',
    '',
    'Raw = the exact statements the product sent for each query (recorded from the service, replayed on a pooled `pg` connection, ' +
      "pool of 10 like the gateway's). Gateway = the real server (`dist/src/main.js`, NODE_ENV=production) in its own process, " +
      'a keep-alive HTTP client with a fixed number of requests in flight. Both on this 2-core machine with the client, the ' +
      'gateway and PostgreSQL competing for the CPUs. Milliseconds; throughput in requests/s; ratio = gateway / raw throughput; ' +
      'CPU = milliseconds of CPU per request used by the gateway process, and by the benchmark client process on each side ' +
      '(the client drives HTTP on one side and the SQL replay on the other).',
    '',
    '| class / reader | concurrency | gateway p50 / p95 / p99 | raw p50 / p95 / p99 | gateway req/s | raw req/s | ratio | gateway CPU | client CPU gateway / raw |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  const cells = [...new Set(r.latency.map((l) => l.cell))];
  for (const cell of cells)
    for (const c of [...new Set(r.latency.map((l) => l.concurrency))]) {
      const g = r.latency.find((l) => l.cell === cell && l.concurrency === c && l.side === 'gateway');
      const w = r.latency.find((l) => l.cell === cell && l.concurrency === c && l.side === 'raw');
      if (!g || !w) continue;
      lines.push(
        `| ${cell} | ${c} | ${fmt(g.p50)} / ${fmt(g.p95)} / ${fmt(g.p99)} | ${fmt(w.p50)} / ${fmt(w.p95)} / ${fmt(w.p99)} | ` +
          `${fmt(g.throughput, 0)} | ${fmt(w.throughput, 0)} | **${fmt(g.throughput / w.throughput, 2)}** | ` +
          `${fmt(g.gatewayCpuMsPerRequest ?? NaN)} | ${fmt(g.clientCpuMsPerRequest)} / ${fmt(w.clientCpuMsPerRequest)} |`,
      );
    }
  const sum = (c: number, side: 'gateway' | 'raw'): number =>
    r.latency.filter((l) => l.concurrency === c && l.side === side).reduce((a, l) => a + l.requests, 0) /
    r.latency.filter((l) => l.concurrency === c && l.side === side).reduce((a, l) => a + l.seconds, 0);
  lines.push(
    '',
    `Over all rows: ${[...new Set(r.latency.map((l) => l.concurrency))]
      .map(
        (c) =>
          `concurrency ${c}: gateway ${fmt(sum(c, 'gateway'), 0)} req/s vs raw ${fmt(sum(c, 'raw'), 0)} req/s (**${fmt(sum(c, 'gateway') / sum(c, 'raw'), 2)}×**)`,
      )
      .join('; ')}.`,
    '',
    '## Relevance on real text (Samsung e-manuals, local lexical embedder)',
    '',
    'One manual = one merchant, one section = one document, loaded with the folder loader; a question counts as found when a ' +
      'section whose title is the last element of its labelled path is among the first 5 distinct documents; MRR over the first 10.',
    '',
    '| manual | questions (labels without a matching title) | mode | recall@5 | MRR@10 |',
    '|---|---:|---|---:|---:|',
    ...r.relevance.map(
      (x) =>
        `| ${x.manual} | ${x.questions} (${x.unmatchedLabels}) | ${x.mode} | ${fmt(x.recallAt5, 3)} | ${fmt(x.mrrAt10, 3)} |`,
    ),
    '',
    '## Ingestion into the indexed table',
    '',
    '| path | chunks | seconds | chunks/s |',
    '|---|---:|---:|---:|',
    `| \`ingestDocument\` over GraphQL (20-section documents, one at a time, merchant ${r.ingestion.graphql.merchant}) | ${r.ingestion.graphql.chunks} | ${fmt(r.ingestion.graphql.chunks / r.ingestion.graphql.chunksPerSecond)} | ${fmt(r.ingestion.graphql.chunksPerSecond, 0)} |`,
    `| folder loader (\`npm run load\` code path), ${r.ingestion.folderLoader.manuals} manuals, ${r.ingestion.folderLoader.files} sections | ${r.ingestion.folderLoader.chunks} | ${fmt(r.ingestion.folderLoader.seconds)} | ${fmt(r.ingestion.folderLoader.chunksPerSecond, 0)} |`,
    `| benchmark bulk loader (multi-row INSERT, binary vectors), indexes in place | ${r.ingestion.bulkIntoIndexed.chunks} | ${fmt(r.ingestion.bulkIntoIndexed.seconds)} | ${fmt(r.ingestion.bulkIntoIndexed.chunksPerSecond, 0)} |`,
    '',
    `Re-ingesting a 20-section document with one changed paragraph: **${fmt(r.ingestion.graphql.oneParagraphChangedMsPerDocument)} ms** and ` +
      `${fmt(r.ingestion.graphql.chunksReEmbeddedPerDocument)} chunk(s) embedded per document, vs ${fmt(r.ingestion.graphql.firstIngestMsPerDocument)} ms for its first ingestion.`,
    '',
    '## Memory',
    '',
    `Gateway process RSS: ${fmt(r.memory.gatewayRssAtStartMiB, 0)} MiB after start, peak ${fmt(r.memory.gatewayPeakRssAfterQueriesMiB, 0)} MiB after the query runs ` +
      `(up to concurrency ${Math.max(...preset.concurrency)}), ${fmt(r.memory.gatewayPeakRssMiB, 0)} MiB after the GraphQL ingestion (VmHWM).`,
    '',
  );
  return lines.join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/** The same database, connected as the request role `srg_gateway` (BENCH_GATEWAY_DATABASE_URL overrides). */
function gatewayUrl(ownerUrl: string): string {
  const explicit = process.env.BENCH_GATEWAY_DATABASE_URL?.trim();
  if (explicit) return explicit;
  const u = new URL(ownerUrl);
  u.username = 'srg_gateway';
  u.password = process.env.SRG_GATEWAY_PASSWORD ?? '';
  return u.toString();
}
