import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { createGateway, type Gateway } from '../src/app';
import { signToken } from '../src/auth/jwt';
import { loadConfig } from '../src/config/config';
import { type Database, openDatabase } from '../src/db/database';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { log, machine, percentile, recreateDatabase, rng, writeResults } from './bench-utils';
import { integerOption, parseCommandLine } from '../src/cli/command-line';

const USAGE = `Usage: npm run bench:citus [-- --big-docs 150 --small 11 --small-docs 12 --rounds 2]
       node dist/bench/citus.bench.js --operations-only   (part 2 again, on the cluster database loaded by a run)
  (the npm script recreates srg_citus_bench on the cluster of scripts/citus-cluster.sh, which must be running)
Env:  BENCH_SINGLE_URL  one node, recreated (default postgres://postgres@127.0.0.1:5432/srg_bench_citus_single)
      BENCH_CITUS_URL   the coordinator, an empty database joined to its workers
                        (default postgres://postgres@127.0.0.1:5440/srg_citus_bench)
      CITUS_CLUSTER_DIR data directories of the local cluster (default /tmp/srg-citus-cluster), to stop a worker

Citus side by side and under operations (issue 14; docs/SCALE-OUT.md).

Loads the same merchants into one PostgreSQL and into the local Citus cluster, then measures in one run:
  1. retrieveChunks (VECTOR, HYBRID, KEYWORD) and ingestDocument over HTTP against both, interleaved, at
     concurrency 1 and 8, and whether both return the same answers;
  2. on the cluster, while readers and a writer keep going: isolate_tenant_to_new_shard for the large merchant,
     moving its shard group to the other worker, and stopping the other worker (its merchants must get
     SERVICE_UNAVAILABLE quickly, the rest must keep working), then starting it again.
Results: docs/benchmarks/citus.{json,md}.`;

const { values: cli } = parseCommandLine(USAGE, {
  options: {
    'big-docs': { type: 'string' },
    small: { type: 'string' },
    'small-docs': { type: 'string' },
    rounds: { type: 'string' },
    'operations-only': { type: 'boolean', default: false },
  },
});
const argOf = (name: 'big-docs' | 'small' | 'small-docs' | 'rounds', fallback: number): number =>
  integerOption(USAGE, name, cli[name], fallback);
const BIG_DOCS = argOf('big-docs', 150);
const SMALL = argOf('small', 11);
const SMALL_DOCS = argOf('small-docs', 12);
const ROUNDS = argOf('rounds', 2);
const SINGLE_URL =
  process.env.BENCH_SINGLE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_citus_single';
const CITUS_URL = process.env.BENCH_CITUS_URL ?? 'postgres://postgres@127.0.0.1:5440/srg_citus_bench';
const CLUSTER_DIR = process.env.CITUS_CLUSTER_DIR ?? '/tmp/srg-citus-cluster';
const SECRET = 'citus-bench-secret-that-is-long-enough-0123456789';

const TOPICS = [
  'refund return money back card statement credit',
  'password reset login two factor account locked',
  'shipping delivery parcel tracking carrier courier',
  'warranty defect repair replacement broken faulty',
  'invoice billing tax receipt payment charge',
  'subscription plan upgrade cancel renewal trial',
];
const QUERIES = [
  'how long until my refund reaches the card',
  'I am locked out and need a password reset',
  'where is my parcel, tracking shows nothing',
  'my device is broken, is it under warranty',
  'I need a tax invoice for my payment',
  'cancel my subscription before renewal',
];
const MODES = ['VECTOR', 'HYBRID', 'KEYWORD'] as const;
const BIG = 'ops-big';
const smallIds = Array.from({ length: SMALL }, (_, i) => `ops-s${String(i + 1).padStart(2, '0')}`);
const MERCHANTS = [BIG, ...smallIds];

interface Target {
  name: 'single' | 'citus';
  db: Database;
  gateway: Gateway;
  endpoint: string;
}

const gatewayUrl = (owner: string): string => {
  const u = new URL(owner);
  u.username = 'srg_gateway';
  u.password = '';
  return u.toString();
};

