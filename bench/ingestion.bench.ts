import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { allowRecreating, DATABASE_USAGE, log, machine, recreateDatabase, writeResults } from './bench-utils';
import {
  type BenchDocument,
  manualDocuments,
  syntheticDocuments,
  documentInput,
  ticketInput,
  writeFolder,
} from './ingestion-corpus';
import { type CpuSplit, cpuMeter, requestRoleUrl, runCommand } from './ingestion-processes';
import { buildIndex, dropIndex, indexRecall } from './ingestion-index';
import { toMarkdown } from './ingestion-report';
import { graphql as post } from './load-harness';
import { signToken } from '../src/auth/jwt';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { projectRoot } from '../src/common/project-root';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';

const USAGE = `Usage: npm run bench:ingestion -- [--docs 3000] [--manual-docs 1500] [--graphql-docs 1000] [--batch 50] [--tickets 1000]
         [--burst 8] [--ticket-batch 100] [--baseline DIR] [--memory-files 100000] [--recreate-database NAME]

Ingestion throughput on native PostgreSQL, as users run it (docs/INGESTION.md, "Where the time goes"):
  1. \`npm run load\` of a --docs folder into one merchant: wall time of the command, then a rerun (all unchanged);
     on synthetic articles and on real manual sections (/work/shared/datasets/samsung-emanuals, when present);
  2. \`ingestDocuments\` over GraphQL, --batch documents per request, into that merchant (10,000+ chunks) with its
     dedicated HNSW index (built, then the merchant calibrated with \`npm run calibrate\`; new rows land in the
     index's exact tail, not in the graph), one request in flight and then two, and with the index dropped first
     and rebuilt after (one in flight), with the recall@10
     of the rebuilt index against an exact scan. The gateway neither builds indexes nor calibrates in the background;
  3. \`ingestTicket\` bursts over GraphQL, --burst requests in flight; \`ingestTickets\` of --ticket-batch tickets per
     request, one request in flight and then two; the CPU per ticket of the gateway, of PostgreSQL (all server
     processes of a local server) and of the benchmark's own client, and \`{ __typename }\` in the same bursts: the
     floor of any request;
  4. re-ingesting an unchanged document and a 20-section one with one changed paragraph, over GraphQL.
--baseline DIR runs 1-4 with another built checkout too (e.g. \`git worktree add /tmp/base main && cd /tmp/base &&
npm ci && npm run build\`), side by side in the same run: ratios, not absolute numbers, are what a shared machine
can show. Each side writes into a database of its own (the baseline's: the benchmark database's name + "_base"),
migrated by its own code, so schema changes are compared too. --memory-files N: peak RSS of \`npm run load\` over N
one-line files (0 skips). Results:
docs/benchmarks/ingestion.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_ingestion)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    docs: { type: 'string' },
    'manual-docs': { type: 'string' },
    'graphql-docs': { type: 'string' },
    batch: { type: 'string' },
    tickets: { type: 'string' },
    burst: { type: 'string' },
    'ticket-batch': { type: 'string' },
    baseline: { type: 'string' },
    'memory-files': { type: 'string' },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const DOCS = integerOption(USAGE, 'docs', options.docs, 3000);
const MANUAL_DOCS = integerOption(USAGE, 'manual-docs', options['manual-docs'], 1500);
const GQL_DOCS = integerOption(USAGE, 'graphql-docs', options['graphql-docs'], 1000);
const BATCH = integerOption(USAGE, 'batch', options.batch, 50);
const TICKETS = integerOption(USAGE, 'tickets', options.tickets, 1000);
const BURST = integerOption(USAGE, 'burst', options.burst, 8);
const TICKET_BATCH = integerOption(USAGE, 'ticket-batch', options['ticket-batch'], 100);
const MEMORY_FILES = integerOption(USAGE, 'memory-files', options['memory-files'], 100_000, 0);
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_ingestion';
const ROOT = projectRoot(__dirname);
const SECRET = crypto.randomBytes(32).toString('hex');
// No statement timeout: the client-side query timeout derived from it cut index builds on the loaded machine.
const cliEnv = (url: string) => ({
  DATABASE_URL: url,
  NODE_ENV: 'production',
  AUTH_JWT_SECRET: SECRET,
  DB_STATEMENT_TIMEOUT_MS: '0',
});
const MANUALS = '/work/shared/datasets/samsung-emanuals/other_emanuals_corpus';

interface Side {
  name: string;
  root: string;
  /**
   * Each side has a database of its own, migrated by its own code: a schema change (an index dropped, a column
   * gone) is part of what is compared. The base's is the benchmark database's name with `_base`.
   */
  url: string;
}

function baseUrl(url: string): string {
  const u = new URL(url);
  u.pathname = `${u.pathname}_base`;
  return u.toString();
}

/** A port nobody listens on now: other sessions on the machine run gateways too (a fixed port met theirs). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const loadavg = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function startGateway(side: Side): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(side.root, 'dist/src/main.js')], {
    cwd: side.root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      // Production settings: requests as the request role, migrations as the owner (README, "Database roles").
      DATABASE_URL: requestRoleUrl(side.url),
      MIGRATION_DATABASE_URL: side.url,
      AUTH_JWT_SECRET: SECRET,
      LOG_LEVEL: 'warn',
      RETRIEVAL_INDEX_AUTOBUILD: 'false',
      RETRIEVAL_CALIBRATION_AUTO: 'false',
      DB_STATEMENT_TIMEOUT_MS: '0',
      RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
      RATE_LIMIT_CALLER_PER_MINUTE: '0',
      API_MAX_BODY_BYTES: String(64 * 1024 * 1024),
    },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (child.exitCode !== null) throw new Error(`the ${side.name} gateway exited with ${child.exitCode}`);
    if (ok) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`the ${side.name} gateway did not become ready`);
}

/**
 * One GraphQL request through node:http with a keep-alive agent (load-harness.ts). Not fetch: undici spent ~1.7 ms
 * of CPU per small request here (0.85 for an empty query), taken from the two cores the gateway and PostgreSQL
 * share; node:http ~0.4.
 */
const graphql = <T>(url: string, token: string, query: string, variables: unknown): Promise<T> =>
  post<T>(new URL(url), token, JSON.stringify({ query, variables }));

const INGEST_MANY = `mutation M($inputs: [IngestDocumentInput!]!) { ingestDocuments(inputs: $inputs) { results { chunkCount } } }`;
const INGEST_ONE = `mutation M($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount embeddedChunks unchanged } }`;
const INGEST_TICKET = `mutation T($input: IngestTicketInput!) { ingestTicket(input: $input) { chunkCount } }`;

const TYPENAME = `query Floor { __typename }`;

const INGEST_TICKETS = `mutation T($inputs: [IngestTicketInput!]!) { ingestTickets(inputs: $inputs) { results { chunkCount } } }`;

/**
 * Sends requests for items [0, total) in slices of `step`, `inFlight` at a time (each client sends its next slice
 * when its last one is answered); `send` returns the chunks a slice wrote. With one in flight the gateway's work
 * (chunking, embedding) and the database's (the transaction) take turns; with two, one request's database work
 * overlaps the next one's gateway work.
 */
async function inFlightSlices(
  total: number,
  step: number,
  inFlight: number,
  send: (from: number, to: number) => Promise<number>,
): Promise<{ chunks: number; s: number }> {
  const t0 = performance.now();
  let chunks = 0;
  let next = 0;
  const client = async (): Promise<void> => {
    for (let i = next; i < total; i = next) {
      next += step;
      const written = await send(i, Math.min(i + step, total));
      chunks += written; // after the await: `chunks += await …` would add to a stale total
    }
  };
  await Promise.all(Array.from({ length: inFlight }, client));
  return { chunks, s: (performance.now() - t0) / 1000 };
}

/** `ingestDocuments` of BATCH documents per request, `inFlight` requests at a time. */
const batches = (url: string, token: string, docs: BenchDocument[], inFlight = 1) =>
  inFlightSlices(docs.length, BATCH, inFlight, async (from, to) => {
    const r = await graphql<{ ingestDocuments: { results: { chunkCount: number }[] } }>(
      url,
      token,
      INGEST_MANY,
      { inputs: docs.slice(from, to).map(documentInput) },
    );
    return r.ingestDocuments.results.reduce((n, x) => n + x.chunkCount, 0);
  });

/** `ingestTickets` of TICKET_BATCH tickets per request, `inFlight` requests at a time. */
const ticketBatches = (url: string, token: string, tickets: BenchDocument[], inFlight: number) =>
  inFlightSlices(tickets.length, TICKET_BATCH, inFlight, async (from, to) => {
    const r = await graphql<{ ingestTickets: { results: { chunkCount: number }[] } }>(
      url,
      token,
      INGEST_TICKETS,
      { inputs: tickets.slice(from, to).map((t, j) => ticketInput(t, from + j)) },
    );
    return r.ingestTickets.results.reduce((n, x) => n + x.chunkCount, 0);
  });

async function measureSide(side: Side, folders: { name: string; dir: string; docs: number }[]) {
  const r: Record<string, unknown> = { side: side.name };
  log(`[${side.name}] npm run load (load average ${loadavg()})`);
  const loads = [];
  for (const f of folders) {
    const merchant = `${side.name}-${f.name}`;
    const first = await runCommand(
      side.root,
      'npm',
      ['run', '--silent', 'load', '--', '--merchant', merchant, f.dir],
      cliEnv(side.url),
    );
    const chunks = Number(/(\d+) chunks/.exec(first.output)?.[1] ?? NaN);
    // A load that builds the dedicated index at its end prints how long that took ("Index built in 1 min 5 s").
    const built = /Index built in (?:(\d+) min )?(\d+) s/.exec(first.output);
    const indexInLoad = built ? Number(built[1] ?? 0) * 60 + Number(built[2]) : 0;
    const again = await runCommand(
      side.root,
      'npm',
      ['run', '--silent', 'load', '--', '--merchant', merchant, f.dir],
      cliEnv(side.url),
    );
    loads.push({
      folder: f.name,
      documents: f.docs,
      chunks,
      seconds: first.seconds,
      chunksPerSecond: chunks / first.seconds,
      indexBuildInLoadSeconds: indexInLoad,
      chunksPerSecondWithoutIndexBuild: chunks / (first.seconds - indexInLoad),
      peakRssMiB: first.peakRssKiB / 1024,
      rerunUnchangedSeconds: again.seconds,
      loadAverage: loadavg(),
    });
    log(
      `  ${f.name}: ${chunks} chunks in ${first.seconds.toFixed(1)} s; rerun ${again.seconds.toFixed(1)} s`,
    );
  }
  r.load = loads;

  const merchant = `${side.name}-${folders[0].name}`;
  const token = signToken({ sub: 'bench-admin', merchantId: merchant, roles: ['admin'] }, SECRET, 3600);
  const npmRunSeconds = async (script: string): Promise<number> => {
    log(`[${side.name}] npm run ${script} -- --merchant ${merchant}`);
    const args = ['run', '--silent', script, '--', '--merchant', merchant];
    return (await runCommand(side.root, 'npm', args, cliEnv(side.url))).seconds;
  };
  // What a user runs after a load that left the merchant's first index to it (a no-op when the load built it).
  r.vectorIndexCommandSeconds = await npmRunSeconds('vector-index');
  log(`[${side.name}] building the dedicated index of ${merchant}`);
  const tIdx = performance.now();
  await buildIndex(side.url, merchant);
  r.indexBuildSeconds = (performance.now() - tIdx) / 1000;
  // The last step after a load (docs/INGESTION.md): measure the merchant's retrieval settings. Timed on its own;
  // the gateway below does not calibrate in the background, or the first phase would pay for it.
  r.calibrateCommandSeconds = await npmRunSeconds('calibrate');
  const gw = await startGateway(side);
  try {
    // A fresh process pays its warm-up (JIT, the tokenizer's rank tables, the first claim) in its first requests:
    // one small batch first, untimed, or the first phase (a few seconds) measures the start-up too.
    await batches(gw.url, token, syntheticDocuments(BATCH, 98, `${side.name}-warm`));
    log(`[${side.name}] ingestDocuments, index maintained (load average ${loadavg()})`);
    const docs = syntheticDocuments(GQL_DOCS * 3, 99, `${side.name}-gql`);
    const kept = await batches(gw.url, token, docs.slice(0, GQL_DOCS));
    r.graphqlIndexMaintained = { ...kept, chunksPerSecond: kept.chunks / kept.s, loadAverage: loadavg() };
    log(`[${side.name}] ingestDocuments, index maintained, 2 requests in flight`);
    const two = await batches(gw.url, token, docs.slice(GQL_DOCS, 2 * GQL_DOCS), 2);
    r.graphqlTwoInFlight = { ...two, chunksPerSecond: two.chunks / two.s, loadAverage: loadavg() };
    log(`[${side.name}] ingestDocuments, index deferred`);
    await dropIndex(side.url, merchant);
    const deferred = await batches(gw.url, token, docs.slice(2 * GQL_DOCS));
    const tRe = performance.now();
    await buildIndex(side.url, merchant);
    const rebuild = (performance.now() - tRe) / 1000;
    r.graphqlIndexDeferred = {
      ...deferred,
      chunksPerSecond: deferred.chunks / deferred.s,
      rebuildSeconds: rebuild,
      recallAt10AfterRebuild: await indexRecall(side.url, merchant, 100),
      loadAverage: loadavg(),
    };

    log(`[${side.name}] ingestTicket bursts of ${BURST}`);
    const tickets = syntheticDocuments(TICKETS, 5, `${side.name}-t`);
    let ticketChunks = 0;
    const burstMeter = cpuMeter(gw.child.pid!);
    const tT = performance.now();
    for (let i = 0; i < tickets.length; i += BURST) {
      const rs = await Promise.all(
        tickets.slice(i, i + BURST).map((t, j) =>
          graphql<{ ingestTicket: { chunkCount: number } }>(gw.url, token, INGEST_TICKET, {
            input: ticketInput(t, i + j),
          }),
        ),
      );
      ticketChunks += rs.reduce((n, x) => n + x.ingestTicket.chunkCount, 0);
    }
    const ts = (performance.now() - tT) / 1000;
    const burstCpu = burstMeter.stop(TICKETS);
    // The same kind of tickets in ingestTickets batches (one transaction per batch); a baseline without the
    // mutation reports none.
    const batched = syntheticDocuments(TICKETS, 7, `${side.name}-tb`);
    const batched2 = syntheticDocuments(TICKETS, 8, `${side.name}-tb2`);
    let oneInFlight: { chunks: number; s: number } | null = null;
    let twoInFlight: { chunks: number; s: number } | null = null;
    let batchCpu: CpuSplit | null = null;
    try {
      const batchMeter = cpuMeter(gw.child.pid!);
      oneInFlight = await ticketBatches(gw.url, token, batched, 1);
      batchCpu = batchMeter.stop(TICKETS);
      twoInFlight = await ticketBatches(gw.url, token, batched2, 2);
    } catch (err) {
      if (!/ingestTickets/.test(String(err))) throw err;
    }
    // One request at a time: what a single ticket costs end to end (HTTP, GraphQL, JWT, transactions).
    const single: number[] = [];
    for (const [i, t] of syntheticDocuments(50, 6, `${side.name}-t1`).entries()) {
      const t0 = performance.now();
      await graphql(gw.url, token, INGEST_TICKET, {
        input: {
          id: t.id,
          customerId: `c${i}`,
          subject: t.title,
          status: 'OPEN',
          acl: ['role:agent'],
          messages: [{ author: 'CUSTOMER', body: t.text.split('\n\n')[1] }],
        },
      });
      single.push(performance.now() - t0);
    }
    single.sort((a, b) => a - b);
    // The floor of any request: an empty query through the same HTTP, JWT and GraphQL layers, in bursts too.
    const floorMeter = cpuMeter(gw.child.pid!);
    const tF = performance.now();
    for (let i = 0; i < TICKETS; i += BURST)
      await Promise.all(
        Array.from({ length: Math.min(BURST, TICKETS - i) }, () => graphql(gw.url, token, TYPENAME, {})),
      );
    const emptyRequests = {
      perSecond: TICKETS / ((performance.now() - tF) / 1000),
      ...floorMeter.stop(TICKETS),
    };
    r.tickets = {
      tickets: TICKETS,
      chunks: ticketChunks,
      s: ts,
      chunksPerSecond: ticketChunks / ts,
      batchChunksPerSecond: oneInFlight && oneInFlight.chunks / oneInFlight.s,
      batchTwoInFlightChunksPerSecond: twoInFlight && twoInFlight.chunks / twoInFlight.s,
      singleRequestP50Ms: single[Math.floor(single.length / 2)],
      burstCpu,
      batchCpu,
      emptyRequests,
      cores: os.cpus().length,
      loadAverage: loadavg(),
    };

    log(`[${side.name}] re-ingesting`);
    const long = syntheticDocuments(40, 11, `${side.name}-long`).map((d, i) => ({
      ...d,
      text: Array.from({ length: 5 }, () => d.text).join('\n\n') + `\n\n## Tail ${i}\n\nEnd.`,
    }));
    for (const d of long) await graphql(gw.url, token, INGEST_ONE, { input: documentInput(d) });
    const time = async (f: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await f();
      return performance.now() - t0;
    };
    let unchangedMs = 0;
    let oneMs = 0;
    for (const d of long) {
      unchangedMs += await time(() => graphql(gw.url, token, INGEST_ONE, { input: documentInput(d) }));
      const changed = { ...d, text: d.text.replace('\n\n## ', ' A changed sentence.\n\n## ') };
      oneMs += await time(() => graphql(gw.url, token, INGEST_ONE, { input: documentInput(changed) }));
    }
    r.reingest = {
      unchangedMs: unchangedMs / long.length,
      oneParagraphMs: oneMs / long.length,
      loadAverage: loadavg(),
    };
  } finally {
    gw.child.kill('SIGTERM');
    await new Promise((res) => gw.child.once('exit', res));
  }
  return r;
}

