import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { log, machine, recreateDatabase, rng, writeResults } from './bench-utils';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import {
  BIG,
  documentText,
  gql,
  INGEST,
  MODES,
  pool,
  QUERIES,
  retrieve,
  start,
  summary,
  type Target,
  TOPICS,
} from './citus/citus-bench.shared';
import { operations, operationsMarkdown } from './citus/citus-operations';

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

const smallIds = Array.from({ length: SMALL }, (_, i) => `ops-s${String(i + 1).padStart(2, '0')}`);
const MERCHANTS = [BIG, ...smallIds];
const CLUSTER = { merchants: MERCHANTS, citusUrl: CITUS_URL, clusterDir: CLUSTER_DIR };

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

const OPERATIONS_ONLY = cli['operations-only'];

async function main(): Promise<void> {
  if (OPERATIONS_ONLY) {
    const t = await start('citus', CITUS_URL);
    try {
      const found = await t.db.dataSource.query<unknown[]>(`SELECT 1 FROM merchants WHERE id = $1`, [BIG]);
      if (found.length === 0)
        throw new Error(`${CITUS_URL} holds no benchmark data: run the whole benchmark first`);
      const ops = await operations(t, CLUSTER);
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
    const ops = await operations(targets[1], CLUSTER);
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

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
