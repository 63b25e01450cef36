import 'reflect-metadata';
import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../src/auth/identity';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { CalibrationRepository } from '../src/retrieval/calibration.repository';
import { SearchRepository } from '../src/retrieval/search.repository';
import { machine, rng, writeResults } from './bench-utils';
import { recallBySetting, type SetQuery } from './setting-recall';
import { VectorGenerator } from './vector-generator';

const USAGE = `Usage: npm run bench:calibration-queries -- --url postgres://... [--seed 42] [--queries 50]
                        [--merchants bm0000-xl,...]

Which calibration queries predict the recall of held-out queries. Reads (never writes) a database built by
\`npm run bench\` with the same --seed, and for its merchants with a dedicated index (or --merchants) compares,
setting by setting (the calibration's HNSW and quantized candidates, the quantized ones with a Hamming and a Jaccard
shortlist), recall@10 against the exact answer for
three query sets of --queries each: the merchant's own vectors (own chunk left out, what the calibration
uses), points halfway between two own vectors, own vectors moved off their node by the distance of their 10th
neighbour in a random direction ('moved'), and held-out queries drawn as the benchmark draws them (near a
topic centre). ✓ marks the settings the calibration's rule passes. Readers: the benchmark's staff (97%) and contractor (30%).
Results: docs/benchmarks/calibration-queries.*`;

const { values: options } = parseCommandLine(USAGE, {
  options: {
    url: { type: 'string' },
    seed: { type: 'string' },
    queries: { type: 'string' },
    merchants: { type: 'string' },
  },
});
const K = 10;
const SEED = integerOption(USAGE, 'seed', options.seed, 42);
const N = integerOption(USAGE, 'queries', options.queries, 50, 4);
const URL_ = options.url ?? process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench';
const READERS = { staff: ['staff'], contractor: ['contractor'] } as const;

async function main(): Promise<void> {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: URL_, DB_STATEMENT_TIMEOUT_MS: '0' });
  // Never migrates: the database is the benchmark's, read as it is.
  const db = await openDatabase(config, { migrate: false, poolSize: 2 });
  const ds = db.dataSource;
  const search = new SearchRepository();
  const calibrations = new CalibrationRepository();
  const tx = <T>(fn: (m: EntityManager) => Promise<T>): Promise<T> => ds.transaction(fn);

  const merchantIds =
    options.merchants?.split(',') ??
    (
      await ds.query<{ merchant_id: string }[]>(
        `SELECT merchant_id FROM document_chunks GROUP BY merchant_id
          HAVING count(*) >= $1 ORDER BY count(*) DESC`,
        [config.retrieval.dedicatedIndexMinRows],
      )
    ).map((r) => r.merchant_id);
  // The benchmark's held-out queries: its generator, its seed, its stream (bench/run.bench.ts).
  const heldOut = new VectorGenerator(1536, SEED).fork(SEED * 977 + 5);

  const rows: Record<string, unknown>[] = [];
  for (const merchantId of merchantIds) {
    const version = 1;
    const sample = await calibrations.sample(ds.manager, merchantId, version, N * 3);
    // Every principal on the merchant's ACLs: the neighbourhood an own vector is moved within.
    const everyone: TenantScope = {
      merchantId,
      principals: (await calibrations.principals(ds.manager, merchantId, version)).map((p) => p.principal),
    };
    const gaussian = gaussianStream(SEED * 131 + merchantIds.indexOf(merchantId));
    const moved: SetQuery[] = [];
    for (const s of sample.slice(2 * N)) {
      const hits = await tx((m) =>
        search.searchExact(m, everyone, {
          embedding: s.embedding,
          corpus: { version, dimensions: 1536 },
          k: K + 1,
          filter: {},
        }),
      );
      const others = hits.filter((h) => h.id !== s.id);
      if (others.length === 0) continue;
      moved.push({ embedding: moveOff(s.embedding, others[others.length - 1].distance, gaussian), self: '' });
    }
    const sets: Record<string, SetQuery[]> = {
      own: sample.slice(0, N).map((s) => ({ embedding: s.embedding, self: s.id })),
      between: sample
        .slice(N)
        .map((s, i, rest) => midpoint(s.embedding, rest[(i + 1) % rest.length].embedding))
        .filter((e): e is number[] => e !== null)
        .map((embedding) => ({ embedding, self: '' })),
      moved,
      'held-out': Array.from({ length: N }, () => ({ embedding: heldOut.query(), self: '' })),
    };
    const of = { merchantId, version, dimensions: 1536 };
    rows.push(...(await recallBySetting(ds, config, of, READERS, 'bench', sets)));
  }
  await db.close();
  writeResults(
    'calibration-queries',
    { machine: machine(), seed: SEED, queries: N, url: URL_, rows },
    report(rows),
  );
}

/** Standard normal draws (Box–Muller) from the benchmark's seeded generator. */
function gaussianStream(seed: number): () => number {
  const uniform = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * The unit vector of `v` plus a random direction whose length is the chord of cosine distance `distance` (on the unit
 * sphere, |a - b|² = 2 · cosine distance): a point as far from its own node as its 10th neighbour is, in no
 * particular direction, so the graph cannot walk straight to its answers.
 */
function moveOff(v: readonly number[], distance: number, gaussian: () => number): number[] {
  const norm = Math.hypot(...v);
  const g = v.map(() => gaussian());
  const gNorm = Math.hypot(...g);
  const length = Math.sqrt(2 * Math.max(distance, 0));
  return v.map((x, i) => x / norm + (length * g[i]) / gNorm);
}

/** The unit vector halfway between the directions of a and b (null when they cancel). */
function midpoint(a: readonly number[], b: readonly number[]): number[] | null {
  const na = Math.hypot(...a);
  const nb = Math.hypot(...b);
  const out = a.map((x, i) => x / na + b[i] / nb);
  const n = Math.hypot(...out);
  return n > 1e-6 && Number.isFinite(n) ? out.map((x) => x / n) : null;
}

function report(rows: Record<string, unknown>[]): string {
  const f = (x: unknown, pass: unknown) => `${(x as number).toFixed(3)}${pass ? ' ✓' : ''}`;
  const lines = [
    '# Calibration queries: which sample predicts held-out recall',
    '',
    `Run ${new Date().toISOString()} on ${machine()}. Reproduce: \`npm run bench -- --preset large --seed ${SEED} --url U\`, then \`npm run bench:calibration-queries -- --url U --seed ${SEED} --queries ${N}\`.`,
    '',
    `${N} queries per set; ✓ = passes the calibration's rule (one-sided 95% Wilson lower bound of recall@10 >= 0.99). The calibration uses own vectors, needs a pass for both readers, and takes the index setting after the first that passes (two after it when the cheapest setting passes). "moved": own vectors moved off their node by the distance of their 10th neighbour (over every reader) in a random direction.`,
    '',
    '| merchant | chunks | reader | setting | own (calibration) | between two own | moved | held-out |',
    '|---|---:|---|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${String(r.merchantId)} | ${String(r.size)} | ${String(r.reader)} | ${String(r.setting)} | ${f(r.own, r.ownPasses)} | ${f(r.between, r.betweenPasses)} | ${f(r.moved, r.movedPasses)} | ${f(r['held-out'], r['held-outPasses'])} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