async function start(name: Target['name'], owner: string): Promise<Target> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: gatewayUrl(owner),
    MIGRATION_DATABASE_URL: owner,
    AUTH_JWT_SECRET: SECRET,
    RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
    RATE_LIMIT_CALLER_PER_MINUTE: '0',
    RETRIEVAL_EXACT_SCAN_MAX_ROWS: '200',
    RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '400',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
    DB_POOL_SIZE: '12',
  });
  const db = await openDatabase(config, { migrate: true });
  const gateway = await createGateway({ config, db, embedder: createEmbedder(config), jwtSecret: SECRET });
  const endpoint = await gateway.listen(0, '127.0.0.1');
  return { name, db, gateway, endpoint };
}

function documentText(rand: () => number, topic: string, doc: number): string {
  const words = topic.split(' ');
  const pick = () => words[Math.floor(rand() * words.length)];
  return [0, 1, 2, 3]
    .map(
      (s) =>
        `## Part ${s} ${pick()}\n\n` +
        Array.from(
          { length: 3 },
          (_, i) => `Item ${doc}-${s}-${i} covers ${pick()} and ${pick()} for ${pick()} cases.`,
        ).join(' '),
    )
    .join('\n\n');
}

async function load(t: Target): Promise<{ docs: number; ms: number; indexMs: number }> {
  const started = performance.now();
  let docs = 0;
  for (const [i, merchant] of MERCHANTS.entries()) {
    await t.gateway.services.merchants.provision({ id: merchant, name: `Bench ${merchant}` });
    const rand = rng(1000 + i);
    const count = merchant === BIG ? BIG_DOCS : SMALL_DOCS;
    for (let d = 0; d < count; d++) {
      const acl = d % 10 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      const text = documentText(rand, TOPICS[(d + i) % TOPICS.length], d);
      await t.gateway.services.ingestion.writeDocument(merchant, {
        id: `doc-${d}`,
        title: `Doc ${d}`,
        text,
        acl,
      });
      docs++;
    }
  }
  const ms = performance.now() - started;
  const indexStarted = performance.now();
  const built = await t.gateway.services.indexes.maintain({ merchantId: BIG });
  if (built[0]?.outcome !== 'created') throw new Error(`${t.name}: no dedicated index for ${BIG}`);
  return { docs, ms, indexMs: performance.now() - indexStarted };
}

interface Answer {
  ok: boolean;
  code?: string;
  ms: number;
  strategy?: string;
  chunks?: string[];
}

async function gql(
  endpoint: string,
  query: string,
  variables: Record<string, unknown>,
  merchantId: string,
  roles = ['agent'],
  userId = 'agent-1',
): Promise<{
  ms: number;
  body: { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: string } }[] };
}> {
  const token = signToken({ sub: userId, merchantId, roles }, SECRET);
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    return { ms: performance.now() - started, body: { errors: [{ extensions: { code: 'HTTP_FAILED' } }] } };
  }
  const body = (await res.json()) as {
    data?: Record<string, unknown> | null;
    errors?: { extensions?: { code?: string } }[];
  };
  return { ms: performance.now() - started, body };
}

const RETRIEVE = `query R($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { strategy chunks { documentId chunkIndex } }
}`;
const INGEST = `mutation I($input: IngestDocumentInput!) { ingestDocument(input: $input) { document { id } } }`;

async function retrieve(endpoint: string, merchant: string, query: string, mode: string): Promise<Answer> {
  const { ms, body } = await gql(endpoint, RETRIEVE, { input: { query, k: 10, mode } }, merchant);
  if (body.errors?.length) return { ok: false, code: body.errors[0].extensions?.code ?? 'UNKNOWN', ms };
  const r = body.data!.retrieveChunks as {
    strategy: string;
    chunks: { documentId: string; chunkIndex: number }[];
  };
  return {
    ok: true,
    ms,
    strategy: r.strategy,
    chunks: r.chunks.map((c) => `${c.documentId}#${c.chunkIndex}`),
  };
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}

const summary = (ms: number[]) => ({
  n: ms.length,
  p50: Math.round(percentile(ms, 0.5) * 10) / 10,
  p95: Math.round(percentile(ms, 0.95) * 10) / 10,
  mean: Math.round((ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length)) * 10) / 10,
});

