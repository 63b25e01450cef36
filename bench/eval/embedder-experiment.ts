import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  contentTerms,
  fitIdf,
  fitLsa,
  hashFeatures,
  hashInto,
  idfWeighted,
  lsaIndex,
  lsaInto,
  normalize,
} from './corpus-models';
import { fuse, DEFAULT_VECTOR_WEIGHT } from '../../src/retrieval/fusion';
import { log, machine, writeResults } from '../bench-utils';
import { convertDstc10, convertSamsung } from './converters';
import { readLabelledSet, type Split } from './labelled-set';
import { distinctDocuments, firstRelevantRank, type RankingMetrics, summarize } from './metrics';
import { type RankedChunk } from './runner';

const HELP = `Usage: npm run eval:embedders -- --database-url URL [--dump FILE] [options] <samsung|dstc10|set dir>

Offline comparison of local embedders fitted on each merchant's own chunks (docs/EVAL.md, "Local embedder: what
was tried"). Without --dump it first runs \`npm run eval -- --keep --k 50 --dump\` on the database (native
PostgreSQL; created and loaded when missing, kept afterwards). Reads the chunks of the active corpus version from
the database and each question's KEYWORD list from the dump; embeds chunks and questions in process with every
variant, searches exactly (cosine), and fuses with the gateway's RRF (src/retrieval/fusion.ts). Prints
MRR@10 and R@1/5/10 per variant for all / tune / test questions. Variants are fitted per merchant: no merchant's
model sees another's text.

Options:
  --only TEXT       only the variants whose name contains TEXT (use --only=TEXT when TEXT starts with -)
  --weights LIST    also fuse with these vector weights (e.g. 0.1,0.2,0.3), on top of the gateway's
  --pooled          fit each variant once on every merchant's chunks (what a larger corpus would give)
  --out NAME        write docs/benchmarks/NAME.{json,md}`;

const K = 20; // chunks per question, as npm run eval
const POOL = 50; // per-side fusion pool (the dump's k)

interface DumpQuestion {
  id: string;
  split: Split;
  relevant: string[];
  lists: { KEYWORD?: RankedChunk[]; VECTOR?: RankedChunk[]; HYBRID?: RankedChunk[] };
}

interface ChunkRow {
  id: string;
  document_id: string | null;
  chunk_text: string;
}

type Embed = (text: string) => Float64Array;
interface Variant {
  name: string;
  /** Fits on one merchant's chunk texts; returns the embedding function. */
  fit: (texts: string[]) => Embed;
}

const hashOnly =
  (dims: number): Variant['fit'] =>
  () =>
  (text) => {
    const v = new Float64Array(dims);
    hashInto(v, hashFeatures(contentTerms(text)));
    return normalize(v);
  };

/** `power` 0.5 damps the idf; `trigrams` false leaves character trigrams at local-hash-v1's weight. */
const idfHash =
  (dims: number, power = 1, trigrams = true, smoothing = 1): Variant['fit'] =>
  (texts) => {
    const table = fitIdf(texts);
    return (text) => {
      const v = new Float64Array(dims);
      const terms = contentTerms(text);
      const plain = new Map(hashFeatures(terms).map((f) => [f.key, f.weight]));
      const features = idfWeighted(table, terms, smoothing).map((f) =>
        !trigrams && f.key.startsWith('c:')
          ? { key: f.key, weight: plain.get(f.key)! }
          : { key: f.key, weight: plain.get(f.key)! * (f.weight / plain.get(f.key)!) ** power },
      );
      hashInto(v, features);
      return normalize(v);
    };
  };

const lsa =
  (rank: number): Variant['fit'] =>
  (texts) => {
    const model = fitLsa(texts, rank);
    const index = lsaIndex(model);
    return (text) => {
      const v = new Float64Array(model.rank);
      lsaInto(v, 0, model, index, contentTerms(text));
      return normalize(v);
    };
  };

/** IDF hashing and LSA side by side: cosine = alpha·cos(idf) + (1 − alpha)·cos(lsa). */
const mix =
  (hashDims: number, rank: number, alpha: number): Variant['fit'] =>
  (texts) => {
    const a = idfHash(hashDims)(texts);
    const b = lsa(rank)(texts);
    return (text) => {
      const x = a(text);
      const y = b(text);
      const v = new Float64Array(x.length + y.length);
      const sa = Math.sqrt(alpha);
      const sb = Math.sqrt(1 - alpha);
      x.forEach((val, i) => (v[i] = sa * val));
      y.forEach((val, i) => (v[x.length + i] = sb * val));
      return v;
    };
  };