async function main(): Promise<void> {
  const started = Date.now();
  await recreateDatabase(URL_);
  const db = await openDatabase(loadConfig({ NODE_ENV: 'test', DATABASE_URL: URL_ }), {
    migrate: true,
    poolSize: 1,
  });
  await db.close();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-bench-ingestion-'));
  try {
    const folders = [{ name: 'syn', dir: path.join(tmp, 'syn'), docs: DOCS }];
    writeFolder(folders[0].dir, syntheticDocuments(DOCS, 42));
    const manuals = manualDocuments(MANUALS, MANUAL_DOCS);
    if (manuals.length > 0) {
      folders.push({ name: 'manuals', dir: path.join(tmp, 'manuals'), docs: manuals.length });
      writeFolder(folders[1].dir, manuals);
    }
    const sides: Side[] = [{ name: 'new', root: ROOT, url: URL_ }];
    if (options.baseline) {
      const base: Side = { name: 'base', root: path.resolve(options.baseline), url: baseUrl(URL_) };
      await recreateDatabase(base.url);
      // Migrated by the base's own code (its gateway migrates at start), outside every timed command.
      const gw = await startGateway(base);
      gw.child.kill('SIGTERM');
      await new Promise((res) => gw.child.once('exit', res));
      sides.unshift(base);
    }
    const results = [];
    for (const side of sides) results.push(await measureSide(side, folders));

    let memory: Record<string, number> | undefined;
    if (MEMORY_FILES > 0) {
      log(`npm run load over ${MEMORY_FILES} one-line files`);
      const dir = path.join(tmp, 'many');
      for (let i = 0; i < MEMORY_FILES; i++) {
        const sub = path.join(dir, String(Math.floor(i / 1000)));
        if (i % 1000 === 0) fs.mkdirSync(sub, { recursive: true });
        fs.writeFileSync(
          path.join(sub, `m${i}.md`),
          `---\nacl: [role:agent]\n---\nNote ${i} about parcel ${i % 97}.\n`,
        );
      }
      const run = await runCommand(
        ROOT,
        'npm',
        ['run', '--silent', 'load', '--', '--merchant', 'many', dir],
        cliEnv(URL_),
      );
      memory = { files: MEMORY_FILES, seconds: run.seconds, peakRssMiB: run.peakRssKiB / 1024 };
    }
    const json = {
      date: new Date().toISOString(),
      machine: machine(),
      docs: DOCS,
      batch: BATCH,
      burst: BURST,
      results,
      memory,
    };
    writeResults('ingestion', json, toMarkdown(json));
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
