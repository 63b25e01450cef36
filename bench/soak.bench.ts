import 'reflect-metadata';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { log, machine, percentile, rng, writeResults } from './bench-utils';
import { createGateway } from '../src/app';
import { principalsFor } from '../src/auth/identity';
import { signToken } from '../src/auth/jwt';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { isDatabaseEmpty, seedDemoData } from '../src/seed/seed.service';

/**
 * Soak test: mixed retrieval and ingestion at a steady rate for a long time against a real gateway over HTTP,
 * reporting errors (the target is zero), latency percentiles per time window and memory growth. Not part of
 * `npm test`. The gateway runs in this process (so its heap can be measured after a forced GC) on the embedded
 * database in a fresh temp directory, or on DATABASE_URL (seeded with the demo data when empty); the load is
 * open-loop (requests are sent on schedule whether or not earlier ones finished), as real traffic is.
 *
 * Usage: npm run soak -- [--minutes 5] [--rate 20] [--ingest-share 0.1] [--window 30] [--no-write]
 *                        [--max-heap-growth 2] [--max-rss 1024]
 *        Results: docs/benchmarks/soak.{json,md} (unless --no-write). Exits 1 when a check fails (below).
 */
const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`Usage: npm run soak -- [--minutes 5] [--rate 20] [--ingest-share 0.1] [--window 30] [--no-write]
                       [--max-heap-growth 2] [--max-rss 1024]

Starts a gateway (embedded PGlite in a temp directory, or DATABASE_URL) and sends --rate requests per second
for --minutes: retrieval as the demo agents (vector, keyword and hybrid) and, for --ingest-share of them,
re-ingestion of a rotating set of documents. Prints and writes docs/benchmarks/soak.{json,md}: errors, latency
percentiles per --window seconds, and RSS / heap growth.

Exits 1 (after writing the results) when any check fails: an error or a request skipped for overload; a
retrieval whose chunks are not the caller's to read (checked against the database as the owner) or a vector
retrieval that came back empty; an ingestion reporting no chunks; heap growth after the first window above
--max-heap-growth MB/min (after a forced GC; needs node --expose-gc, which npm run soak passes); RSS above
--max-rss MB at any window.`);
  process.exit(0);
}
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(args[i + 1]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number`);
  return n;
};
const MINUTES = arg('minutes', 5);
const RATE = arg('rate', 20);
const INGEST_SHARE = Math.min(1, arg('ingest-share', 0.1));
const WINDOW_S = arg('window', 30);
const WRITE = !args.includes('--no-write');
const MAX_HEAP_GROWTH_MB_PER_MIN = arg('max-heap-growth', 2);
const MAX_RSS_MB = arg('max-rss', 1024);
/** More than this many requests in flight means the gateway cannot keep up; those are counted, not sent. */
const MAX_IN_FLIGHT = 500;
const REQUEST_TIMEOUT_MS = 60_000;
const SECRET = 'soak-test-secret-that-is-long-enough-for-hs256-0123';

const RETRIEVE = `query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { id score } } }`;
type Data = {
  retrieveChunks?: { chunks: { id: string; score: number }[] };
  ingestDocument?: { chunkCount: number; embeddedChunks: number };
};
const INGEST = `mutation($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount embeddedChunks } }`;
const READERS = [
  { sub: 'u1', merchantId: 'm01', roles: ['agent'] },
  { sub: 'u3', merchantId: 'm01', roles: ['contractor'] },
  { sub: 'u9', merchantId: 'm02', roles: ['agent'] },
];
const WRITER = { sub: 'u0', merchantId: 'm01', roles: ['admin', 'agent'] };
const QUERIES = [
  'how do I get a refund for a damaged parcel',
  'reset my password',
  'international shipping customs fees',
  'cancel my subscription renewal',
  'store credit instead of refund',
  'warranty repair for a broken item',
  'where is my order tracking number',
  'change the delivery address',
];
const MODES = ['VECTOR', 'KEYWORD', 'HYBRID'];
/** Ingestion rotates over this many document ids, so the corpus stays the same size however long the run. */
const SOAK_DOCUMENTS = 25;

interface Sample {
  at: number;
  kind: 'retrieve' | 'ingest';
  ms: number;
  error?: string;
}

function soakDocument(
  n: number,
  revision: number,
): { id: string; title: string; text: string; acl: string[] } {
  const sections = Array.from(
    { length: 6 },
    (_, s) =>
      `## Step ${s + 1}\n\nFor soak case ${n}, step ${s + 1}: ${QUERIES[(n + s) % QUERIES.length]}. ` +
      // One section changes per revision, so re-ingestion exercises the incremental path (most vectors reused).
      (s === revision % 6 ? `Revision ${revision} of this step. ` : 'Unchanged guidance. ') +
      'Agents confirm the order number and the customer e-mail before acting.',
  );
  return {
    id: `soak-${n}`,
    title: `Soak case ${n}`,
    text: sections.join('\n\n'),
    acl: ['role:agent', 'role:admin'],
  };
}

