import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fromSql } from 'pgvector';
import { principalsFor, scopeOf } from '../src/auth/identity';
import { createServices } from '../src/services';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { SearchRepository } from '../src/retrieval/search.repository';
import { VectorIndexRepository, tailLimit } from '../src/vector-index/vector-index.repository';
import {
  allowRecreating,
  DATABASE_USAGE,
  log,
  machine,
  percentile,
  recreateDatabase,
  writeResults,
} from './bench-utils';
import { syntheticDocuments } from './ingestion-corpus';
import { requestRoleUrl } from './ingestion-processes';

const USAGE = `Usage: npm run bench:vector-index-tail -- [--docs 3000] [--queries 100] [--recreate-database NAME]

Retrieval of a merchant with a dedicated HNSW index (a frozen graph + an exact tail, docs/RETRIEVAL.md) as its
tail grows: --docs synthetic documents (~4 chunks each) loaded, the index built (tail 0), then ~1,000 chunks
written after it, then up to the tail's bound (max(RETRIEVAL_DEDICATED_INDEX_TAIL_MIN_ROWS, ..._PERCENT% of
the covered chunks)), then the graph rebuilt. At each step: p50/p95 of retrieve() (VECTOR, k 10, a reader of
everything, in process, through the gateway role), recall@10 against the exact scan, the strategy, the write rate
into the indexed merchant. Results: docs/benchmarks/vector-index-tail.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_tail)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    docs: { type: 'string' },
    queries: { type: 'string' },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const DOCS = integerOption(USAGE, 'docs', options.docs, 3000);
const QUERIES = integerOption(USAGE, 'queries', options.queries, 100);
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_tail';
const MERCHANT = 'tail-bench';
const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  await recreateDatabase(URL_);
  const config = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: requestRoleUrl(URL_),
    MIGRATION_DATABASE_URL: URL_,
    AUTH_JWT_SECRET: 'x'.repeat(64),
    LOG_LEVEL: 'silent',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
    RETRIEVAL_CALIBRATION_AUTO: 'false',
    DB_STATEMENT_TIMEOUT_MS: '0',
  });
  const db = await openDatabase(config, { migrate: true, poolSize: 4 });
  const services = createServices(config, db, createEmbedder(config));
  const repo = new VectorIndexRepository();
  const search = new SearchRepository();
  const identity = {
    merchantId: MERCHANT,
    userId: 'agent',
    roles: ['agent'],
    principals: principalsFor('agent', ['agent']),
  };
  const docs = syntheticDocuments(DOCS + 2000, 7, 'tb');
  let next = 0;
  const write = async (chunks: number): Promise<{ chunks: number; s: number }> => {
    const t0 = performance.now();
    let written = 0;
    while (written < chunks && next < docs.length) {
      const batch = docs.slice(next, next + 25);
      next += batch.length;
      const out = await services.ingestion.writeDocuments(
        MERCHANT,
        batch.map((d) => ({ id: d.id, title: d.title, text: d.text, acl: ['role:agent'] })),
      );
      written += out.reduce((n, o) => n + o.chunkCount, 0);
    }
    return { chunks: written, s: (performance.now() - t0) / 1000 };
  };
  const count = async (): Promise<number> =>
    Number(
      (
        await db.dataSource.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1`,
          [MERCHANT],
        )
      )[0].n,
    );

  try {
    await services.merchants.provision({ id: MERCHANT, name: 'Tail benchmark' });
    log(`loading ${DOCS} documents (load average ${loadavg()})`);
    while (next < DOCS) await write(1);
    const queryRows = await db.dataSource.query<{ e: string }[]>(
      `SELECT embedding::text AS e FROM document_chunks WHERE merchant_id = $1 ORDER BY id LIMIT $2`,
      [MERCHANT, QUERIES],
    );
    const queries = queryRows.map((r) => fromSql(r.e) as number[]);
    const t0 = performance.now();
    await services.indexes.maintain({ merchantId: MERCHANT });
    const buildSeconds = (performance.now() - t0) / 1000;
    const reg = () => repo.registered(db.dataSource.manager, MERCHANT, 1536);
    const bound = tailLimit(services.indexes.tailPolicy(), (await reg())!.coveredRows);

    const steps: Record<string, unknown>[] = [];
    const measure = async (label: string, wrote?: { chunks: number; s: number }) => {
      const tail = await repo.tailRows(db.dataSource.manager, MERCHANT, 1536, 1_000_000);
      const times: number[] = [];
      const strategies = new Set<string>();
      let found = 0;
      let expected = 0;
      for (const [i, q] of queries.entries()) {
        const t = performance.now();
        const r = await services.retrieval.retrieve(services.sessions.open(identity), {
          query: '',
          embedding: q,
          k: 10,
          mode: 'vector',
        });
        // The first few warm the caches.
        if (i >= 5) times.push(performance.now() - t);
        strategies.add(r.strategy);
        const exact = await db.dataSource.transaction((m) =>
          search.searchExact(m, scopeOf(identity), {
            embedding: q,
            corpus: { version: 1, dimensions: 1536 },
            k: 10,
            filter: {},
          }),
        );
        const got = new Set(r.chunks.map((c) => c.id));
        found += exact.filter((h) => got.has(h.id)).length;
        expected += exact.length;
      }
      const step = {
        label,
        chunks: await count(),
        tailRows: tail,
        p50Ms: percentile(times, 0.5),
        p95Ms: percentile(times, 0.95),
        recallAt10: found / expected,
        strategies: [...strategies].join(','),
        writeChunksPerSecond: wrote ? wrote.chunks / wrote.s : null,
        loadAverage: loadavg(),
      };
      log(JSON.stringify(step));
      steps.push(step);
    };
    await measure('tail 0 (index just built)');
    await measure('tail ~1,000', await write(1000));
    await measure(`tail at its bound (${bound})`, await write(bound - 1000 - 20));
    const t1 = performance.now();
    const rebuilt = await services.indexes.maintain({ merchantId: MERCHANT });
    const rebuildSeconds = (performance.now() - t1) / 1000;
    log(`maintenance after the tail outgrew it: ${rebuilt.map((r) => r.outcome).join(',') || 'nothing'}`);
    await measure('after the rebuild (tail 0)');
    const json = {
      date: new Date().toISOString(),
      machine: machine(),
      docs: DOCS,
      buildSeconds,
      rebuildSeconds,
      steps,
    };
    const md = [
      `# Dedicated index: frozen graph + exact tail (\`npm run bench:vector-index-tail -- --docs ${DOCS}\`)`,
      '',
      `${json.date}, ${json.machine}. Index build ${buildSeconds.toFixed(1)} s, rebuild ${rebuildSeconds.toFixed(1)} s.`,
      '',
      '| step | chunks | tail rows | p50 ms | p95 ms | recall@10 | strategy | writes, chunks/s | load average |',
      '|---|---|---|---|---|---|---|---|---|',
      ...steps.map(
        (s) =>
          `| ${String(s.label)} | ${String(s.chunks)} | ${String(s.tailRows)} | ${(s.p50Ms as number).toFixed(1)} | ${(s.p95Ms as number).toFixed(1)} | ${(s.recallAt10 as number).toFixed(3)} | ${String(s.strategies)} | ${s.writeChunksPerSecond === null ? '' : (s.writeChunksPerSecond as number).toFixed(0)} | ${String(s.loadAverage)} |`,
      ),
      '',
    ].join('\n');
    writeResults('vector-index-tail', json, md);
  } finally {
    await services.indexes.close();
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
