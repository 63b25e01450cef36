import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createServices } from '../src/services';
import { principalsFor } from '../src/auth/identity';
import { signToken } from '../src/auth/jwt';
import { progressPrinter } from '../src/cli/progress';
import { projectRoot } from '../src/common/project-root';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import {
  allowRecreating,
  commitStamp,
  DATABASE_USAGE,
  log,
  recreateDatabase,
  writeResults,
} from './bench-utils';
import { parseCommandLine, usageError } from '../src/cli/command-line';
import { bulkLoad, createIndexes, dropIndexes, secondaryIndexes, vectorToBinary } from './bulk-loader';
import {
  type CorpusParams,
  corpusVectors,
  type MerchantPlan,
  planMerchants,
  SIZE_CLASSES,
  type SizeClass,
} from './corpus-generator';
import { ClaimResigner, recordSql, startGatewayProcess } from './load-harness';
import { listManuals, readManual } from './samsung-relevance';
import { measureGraphqlIngestion, measureLatency, type LatencyRow } from './run/gateway.phases';
import { buildSharedTable } from './run/alternatives.phase';
import { loadManuals, measureRelevance } from './run/manuals.phase';
import { measureRecall, type RecallRow } from './run/recall.phase';
import { markdown, summary, updateSummary } from './run/report';
import {
  type BenchQuery,
  gatewayUrl,
  K,
  PRESETS,
  RETRIEVE,
  type Role,
  ROLES,
  runIndexMaintenance,
} from './run/setup';

/**
 * The rerunnable benchmark (issue 6): one command builds a multi-tenant corpus in an empty database and measures,
 * in the same run, retrieveChunks over real HTTP against the same SQL replayed through `pg`, recall@10 against
 * exact answers for our retrieval, the tutorial's query and LangChain.js PGVectorStore, relevance on real manuals,
 * ingestion throughput and the gateway's memory. See docs/BENCHMARKS.md.
 *
 * The phases live in bench/run/ (setup, manuals, recall, gateway load, report); this file runs them in order.
 *
 * Usage: npm run bench -- --preset small|large [--url postgres://postgres@127.0.0.1:5432/srg_bench] [--seed 42]
 */

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
  const commit = commitStamp(root);
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
  const sharedBuild = phase('LangChain PGVectorStore table + shared HNSW (tutorial), in the background', () =>
    buildSharedTable(lcPool, background, productIndexesDone),
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
  const loader = await phase(`folder loader: ${manuals.length} manuals`, () =>
    loadManuals(services, manuals, manualDir),
  );
  fs.rmSync(manualDir, { recursive: true, force: true });

  // ---------------------------------------------------------------- relevance on the labelled manuals
  const relevance = await phase('relevance (VECTOR / KEYWORD / HYBRID)', () =>
    measureRelevance(services, manuals),
  );

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
            variables: {
              input: {
                query: '',
                k: K,
                mode: 'VECTOR',
                embeddingBase64: Buffer.from(new Float32Array(embedding).buffer).toString('base64'),
              },
            },
          }),
          gatewayListBody: JSON.stringify({
            query: RETRIEVE,
            variables: { input: { query: '', k: K, mode: 'VECTOR', embedding } },
          }),
          statements: [],
          rows: 0,
        });
      }
    }
  }

  // The SQL the product sends for each query, recorded from the same service code the gateway runs (only the
  // statements of the services' own connections: the alternatives' table is being built meanwhile).
  await phase('record the product SQL per query', async () => {
    for (const q of queries) {
      const ask = () =>
        services.retrieval.retrieve(
          services.sessions.open({
            merchantId: q.merchantId,
            userId: 'bench',
            roles: [],
            principals: [...q.principals],
          }),
          { query: '', k: K, mode: 'vector', embedding: q.embedding },
        );
      // Recorded warm, as the gateway runs after its warm-up: a process that has served the merchant sends the
      // three statements in one round trip (TenantSession.readAhead), and the replay sends them the same way.
      await ask();
      const { result, statements } = await recordSql(ask, (client) => !notProduct.has(client));
      q.statements = statements;
      q.rows = result.chunks.length;
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
  const recall: RecallRow[] = await phase('recall@10: ours, tutorial, LangChain', () =>
    measureRecall({ cells, byCell, gateway, rawPool, store: shared.store }),
  );

  // ---------------------------------------------------------------- latency and throughput: gateway vs raw SQL

  const latency: LatencyRow[] = await phase('latency: gateway over HTTP vs the same SQL through pg', () =>
    measureLatency({ cells, byCell, preset, gateway, rawPool, claims: new ClaimResigner(rawPool) }),
  );
  const peakRssAfterQueries = gateway.peakRssMiB();

  // ---------------------------------------------------------------- ingestion through GraphQL into the indexed table
  const ingest = await phase('ingestDocument over GraphQL + re-ingest one paragraph', () =>
    measureGraphqlIngestion({
      merchant: xl,
      adminToken: token(xl.id, ['admin'], 'bench-admin'),
      gateway,
      preset,
    }),
  );

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
    await admin.query<{ v: string; pgv: string; chunks: string; sb: string; rel: string; hnsw: string }>(
      `SELECT version() AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv,
              (SELECT count(*) FROM document_chunks)::text AS chunks, current_setting('shared_buffers') AS sb,
              pg_size_pretty(pg_table_size('document_chunks')) AS rel,
              pg_size_pretty((SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)
                                FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am a ON a.oid = x.relam
                               WHERE i.indrelid = 'document_chunks'::regclass AND a.amname = 'hnsw')) AS hnsw`,
    )
  ).rows[0];
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
      // What the searches read against what the server keeps in memory (the rest comes from the OS page cache).
      sharedBuffers: versions.sb,
      chunkTableSize: versions.rel,
      hnswIndexSize: versions.hnsw,
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

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