function memory(): { rssMb: number; heapUsedMb: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssMb: m.rss / 2 ** 20, heapUsedMb: m.heapUsed / 2 ** 20 };
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  let dataDir: string | undefined;
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: SECRET,
  };
  if (!process.env.DATABASE_URL) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-soak-'));
    env.PGLITE_DATA_DIR = dataDir;
  }
  const config = loadConfig(env);
  const db = await openDatabase(config, { migrate: true });
  const embedder = createEmbedder(config);
  const gateway = await createGateway({ config, db, embedder, jwtSecret: SECRET });
  if (await isDatabaseEmpty(db.dataSource)) await seedDemoData(gateway.services);
  const url = await gateway.listen(0, '127.0.0.1');
  log(`soak: ${db.description}, ${RATE} req/s for ${MINUTES} min, ${INGEST_SHARE * 100}% ingestion → ${url}`);

  const tokens = READERS.map((r) =>
    signToken({ sub: r.sub, merchantId: r.merchantId, roles: r.roles }, SECRET),
  );
  const writerToken = signToken(WRITER, SECRET);
  /** The error code, or the check a successful answer failed (`check` returns a reason or undefined). */
  const post = async (
    token: string,
    query: string,
    variables: unknown,
    check: (data: Data) => string | undefined,
  ): Promise<string | undefined> => {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await res.json()) as { data?: Data; errors?: { extensions?: { code?: string } }[] };
      if (body.errors?.length) return body.errors[0].extensions?.code ?? 'NO_CODE';
      if (!res.ok) return `HTTP_${res.status}`;
      return check(body.data ?? {});
    } catch (err) {
      return `CLIENT_${(err as Error).name}`;
    }
  };
  /** Every chunk id a reader was given, checked against the database after the run. */
  const returned = READERS.map(() => new Set<string>());

  const rand = rng(42);
  const revisions = new Array<number>(SOAK_DOCUMENTS).fill(0);
  const samples: Sample[] = [];
  const memoryByWindow: { rssMb: number; heapUsedMb: number }[] = [];
  let inFlight = 0;
  let skipped = 0;
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  const durationMs = MINUTES * 60_000;
  const windowMs = WINDOW_S * 1000;
  memoryByWindow.push(memory());

  const fire = (): void => {
    if (inFlight >= MAX_IN_FLIGHT) {
      skipped++;
      return;
    }
    const ingest = rand() < INGEST_SHARE;
    const at = performance.now() - t0;
    let send: Promise<string | undefined>;
    if (ingest) {
      const n = Math.floor(rand() * SOAK_DOCUMENTS);
      send = post(writerToken, INGEST, { input: soakDocument(n, ++revisions[n]) }, (d) => {
        const r = d.ingestDocument;
        return r && r.chunkCount >= 1 && r.embeddedChunks >= 0 && r.embeddedChunks <= r.chunkCount
          ? undefined
          : 'CHECK_INGEST_RESULT';
      });
    } else {
      const reader = Math.floor(rand() * READERS.length);
      const mode = MODES[Math.floor(rand() * MODES.length)];
      send = post(
        tokens[reader],
        RETRIEVE,
        { input: { query: QUERIES[Math.floor(rand() * QUERIES.length)], k: 5, mode } },
        (d) => {
          const chunks = d.retrieveChunks?.chunks;
          if (!chunks || chunks.length > 5) return 'CHECK_RETRIEVE_SHAPE';
          // Every reader can read some chunks, so a vector search always finds k or all of them.
          if (mode === 'VECTOR' && chunks.length === 0) return 'CHECK_RETRIEVE_EMPTY';
          for (const c of chunks) returned[reader].add(c.id);
          return undefined;
        },
      );
    }
    inFlight++;
    const p = send.then((error) => {
      inFlight--;
      samples.push({ at, kind: ingest ? 'ingest' : 'retrieve', ms: performance.now() - t0 - at, error });
      pending.delete(p);
    });
    pending.add(p);
  };

  // Open loop on a fixed schedule: request i goes out at i / RATE seconds, catching up after a timer runs late.
  let sent = 0;
  let nextWindow = windowMs;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now() - t0;
      const due = Math.min(Math.floor((now / 1000) * RATE), Math.floor((durationMs / 1000) * RATE));
      while (sent < due) {
        fire();
        sent++;
      }
      if (now >= nextWindow) {
        memoryByWindow.push(memory());
        const w = memoryByWindow.length - 1;
        const inWindow = samples.filter((s) => s.at >= (w - 1) * windowMs && s.at < w * windowMs);
        const errors = inWindow.filter((s) => s.error).length;
        const lat = inWindow.filter((s) => s.kind === 'retrieve').map((s) => s.ms);
        log(
          `window ${w}: ${inWindow.length} done, ${errors} errors, retrieve p50 ${round(percentile(lat, 0.5) ?? 0)} ms ` +
            `p99 ${round(percentile(lat, 0.99) ?? 0)} ms, in flight ${inFlight}, ` +
            `rss ${round(memoryByWindow[w].rssMb)} MB heap ${round(memoryByWindow[w].heapUsedMb)} MB`,
        );
        nextWindow += windowMs;
      }
      if (now >= durationMs) resolve();
      else setTimeout(tick, Math.max(1, Math.min(50, 1000 / RATE / 2)));
    };
    tick();
  });
  await Promise.all(pending);
  const end = memory();
  // Every chunk a reader was given was its merchant's and readable by its principals (ground truth as the owner).
  // Chunks re-ingested since are gone from the table; only ids still present can be judged.
  let foreignChunks = 0;
  for (const [i, r] of READERS.entries()) {
    const ids = [...returned[i]];
    if (ids.length === 0) continue;
    const rows = await db.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM document_chunks
        WHERE id::text = ANY($1) AND NOT (merchant_id = $2 AND acl && $3::text[])`,
      [ids, r.merchantId, principalsFor(r.sub, r.roles)],
    );
    foreignChunks += rows[0].n;
  }
  await gateway.stop();
  await db.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });

  // Per-window statistics (samples by the time they were sent).
  const windows: Record<string, unknown>[] = [];
  for (let w = 0; w * windowMs < durationMs; w++) {
    const inWindow = samples.filter((s) => s.at >= w * windowMs && s.at < (w + 1) * windowMs);
    const r = inWindow.filter((s) => s.kind === 'retrieve' && !s.error).map((s) => s.ms);
    const i = inWindow.filter((s) => s.kind === 'ingest' && !s.error).map((s) => s.ms);
    const mem = memoryByWindow[Math.min(w + 1, memoryByWindow.length - 1)];
    windows.push({
      fromS: w * WINDOW_S,
      requests: inWindow.length,
      errors: inWindow.filter((s) => s.error).length,
      retrieveP50Ms: round(percentile(r, 0.5) ?? NaN),
      retrieveP95Ms: round(percentile(r, 0.95) ?? NaN),
      retrieveP99Ms: round(percentile(r, 0.99) ?? NaN),
      ingestP50Ms: round(percentile(i, 0.5) ?? NaN),
      ingestP95Ms: round(percentile(i, 0.95) ?? NaN),
      rssMb: round(mem.rssMb),
      heapUsedMb: round(mem.heapUsedMb),
    });
  }
  const errorCodes: Record<string, number> = {};
  for (const s of samples) if (s.error) errorCodes[s.error] = (errorCodes[s.error] ?? 0) + 1;
  // Growth from the end of the first window (warmed up: caches, JIT, pools) to the end of the run.
  const warm = memoryByWindow[Math.min(1, memoryByWindow.length - 1)];
  const minutesAfterWarm = Math.max((durationMs - windowMs) / 60_000, 1e-9);
  const result = {
    machine: machine(),
    database: db.description,
    minutes: MINUTES,
    targetRate: RATE,
    ingestShare: INGEST_SHARE,
    windowSeconds: WINDOW_S,
    requests: samples.length,
    achievedRate: round(samples.length / (durationMs / 1000)),
    retrievals: samples.filter((s) => s.kind === 'retrieve').length,
    ingestions: samples.filter((s) => s.kind === 'ingest').length,
    errors: samples.filter((s) => s.error).length,
    errorCodes,
    skippedOverloaded: skipped,
    retrieveMs: summary(samples.filter((s) => s.kind === 'retrieve' && !s.error).map((s) => s.ms)),
    ingestMs: summary(samples.filter((s) => s.kind === 'ingest' && !s.error).map((s) => s.ms)),
    memory: {
      start: roundMem(memoryByWindow[0]),
      afterFirstWindow: roundMem(warm),
      end: roundMem(end),
      heapGrowthMbPerMinAfterWarmup: round((end.heapUsedMb - warm.heapUsedMb) / minutesAfterWarm, 2),
      rssGrowthMbPerMinAfterWarmup: round((end.rssMb - warm.rssMb) / minutesAfterWarm, 2),
      gcForced: typeof (globalThis as { gc?: unknown }).gc === 'function',
    },
    windows,
  };
  const peakRss = Math.max(...memoryByWindow.map((m) => m.rssMb), end.rssMb);
  const failures = [
    result.errors > 0 && `${result.errors} errors ${JSON.stringify(errorCodes)}`,
    skipped > 0 && `${skipped} requests skipped (more than ${MAX_IN_FLIGHT} in flight)`,
    foreignChunks > 0 && `${foreignChunks} returned chunks were not the caller's to read`,
    !result.memory.gcForced && 'no forced GC (run with node --expose-gc): heap growth cannot be judged',
    result.memory.heapGrowthMbPerMinAfterWarmup > MAX_HEAP_GROWTH_MB_PER_MIN &&
      `heap grew ${result.memory.heapGrowthMbPerMinAfterWarmup} MB/min after the first window (bound ${MAX_HEAP_GROWTH_MB_PER_MIN})`,
    peakRss > MAX_RSS_MB && `RSS reached ${round(peakRss)} MB (bound ${MAX_RSS_MB})`,
  ].filter((f): f is string => typeof f === 'string');
  const checks = {
    foreignChunks,
    peakRssMb: round(peakRss),
    bounds: { maxHeapGrowthMbPerMin: MAX_HEAP_GROWTH_MB_PER_MIN, maxRssMb: MAX_RSS_MB },
    failures,
  };
  const md =
    toMarkdown(result) +
    `\nChecks: every returned chunk the caller's to read (${foreignChunks} not), vector retrievals non-empty, ingestions ` +
    `report chunks; heap growth after the first window <= ${MAX_HEAP_GROWTH_MB_PER_MIN} MB/min, RSS <= ${MAX_RSS_MB} MB ` +
    `(peak ${round(peakRss)} MB). **${failures.length === 0 ? 'All passed' : `FAILED: ${failures.join('; ')}`}**.\n`;
  if (WRITE) writeResults('soak', { ...result, checks }, md);
  else console.log(md);
  if (failures.length > 0) {
    console.error(`soak FAILED: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

function summary(ms: number[]): Record<string, number> {
  return {
    p50: round(percentile(ms, 0.5) ?? NaN),
    p95: round(percentile(ms, 0.95) ?? NaN),
    p99: round(percentile(ms, 0.99) ?? NaN),
    max: round(ms.length ? Math.max(...ms) : NaN),
  };
}

function roundMem(m: { rssMb: number; heapUsedMb: number }): { rssMb: number; heapUsedMb: number } {
  return { rssMb: round(m.rssMb), heapUsedMb: round(m.heapUsedMb) };
}

function toMarkdown(r: {
  machine: string;
  database: string;
  minutes: number;
  targetRate: number;
  ingestShare: number;
  windowSeconds: number;
  requests: number;
  achievedRate: number;
  retrievals: number;
  ingestions: number;
  errors: number;
  errorCodes: Record<string, number>;
  skippedOverloaded: number;
  retrieveMs: Record<string, number>;
  ingestMs: Record<string, number>;
  memory: Record<string, unknown> & {
    start: { rssMb: number; heapUsedMb: number };
    afterFirstWindow: { rssMb: number; heapUsedMb: number };
    end: { rssMb: number; heapUsedMb: number };
  };
  windows: Record<string, unknown>[];
}): string {
  const cols = [
    'fromS',
    'requests',
    'errors',
    'retrieveP50Ms',
    'retrieveP95Ms',
    'retrieveP99Ms',
    'ingestP50Ms',
    'ingestP95Ms',
    'rssMb',
    'heapUsedMb',
  ];
  return `# Soak test

\`npm run soak -- --minutes ${r.minutes} --rate ${r.targetRate} --ingest-share ${r.ingestShare} --window ${r.windowSeconds}\`
on ${r.database}; ${r.machine}.
The machine is shared with other work, so absolute latencies are noisy; errors and memory growth are the point.

- Requests: ${r.requests} (${r.retrievals} retrievals, ${r.ingestions} ingestions), ${r.achievedRate}/s achieved
- **Errors: ${r.errors}**${r.errors > 0 ? ` ${JSON.stringify(r.errorCodes)}` : ''}; skipped because more than ${MAX_IN_FLIGHT} were in flight: ${r.skippedOverloaded}
- Retrieval ms: p50 ${r.retrieveMs.p50}, p95 ${r.retrieveMs.p95}, p99 ${r.retrieveMs.p99}, max ${r.retrieveMs.max}
- Ingestion ms: p50 ${r.ingestMs.p50}, p95 ${r.ingestMs.p95}, p99 ${r.ingestMs.p99}, max ${r.ingestMs.max}
- Memory (after a forced GC: ${String(r.memory.gcForced)}): RSS ${r.memory.start.rssMb} → ${r.memory.afterFirstWindow.rssMb} (after the first window) → ${r.memory.end.rssMb} MB; heap used ${r.memory.start.heapUsedMb} → ${r.memory.afterFirstWindow.heapUsedMb} → ${r.memory.end.heapUsedMb} MB
- Growth after the first window: heap ${String(r.memory.heapGrowthMbPerMinAfterWarmup)} MB/min, RSS ${String(r.memory.rssGrowthMbPerMinAfterWarmup)} MB/min

| ${cols.join(' | ')} |
| ${cols.map(() => '---').join(' | ')} |
${r.windows.map((w) => `| ${cols.map((c) => String(w[c])).join(' | ')} |`).join('\n')}
`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
