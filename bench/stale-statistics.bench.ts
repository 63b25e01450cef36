import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { principalsFor } from '../src/auth/identity';
import { createServices } from '../src/services';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { analyzeChunks } from '../src/db/statistics';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import {
  allowRecreating,
  DATABASE_USAGE,
  log,
  machine,
  percentile,
  recreateDatabase,
  writeResults,
} from './bench-utils';
import { type BenchDocument, manualDocuments, syntheticDocuments } from './ingestion-corpus';
import { requestRoleUrl } from './ingestion-processes';

const MANUALS = '/work/shared/datasets/samsung-emanuals/other_emanuals_corpus';
const USAGE = `Usage: npm run bench:stale-statistics -- [--docs 1250] [--queries 12] [--recreate-database NAME]

Retrieval in a merchant the planner statistics predate (onboarded after the last ANALYZE: the embedded database
never analyzes on its own; a native autovacuum waits for 10% of the whole table to change), against a merchant of
the same size they know, then both again after ANALYZE. Per corpus (--docs synthetic articles of ~4 chunks, and
as many real manual sections from ${MANUALS} when present), two merchants are written, the first analyzed before
the second. Each cell: p50/max of --queries retrievals (k 10, in process, through the gateway role) by a reader of
everything and by a contractor who reads 10% of the documents, HYBRID and VECTOR. Autovacuum is off on this
benchmark's own database while it runs. To see a previous build, run this file from a checkout of that build.
Results: docs/benchmarks/stale-statistics.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_stale)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    docs: { type: 'string' },
    queries: { type: 'string' },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const DOCS = integerOption(USAGE, 'docs', options.docs, 1250);
const QUERIES = integerOption(USAGE, 'queries', options.queries, 12);
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_stale';

interface Cell {
  corpus: string;
  statistics: 'predate the merchant' | 'after ANALYZE';
  merchant: 'analyzed before' | 'onboarded after';
  chunks: number;
  reader: 'agent' | 'contractor';
  mode: 'hybrid' | 'vector';
  strategy: string;
  p50Ms: number;
  maxMs: number;
}

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
  const ds = db.dataSource;
  const cells: Cell[] = [];
  await ds.query(`ALTER TABLE document_chunks SET (autovacuum_enabled = false)`);
  try {
    const corpora: [string, BenchDocument[]][] = [
      ['synthetic', syntheticDocuments(2 * DOCS, 11, 'st')],
      ['manuals', manualDocuments(MANUALS, 2 * DOCS)],
    ];
    for (const [corpus, docs] of corpora) {
      if (docs.length < 2 * DOCS) {
        log(`${corpus}: ${docs.length} documents, fewer than ${2 * DOCS}: skipped`);
        continue;
      }
      const merchants = [`${corpus}-old`, `${corpus}-new`] as const;
      const sizes = new Map<string, number>();
      for (const [i, merchant] of merchants.entries()) {
        await services.merchants.provision({ id: merchant, name: merchant });
        const own = docs.slice(i * DOCS, (i + 1) * DOCS);
        for (let at = 0; at < own.length; at += 50) {
          await services.ingestion.writeDocuments(
            merchant,
            own.slice(at, at + 50).map((d, j) => ({
              id: d.id,
              title: d.title,
              text: d.text,
              acl: (at + j) % 10 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'],
            })),
          );
        }
        const [n] = await ds.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1`,
          [merchant],
        );
        sizes.set(merchant, Number(n.n));
        // The statistics know the first merchant, not the second.
        if (i === 0) log(`${corpus}: ANALYZE ${await analyzeChunks(ds)} ms`);
      }
      // Queries: titles of documents of the second half (words both merchants' corpora share).
      const queries = docs.slice(DOCS, DOCS + QUERIES).map((d) => d.title);
      for (const statistics of ['predate the merchant', 'after ANALYZE'] as const) {
        if (statistics === 'after ANALYZE') log(`${corpus}: ANALYZE ${await analyzeChunks(ds)} ms`);
        for (const [i, merchantId] of merchants.entries()) {
          for (const reader of ['agent', 'contractor'] as const) {
            for (const mode of ['hybrid', 'vector'] as const) {
              const identity = {
                merchantId,
                userId: reader,
                roles: [reader],
                principals: principalsFor(reader, [reader]),
              };
              const times: number[] = [];
              let strategy = '';
              for (const query of queries) {
                const t0 = performance.now();
                const r = await services.retrieval.retrieve(services.sessions.open(identity), {
                  query,
                  k: 10,
                  mode,
                });
                times.push(performance.now() - t0);
                strategy = r.strategy;
              }
              const cell: Cell = {
                corpus,
                statistics,
                merchant: i === 0 ? 'analyzed before' : 'onboarded after',
                chunks: sizes.get(merchantId)!,
                reader,
                mode,
                strategy,
                p50Ms: percentile(times, 0.5),
                maxMs: Math.max(...times),
              };
              log(JSON.stringify(cell));
              cells.push(cell);
            }
          }
        }
      }
    }
  } finally {
    await ds.query(`ALTER TABLE document_chunks RESET (autovacuum_enabled)`).catch(() => undefined);
    await services.indexes.close();
    await db.close();
  }
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const json = { date: new Date().toISOString(), machine: machine(), docs: DOCS, queries: QUERIES, cells };
  const md = [
    `# Retrieval in a merchant the planner statistics predate (\`npm run bench:stale-statistics -- --docs ${DOCS}\`)`,
    '',
    `${json.date}, ${json.machine}, load average at the end ${load}. ${QUERIES} retrievals per cell, k 10.`,
    '',
    '| corpus | statistics | merchant | chunks | reader | mode | strategy | p50 ms | max ms |',
    '|---|---|---|---|---|---|---|---|---|',
    ...cells.map(
      (c) =>
        `| ${c.corpus} | ${c.statistics} | ${c.merchant} | ${c.chunks} | ${c.reader} | ${c.mode} | ${c.strategy} | ${c.p50Ms.toFixed(1)} | ${c.maxMs.toFixed(1)} |`,
    ),
    '',
  ].join('\n');
  writeResults('stale-statistics', json, md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