const VARIANTS: Variant[] = [
  { name: 'local-hash-v1 (1536)', fit: hashOnly(1536) },
  { name: 'idf-hash (1536)', fit: idfHash(1536) },
  { name: 'idf-hash sqrt(idf) (1536)', fit: idfHash(1536, 0.5) },
  { name: 'idf-hash, trigrams plain (1536)', fit: idfHash(1536, 1, false) },
  { name: 'idf-hash idf² (1536)', fit: idfHash(1536, 2) },
  { name: 'idf-hash smoothing 10 (1536)', fit: idfHash(1536, 1, true, 10) },
  { name: 'idf-hash smoothing 50 (1536)', fit: idfHash(1536, 1, true, 50) },
  { name: 'lsa k=32', fit: lsa(32) },
  { name: 'lsa k=64', fit: lsa(64) },
  { name: 'lsa k=128', fit: lsa(128) },
  { name: 'lsa k=256', fit: lsa(256) },
  { name: 'idf-hash 1280 + lsa 256, α=0.5', fit: mix(1280, 256, 0.5) },
  { name: 'idf-hash 1280 + lsa 256, α=0.7', fit: mix(1280, 256, 0.7) },
  { name: 'idf-hash 1280 + lsa 256, α=0.85', fit: mix(1280, 256, 0.85) },
  { name: 'idf-hash 1472 + lsa 64, α=0.85', fit: mix(1472, 64, 0.85) },
];

function setDir(arg: string): string {
  if (arg !== 'samsung' && arg !== 'dstc10') return arg;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `embedder-exp-${arg}-`));
  (arg === 'samsung' ? convertSamsung : convertDstc10)(dir);
  return dir;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