async function compare(targets: Target[]) {
  const requests = MERCHANTS.flatMap((m) => QUERIES.flatMap((q) => MODES.map((mode) => ({ m, q, mode }))));
  const latencies: Record<string, Record<string, number[]>> = {};
  const answers: Record<string, Map<string, string>> = { single: new Map(), citus: new Map() };
  const errors: Record<string, number> = { single: 0, citus: 0 };
  for (const concurrency of [1, 8]) {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const key = `c${concurrency}`;
        latencies[key] ??= {};
        const own = (latencies[key][t.name] ??= []);
        await pool(requests, concurrency, async (r) => {
          const a = await retrieve(t.endpoint, r.m, r.q, r.mode);
          if (!a.ok) errors[t.name]++;
          else {
            own.push(a.ms);
            answers[t.name].set(`${r.m}|${r.q}|${r.mode}`, a.chunks!.join(','));
          }
        });
      }
    }
  }
  let same = 0;
  for (const [k, v] of answers.single) if (answers.citus.get(k) === v) same++;
  // Writes: one document of 4 chunks per request, each target in turn.
  const ingest: Record<string, number[]> = { single: [], citus: [] };
  for (let i = 0; i < 20; i++) {
    for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
      const { ms, body } = await gql(
        t.endpoint,
        INGEST,
        {
          input: {
            id: `cmp-${i}`,
            title: `Compare ${i}`,
            text: documentText(rng(i), TOPICS[i % 6], i),
            acl: ['u-cmp'],
          },
        },
        smallIds[i % smallIds.length],
        ['admin'],
        'admin-1',
      );
      if (body.errors?.length) errors[t.name]++;
      else ingest[t.name].push(ms);
    }
  }
  return {
    requestsPerRound: requests.length,
    retrieve: Object.fromEntries(
      Object.entries(latencies).map(([c, byTarget]) => [
        c,
        Object.fromEntries(Object.entries(byTarget).map(([n, ms]) => [n, summary(ms)])),
      ]),
    ),
    ingest: { single: summary(ingest.single), citus: summary(ingest.citus) },
    sameAnswers: { same, of: answers.single.size },
    errors,
  };
}

interface LoadStats {
  reads: number;
  readErrors: Record<string, number>;
  mismatches: number;
  writesAcked: string[];
  writeErrors: Record<string, number>;
  readMs: number[];
  writeMs: number[];
}

/** Readers (3) compare every answer with the baseline; a writer adds documents the readers cannot see. */
function backgroundLoad(t: Target, baseline: Map<string, string>, writeSeq: { n: number }) {
  const stats: LoadStats = {
    reads: 0,
    readErrors: {},
    mismatches: 0,
    writesAcked: [],
    writeErrors: {},
    readMs: [],
    writeMs: [],
  };
  let stop = false;
  const keys = [...baseline.keys()];
  const rand = rng(77);
  const reader = async () => {
    while (!stop) {
      const key = keys[Math.floor(rand() * keys.length)];
      const [m, q] = key.split('|');
      const a = await retrieve(t.endpoint, m, q, 'VECTOR');
      stats.reads++;
      if (!a.ok) stats.readErrors[a.code!] = (stats.readErrors[a.code!] ?? 0) + 1;
      else {
        stats.readMs.push(a.ms);
        if (a.chunks!.join(',') !== baseline.get(key)) stats.mismatches++;
      }
    }
  };
  const writer = async () => {
    while (!stop) {
      const id = `w-${writeSeq.n++}`;
      const { ms, body } = await gql(
        t.endpoint,
        INGEST,
        {
          input: {
            id,
            title: `Write ${id}`,
            text: `## Audit ${id}\n\nAudit record ${id} for the operations benchmark.`,
            acl: ['u-writer'],
          },
        },
        BIG,
        ['admin'],
        'admin-1',
      );
      if (body.errors?.length) {
        const code = body.errors[0].extensions?.code ?? 'UNKNOWN';
        stats.writeErrors[code] = (stats.writeErrors[code] ?? 0) + 1;
      } else {
        stats.writesAcked.push(id);
        stats.writeMs.push(ms);
      }
    }
  };
  const running = Promise.all([reader(), reader(), reader(), writer()]);
  return {
    stats,
    async finish(): Promise<LoadStats> {
      stop = true;
      await running;
      return stats;
    },
  };
}

async function placementOf(
  admin: Client,
  merchant: string,
): Promise<{ shardid: string; port: number; host: string }> {
  const rows = await admin.query<{ shardid: string; nodename: string; nodeport: number }>(
    `SELECT s.shardid::text AS shardid, s.nodename, s.nodeport FROM citus_shards s
      WHERE s.table_name = 'document_chunks'::regclass
        AND s.shardid = get_shard_id_for_distribution_column('document_chunks', $1::text)`,
    [merchant],
  );
  return { shardid: rows.rows[0].shardid, host: rows.rows[0].nodename, port: rows.rows[0].nodeport };
}

function pgCtl(action: 'start' | 'stop', port: number): void {
  const dir = `${CLUSTER_DIR}/worker${port - 5440}`;
  const argv = [
    '-u',
    'postgres',
    '--',
    '/usr/lib/postgresql/15/bin/pg_ctl',
    '-D',
    dir,
    '-w',
    '-l',
    `${dir}.log`,
  ];
  execFileSync('runuser', [...argv, ...(action === 'stop' ? ['-m', 'fast', 'stop'] : ['start'])], {
    stdio: 'ignore',
  });
}

async function operations(t: Target) {
  const admin = new Client({ connectionString: CITUS_URL });
  await admin.connect();
  const baseline = new Map<string, string>();
  for (const m of MERCHANTS)
    for (const q of QUERIES) {
      const a = await retrieve(t.endpoint, m, q, 'VECTOR');
      if (!a.ok) throw new Error(`baseline ${m}: ${a.code}`);
      baseline.set(`${m}|${q}`, a.chunks!.join(','));
    }
  const writeSeq = { n: 0 };
  const phases: Record<string, unknown> = {};
  const during = async (name: string, op: () => Promise<unknown>) => {
    const load = backgroundLoad(t, baseline, writeSeq);
    await new Promise((r) => setTimeout(r, 2000));
    const started = performance.now();
    let detail: unknown;
    try {
      detail = await op();
    } catch (err) {
      await load.finish();
      throw err;
    }
    const opMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 2000));
    const s = await load.finish();
    phases[name] = {
      opMs: Math.round(opMs),
      detail,
      reads: s.reads,
      readErrors: s.readErrors,
      answersChanged: s.mismatches,
      readP50: summary(s.readMs).p50,
      readP95: summary(s.readMs).p95,
      writesAcked: s.writesAcked.length,
      writeErrors: s.writeErrors,
      writeP95: summary(s.writeMs).p95,
    };
    log(`${name}: ${JSON.stringify(phases[name])}`);
    return s;
  };

  const acked: string[] = [];
  // The product's dedicated-index DDL (src/chunks/chunk.repository.ts), built again beside the existing one while
  // the writer keeps writing to the same merchant: Citus runs CREATE INDEX CONCURRENTLY shard by shard.
  acked.push(
    ...(
      await during('CREATE INDEX CONCURRENTLY (dedicated HNSW)', async () => {
        await admin.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS bench_cic_probe ON document_chunks
            USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
            WHERE merchant_id = '${BIG}' AND vector_dims(embedding) = 1536`);
        const valid = await admin.query<{ valid: boolean }>(
          `SELECT i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = 'bench_cic_probe'`,
        );
        await admin.query(`DROP INDEX CONCURRENTLY IF EXISTS bench_cic_probe`);
        return { valid: valid.rows[0]?.valid ?? false };
      })
    ).writesAcked,
  );
  const before = await placementOf(admin, BIG);
  acked.push(
    ...(
      await during('isolate_tenant_to_new_shard', async () => {
        const r = await admin.query<{ shard: string }>(
          `SELECT isolate_tenant_to_new_shard('document_chunks', $1::text, 'CASCADE', shard_transfer_mode => 'force_logical')::text AS shard`,
          [BIG],
        );
        return { from: before, newShard: r.rows[0].shard };
      })
    ).writesAcked,
  );
  const isolated = await placementOf(admin, BIG);
  const otherPort = isolated.port === 5441 ? 5442 : 5441;
  acked.push(
    ...(
      await during('citus_move_shard_placement', async () => {
        await admin.query(
          `SELECT citus_move_shard_placement($1::bigint, $2, $3, $2, $4, shard_transfer_mode => 'force_logical')`,
          [isolated.shardid, isolated.host, isolated.port, otherPort],
        );
        return { shard: isolated.shardid, from: isolated.port, to: otherPort };
      })
    ).writesAcked,
  );
  const moved = await placementOf(admin, BIG);

  // One worker down: the one not holding the large merchant.
  const downPort = moved.port === 5441 ? 5442 : 5441;
  const placements = new Map<string, number>();
  for (const m of MERCHANTS) placements.set(m, (await placementOf(admin, m)).port);
  pgCtl('stop', downPort);
  const outage: { merchant: string; onStoppedWorker: boolean; code: string; ms: number }[] = [];
  try {
    for (const m of MERCHANTS) {
      const a = await retrieve(t.endpoint, m, QUERIES[0], 'VECTOR');
      outage.push({
        merchant: m,
        onStoppedWorker: placements.get(m) === downPort,
        code: a.ok ? 'OK' : a.code!,
        ms: Math.round(a.ms),
      });
    }
  } finally {
    pgCtl('start', downPort);
  }
  let recoveredMs = 0;
  const recoverStarted = performance.now();
  for (;;) {
    const results = await Promise.all(MERCHANTS.map((m) => retrieve(t.endpoint, m, QUERIES[0], 'VECTOR')));
    if (results.every((r) => r.ok)) break;
    if (performance.now() - recoverStarted > 60_000) throw new Error('cluster did not recover within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  recoveredMs = performance.now() - recoverStarted;

  const stored = await admin.query<{ id: string }>(
    `SELECT id FROM support_documents WHERE merchant_id = $1 AND id LIKE 'w-%'`,
    [BIG],
  );
  const storedIds = new Set(stored.rows.map((r) => r.id));
  const lost = acked.filter((id) => !storedIds.has(id));
  let unchanged = 0;
  for (const [key, value] of baseline) {
    const [m, q] = key.split('|');
    const a = await retrieve(t.endpoint, m, q, 'VECTOR');
    if (a.ok && a.chunks!.join(',') === value) unchanged++;
  }
  await admin.end();
  return {
    phases,
    placement: { before, isolated, moved },
    workerDown: {
      port: downPort,
      requests: outage,
      recoveredWithinMs: Math.round(recoveredMs),
    },
    writes: { acknowledged: acked.length, lost: lost.length, lostIds: lost.slice(0, 10) },
    answersUnchangedAfter: { unchanged, of: baseline.size },
  };
}

const OPERATIONS_ONLY = cli['operations-only'];

async function main(): Promise<void> {
  if (OPERATIONS_ONLY) {
    const t = await start('citus', CITUS_URL);
    try {
      const found = await t.db.dataSource.query<unknown[]>(`SELECT 1 FROM merchants WHERE id = $1`, [BIG]);
      if (found.length === 0)
        throw new Error(`${CITUS_URL} holds no benchmark data: run the whole benchmark first`);
      const ops = await operations(t);
      const results = { machine: machine(), date: new Date().toISOString(), ops };
      writeResults('citus-operations', results, operationsMarkdown(results));
    } finally {
      await t.gateway.stop().catch(() => undefined);
      await t.db.close().catch(() => undefined);
    }
    return;
  }
  const check = new Client({ connectionString: CITUS_URL });
  await check.connect();
  const citus = await check.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`);
  const workers = await check.query(`SELECT 1 FROM pg_dist_node WHERE groupid > 0 AND isactive`);
  const merchants = await check
    .query(`SELECT 1 FROM merchants LIMIT 1`)
    .then((r) => r.rowCount ?? 0)
    .catch(() => 0);
  await check.end();
  if (citus.rowCount === 0 || (workers.rowCount ?? 0) < 2)
    throw new Error(`${CITUS_URL} is not a Citus coordinator with two workers (scripts/citus-cluster.sh)`);
  if (merchants > 0) throw new Error(`${CITUS_URL} already holds merchants: give an empty database`);
  await recreateDatabase(SINGLE_URL);

  const targets = [await start('single', SINGLE_URL), await start('citus', CITUS_URL)];
  try {
    const loads: Record<string, unknown> = {};
    for (const t of targets) {
      log(`loading ${t.name}`);
      const l = await load(t);
      loads[t.name] = {
        docs: l.docs,
        msPerDocument: Math.round((l.ms / l.docs) * 10) / 10,
        dedicatedIndexMs: Math.round(l.indexMs),
      };
      log(`${t.name}: ${JSON.stringify(loads[t.name])}`);
    }
    log('side by side');
    const side = await compare(targets);
    log(JSON.stringify(side));
    log('operations on the cluster');
    const ops = await operations(targets[1]);
    const results = {
      machine: machine(),
      date: new Date().toISOString(),
      merchants: MERCHANTS.length,
      bigDocs: BIG_DOCS,
      smallDocs: SMALL_DOCS,
      loads,
      side,
      ops,
    };
    writeResults('citus', results, markdown(results));
  } finally {
    for (const t of targets) {
      await t.gateway.stop().catch(() => undefined);
      await t.db.close().catch(() => undefined);
    }
  }
}

function markdown(r: {
  machine: string;
  date: string;
  loads: Record<string, unknown>;
  side: Awaited<ReturnType<typeof compare>>;
  ops: Awaited<ReturnType<typeof operations>>;
}): string {
  const lines = [
    `# Citus benchmark (${r.date.slice(0, 10)}, ${r.machine})`,
    '',
    '## One node vs the cluster, same data',
    '',
  ];
  lines.push(
    '| requests | one node p50 / p95 ms | cluster p50 / p95 ms | overhead p50 |',
    '|---|---|---|---|',
  );
  for (const [c, byTarget] of Object.entries(r.side.retrieve)) {
    const s = byTarget.single;
    const k = byTarget.citus;
    lines.push(
      `| retrieveChunks, concurrency ${c.slice(1)} (${s.n} each) | ${s.p50} / ${s.p95} | ${k.p50} / ${k.p95} | ${(k.p50 - s.p50).toFixed(1)} ms (${(k.p50 / s.p50).toFixed(2)}×) |`,
    );
  }
  const si = r.side.ingest.single;
  const ki = r.side.ingest.citus;
  lines.push(
    `| ingestDocument (4 chunks; ${si.n} each) | ${si.p50} / ${si.p95} | ${ki.p50} / ${ki.p95} | ${(ki.p50 - si.p50).toFixed(1)} ms (${(ki.p50 / si.p50).toFixed(2)}×) |`,
  );
  lines.push(
    '',
    `Same answers on both: ${r.side.sameAnswers.same} of ${r.side.sameAnswers.of}; errors: ${JSON.stringify(r.side.errors)}.`,
  );
  lines.push(`Loading: ${JSON.stringify(r.loads)}`, '');
  return [...lines, ...operationsMarkdown(r).split('\n').slice(2)].join('\n');
}

function operationsMarkdown(r: {
  machine: string;
  date: string;
  ops: Awaited<ReturnType<typeof operations>>;
}): string {
  const lines = [`# Citus operations under load (${r.date.slice(0, 10)}, ${r.machine})`, ''];
  lines.push('## Operations on the cluster under load (3 readers, 1 writer)', '');
  lines.push(
    '| operation | took ms | reads | read errors | answers changed | read p95 ms | writes acked | write errors |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const [name, p] of Object.entries(r.ops.phases) as [string, Record<string, unknown>][]) {
    lines.push(
      `| ${name} | ${String(p.opMs)} | ${String(p.reads)} | ${JSON.stringify(p.readErrors)} | ${String(p.answersChanged)} | ${String(p.readP95)} | ${String(p.writesAcked)} | ${JSON.stringify(p.writeErrors)} |`,
    );
  }
  lines.push(
    '',
    `Writes acknowledged during the operations: ${r.ops.writes.acknowledged}, lost: ${r.ops.writes.lost}.`,
  );
  lines.push(
    `Answers unchanged afterwards: ${r.ops.answersUnchangedAfter.unchanged} of ${r.ops.answersUnchangedAfter.of}.`,
    '',
  );
  lines.push(
    `## Worker on port ${r.ops.workerDown.port} stopped`,
    '',
    '| merchant | on the stopped worker | answer | ms |',
    '|---|---|---|---|',
  );
  for (const o of r.ops.workerDown.requests)
    lines.push(`| ${o.merchant} | ${o.onStoppedWorker ? 'yes' : 'no'} | ${o.code} | ${o.ms} |`);
  lines.push(
    '',
    `All merchants answered again ${r.ops.workerDown.recoveredWithinMs} ms after the worker was started.`,
    '',
  );
  return lines.join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