type Row = {
  variant: string;
  mode: 'VECTOR' | 'HYBRID';
  split: 'all' | Split;
  fitMs: number;
} & RankingMetrics;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'database-url': { type: 'string' },
      dump: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      weights: { type: 'string' },
      pooled: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values['database-url'] || positionals.length !== 1) {
    console.log(HELP);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  if (!values.dump) {
    // KEYWORD lists (and the gateway's own VECTOR/HYBRID, to check the offline baseline against) from a real run.
    values.dump = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-exp-')), 'lists.json');
    const args = ['--database-url', values['database-url'], '--keep', '--k', '50', '--no-write'];
    execFileSync(
      process.execPath,
      [path.join(__dirname, 'eval.js'), ...args, '--dump', values.dump, positionals[0]],
      {
        stdio: 'inherit',
      },
    );
  }
  const set = readLabelledSet(setDir(positionals[0]));
  const text = new Map(set.questions.map((q) => [q.id, q]));
  const dump = JSON.parse(fs.readFileSync(values.dump, 'utf8')) as { set: string; questions: DumpQuestion[] };
  const questions = dump.questions.map((q) => ({
    ...q,
    merchant: text.get(q.id)!.merchant,
    question: text.get(q.id)!.question,
  }));
  const merchants = [...new Set(questions.map((q) => q.merchant))];
  const client = new pg.Client({ connectionString: values['database-url'] });
  await client.connect();
  const chunks = new Map<string, ChunkRow[]>();
  for (const m of merchants) {
    const { rows } = await client.query<ChunkRow>(
      `SELECT c.id::text AS id, c.document_id, c.chunk_text FROM document_chunks c
         JOIN corpus_versions v ON v.merchant_id = c.merchant_id AND v.version = c.corpus_version AND v.state = 'active'
        WHERE c.merchant_id = $1 ORDER BY c.id`,
      [m],
    );
    chunks.set(m, rows);
  }
  // --pooled: each variant fitted once on every merchant's chunks in the database (a corpus as large as the whole
  // set). Not something the product may do (one tenant's text would shape another's vectors); it measures whether
  // a fitted model would help a merchant whose own corpus is that large.
  const pool = values.pooled
    ? (
        await client.query<{ chunk_text: string }>(
          `SELECT c.chunk_text FROM document_chunks c
             JOIN corpus_versions v ON v.merchant_id = c.merchant_id AND v.version = c.corpus_version AND v.state = 'active'
            ORDER BY c.id`,
        )
      ).rows.map((r) => r.chunk_text)
    : undefined;
  await client.end();
  const total = [...chunks.values()].reduce((s, r) => s + r.length, 0);
  log(`${dump.set}: ${questions.length} questions, ${merchants.length} merchants, ${total} chunks`);

  // Extra HYBRID rows with other vector weights (the fusion was tuned for local-hash-v1's vectors).
  const weights = (values.weights ?? '').split(',').filter(Boolean).map(Number);
  const rows: Row[] = [];
  const push = (
    variant: string,
    mode: Row['mode'],
    fitMs: number,
    ranks: { split: Split; rank: number | null }[],
  ): void => {
    for (const split of ['all', 'tune', 'test'] as const) {
      const sel = ranks.filter((r) => split === 'all' || r.split === split);
      rows.push({ variant, mode, split, fitMs, ...summarize(sel) });
    }
  };
  // The real run's lists: the offline local-hash-v1 row should reproduce its VECTOR (same vectors, exact search).
  const docRank = (q: DumpQuestion, list: RankedChunk[]): number | null =>
    firstRelevantRank(distinctDocuments(list.slice(0, K)), new Set(q.relevant));
  for (const mode of ['VECTOR', 'HYBRID'] as const) {
    if (questions.every((q) => q.lists[mode]))
      push(
        'gateway run (local-hash-v1)',
        mode,
        0,
        questions.map((q) => ({ split: q.split, rank: docRank(q, q.lists[mode]!) })),
      );
  }
  push(
    'gateway run KEYWORD',
    'VECTOR',
    0,
    questions.map((q) => ({ split: q.split, rank: docRank(q, q.lists.KEYWORD ?? []) })),
  );

  for (const variant of VARIANTS.filter((v) => !values.only || v.name.includes(values.only))) {
    let fitMs = 0;
    let pooledEmbed: Embed | undefined;
    if (pool) {
      const t0 = performance.now();
      pooledEmbed = variant.fit(pool);
      fitMs += performance.now() - t0;
    }
    const vec: { split: Split; rank: number | null }[] = [];
    const hyb: { split: Split; rank: number | null }[] = [];
    const hybW = weights.map(() => [] as { split: Split; rank: number | null }[]);
    for (const m of merchants) {
      const mc = chunks.get(m)!;
      const t0 = performance.now();
      const embed = pooledEmbed ?? variant.fit(mc.map((c) => c.chunk_text));
      const vectors = mc.map((c) => embed(c.chunk_text));
      fitMs += performance.now() - t0;
      for (const q of questions.filter((x) => x.merchant === m)) {
        const qv = embed(q.question);
        const scored = mc.map((c, i) => ({ c, s: dot(qv, vectors[i]) }));
        scored.sort((a, b) => b.s - a.s || (a.c.id < b.c.id ? -1 : 1));
        const list: RankedChunk[] = scored
          .slice(0, POOL)
          .map((x) => ({ id: x.c.id, documentId: x.c.document_id, score: x.s }));
        vec.push({ split: q.split, rank: docRank(q, list) });
        const fused = fuse(list, q.lists.KEYWORD ?? [], DEFAULT_VECTOR_WEIGHT).map((f) => f.item);
        hyb.push({ split: q.split, rank: docRank(q, fused) });
        weights.forEach((w, i) =>
          hybW[i].push({
            split: q.split,
            rank: docRank(
              q,
              fuse(list, q.lists.KEYWORD ?? [], w).map((x) => x.item),
            ),
          }),
        );
      }
    }
    push(variant.name, 'VECTOR', fitMs, vec);
    push(variant.name, 'HYBRID', fitMs, hyb);
    weights.forEach((w, i) => push(`${variant.name}, w=${w}`, 'HYBRID', fitMs, hybW[i]));
    const all = rows.filter((r) => r.variant === variant.name && r.split === 'all');
    log(
      `${variant.name}: VECTOR ${all[0].mrrAt10.toFixed(3)} HYBRID ${all[1].mrrAt10.toFixed(3)} (fit+embed ${Math.round(fitMs)} ms)`,
    );
  }

  const f = (x: number): string => x.toFixed(3);
  const lines = [
    `# Local embedders fitted ${pool ? `on the whole set (${pool.length} chunks, --pooled)` : 'per merchant'} — ${dump.set}`,
    '',
    `${questions.length} questions, ${merchants.length} merchants, ${total} chunks; k = ${K} chunks, fusion pools ${POOL}, RRF w = ${DEFAULT_VECTOR_WEIGHT}. ${machine()}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(
        ' / ',
      )}. Written ${new Date().toISOString().slice(0, 16)}Z; the gateway rows come from the dump of the \`npm run eval\` run this read.`,
    '',
    '| variant | mode | MRR@10 all | R@1 | R@5 | R@10 | MRR@10 tune | MRR@10 test | R@5 test | fit+embed ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows.filter((x) => x.split === 'all')) {
    const tune = rows.find((x) => x.variant === r.variant && x.mode === r.mode && x.split === 'tune')!;
    const test = rows.find((x) => x.variant === r.variant && x.mode === r.mode && x.split === 'test')!;
    const mode = r.variant === 'gateway run KEYWORD' ? 'KEYWORD' : r.mode;
    lines.push(
      `| ${r.variant} | ${mode} | ${f(r.mrrAt10)} | ${f(r.recallAt1)} | ${f(r.recallAt5)} | ${f(r.recallAt10)} | ${f(tune.mrrAt10)} | ${f(test.mrrAt10)} | ${f(test.recallAt5)} | ${Math.round(r.fitMs)} |`,
    );
  }
  const md = `${lines.join('\n')}\n`;
  if (values.out)
    writeResults(
      values.out,
      {
        set: dump.set,
        machine: machine(),
        loadAverage: os.loadavg(),
        k: K,
        pool: POOL,
        pooled: !!pool,
        rows,
      },
      md,
    );
  else console.log(md);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
