import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createGateway } from '../../src/app';
import { signToken } from '../../src/auth/jwt';
import { loadConfig } from '../../src/config/config';
import { openDatabase } from '../../src/db/database';
import { createEmbedder } from '../../src/embeddings/embedder.factory';
import { createLogger } from '../../src/ops/logger';
import { commitStamp, log, machine, writeResults } from '../bench-utils';
import { convertDstc10, convertSamsung, type ConvertReport, EVAL_ROLE } from './converters';
import { readLabelledSet } from './labelled-set';
import { evaluate, loadSet, type Mode, type ModeResult, MODES, type RankedChunk } from './runner';

const HELP = `Usage: npm run eval -- [options] <set> [<set> ...]

Runs labelled questions through the real GraphQL path (a gateway on a local port, over HTTP) in each retrieval
mode and reports recall@1/5/10, MRR@10 and latency, per set and per split (tune / test), written to
docs/benchmarks/eval-<set>.json and .md with the commit. docs/EVAL.md describes the labelled-set format.

<set>   a labelled-set folder (documents/<merchant>/*.md + questions.jsonl), or one of the shared datasets,
        converted first into a temporary folder:
          samsung   /work/shared/datasets/samsung-emanuals (S10 + smart TV manuals and their questions)
          dstc10    /work/shared/datasets/dstc10-faq (validation questions, one business = one merchant)

Options:
  --database-url URL  native PostgreSQL database to load and query (default: EVAL_DATABASE_URL). A database that
                      does not exist is created, and dropped at the end unless --keep; an existing one is used as
                      it is (loading is idempotent) and never dropped. Without a URL: an embedded PGlite in a
                      temporary folder, removed at the end.
  --modes LIST        comma-separated, of KEYWORD,VECTOR,HYBRID (default: all three)
  --k N               chunks asked per question, 1..50 (default 20); ranks are over their distinct documents
  --split S           all (default), tune or test: which questions to ask
  --limit N           ask at most the first N questions of each set
  --distractors N     samsung/dstc10: more manuals/businesses loaded as merchants of their own (default 4 / 0)
  --hybrid-weight W   vector weight of HYBRID fusion, 0..1 (default: the gateway's)
  --out NAME          result file name (default eval-<set name>); --no-write prints the table only
  --keep              keep a database this run created
  --keep-boilerplate  load every file's full text (default: blocks repeated across a merchant's files are
                      stripped, as \`npm run load\` does; the load log says how many)
  --dump FILE         also write every ranked chunk list (id, document, score) as JSON, for bench/eval/tune-fusion
  --help              this text

Environment: EMBEDDING_* / OPENAI_* choose the embedder (default: the local one) and RETRIEVAL_* tune retrieval,
as for the gateway. Keep runs modest on a shared machine: one set at a time, --limit while iterating.`;

interface SetReport {
  name: string;
  description?: string;
  dir: string;
  conversion?: ConvertReport;
  merchants: number;
  documents: number;
  chunks: number;
  loadSeconds: number;
  questions: number;
  unresolvedQuestions: number;
  results: ModeResult[];
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'database-url': { type: 'string' },
      modes: { type: 'string', default: MODES.join(',') },
      k: { type: 'string', default: '20' },
      split: { type: 'string', default: 'all' },
      limit: { type: 'string' },
      distractors: { type: 'string' },
      'hybrid-weight': { type: 'string' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'keep-boilerplate': { type: 'boolean', default: false },
      dump: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const fail = (msg: string): never => {
    console.error(`error: ${msg}\n\n${HELP}`);
    process.exit(2);
  };
  if (positionals.length === 0) fail('name at least one labelled set');
  const modes = values.modes.split(',').map((m) => m.trim().toUpperCase()) as Mode[];
  if (modes.some((m) => !MODES.includes(m))) fail(`--modes takes ${MODES.join(', ')}`);
  const k = Number(values.k);
  if (!Number.isInteger(k) || k < 1 || k > 50) fail('--k must be an integer from 1 to 50');
  if (!['all', 'tune', 'test'].includes(values.split)) fail('--split must be all, tune or test');
  const limit = values.limit !== undefined ? Number(values.limit) : Infinity;
  if (!(limit > 0)) fail('--limit must be a positive integer');
  const hybridWeight = values['hybrid-weight'] !== undefined ? Number(values['hybrid-weight']) : undefined;
  if (hybridWeight !== undefined && !(hybridWeight >= 0 && hybridWeight <= 1))
    fail('--hybrid-weight must be between 0 and 1');
  const distractors = values.distractors !== undefined ? Number(values.distractors) : undefined;
  if (distractors !== undefined && !(Number.isInteger(distractors) && distractors >= 0))
    fail('--distractors must be a non-negative integer');

  const temp: string[] = [];
  const sets = positionals.map((p) => {
    if (p === 'samsung' || p === 'dstc10') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `srg-eval-${p}-`));
      temp.push(dir);
      const conversion =
        p === 'samsung'
          ? convertSamsung(dir, { distractors: distractors ?? 4 })
          : convertDstc10(dir, { distractors: distractors ?? 0 });
      log(`converted ${conversion.name}: ${JSON.stringify(conversion)}`);
      return { set: readLabelledSet(dir), conversion };
    }
    return { set: readLabelledSet(p), conversion: undefined };
  });

  const url = values['database-url'] ?? process.env.EVAL_DATABASE_URL;
  const secret = crypto.randomBytes(32).toString('hex');
  let created = false;
  let env: Record<string, string>;
  let backend: string;
  if (url) {
    created = await ensureDatabase(url);
    const gatewayUrl = await gatewayRoleUrl(url);
    env = gatewayUrl ? { DATABASE_URL: gatewayUrl, MIGRATION_DATABASE_URL: url } : { DATABASE_URL: url };
    backend = `native PostgreSQL (${new URL(url).pathname.slice(1)}${created ? ', created for this run' : ''}; requests as ${gatewayUrl ? 'srg_gateway' : 'the owner'})`;
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-eval-db-'));
    temp.push(dir);
    env = { PGLITE_DATA_DIR: dir };
    backend = 'embedded PGlite';
  }
  const passThrough = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] =>
        /^(EMBEDDING_|OPENAI_|RETRIEVAL_|DB_)/.test(e[0]) && e[1] !== undefined && e[1] !== '',
    ),
  );
  const config = loadConfig({
    // Background index builds would change the vector strategy half-way through a run; enable them explicitly.
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
    ...passThrough,
    ...env,
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: secret,
    RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
    RATE_LIMIT_CALLER_PER_MINUTE: '0',
    METRICS_ENABLED: 'false',
  });
  const loadBefore = os.loadavg();
  const db = await openDatabase(config, { migrate: true, poolSize: 4 });
  const cleanup = async (): Promise<void> => {
    await db.close().catch(() => undefined);
    if (created && !values.keep && url) await dropDatabase(url);
    for (const dir of temp) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const embedder = createEmbedder(config);
    const gateway = await createGateway({
      config,
      db,
      embedder,
      jwtSecret: secret,
      logger: createLogger('silent'),
    });
    const endpoint = await gateway.listen(0, '127.0.0.1');
    log(`gateway at ${endpoint} on ${backend}, embedder ${embedder.model}@${embedder.dimensions}`);
    const tokens = new Map<string, string>();
    const token = (merchant: string): string => {
      let t = tokens.get(merchant);
      if (!t) {
        t = signToken({ sub: 'eval-reader', merchantId: merchant, roles: [EVAL_ROLE] }, secret, 6 * 3600);
        tokens.set(merchant, t);
      }
      return t;
    };
    const reports: SetReport[] = [];
    try {
      for (const { set, conversion } of sets) {
        log(`▶ ${set.meta.name}: loading ${set.merchants.size} merchants`);
        const loaded = await loadSet(gateway.services, set, log, undefined, {
          keepBoilerplate: values['keep-boilerplate'],
        });
        loaded.questions = loaded.questions
          .filter((q) => values.split === 'all' || q.split === values.split)
          .slice(0, limit);
        log(`▶ ${set.meta.name}: ${loaded.questions.length} questions × ${modes.join('/')}`);
        const lists = new Map<string, Partial<Record<Mode, RankedChunk[]>>>();
        const { results, ranks } = await evaluate(
          { endpoint, token, k, hybridWeight },
          loaded,
          modes,
          values.dump
            ? (q, mode, chunks) => lists.set(q.id, { ...lists.get(q.id), [mode]: chunks })
            : undefined,
        );
        if (values.dump) {
          const file =
            sets.length > 1 ? values.dump.replace(/(\.json)?$/, `-${slug(set.meta.name)}.json`) : values.dump;
          const dump = loaded.questions.map((q) => ({
            id: q.id,
            split: q.split,
            relevant: [...q.relevantIds],
            lists: lists.get(q.id) ?? {},
          }));
          fs.writeFileSync(file, JSON.stringify({ set: set.meta.name, k, questions: dump }));
          log(`ranked lists written to ${file}`);
        }
        const report: SetReport = {
          name: set.meta.name,
          description: set.meta.description,
          dir: set.dir,
          conversion,
          merchants: set.merchants.size,
          documents: loaded.documents,
          chunks: loaded.chunks,
          loadSeconds: loaded.loadSeconds,
          questions: loaded.questions.length,
          unresolvedQuestions: loaded.unresolved,
          results,
        };
        reports.push(report);
        const run = runInfo(backend, embedder.model, k, hybridWeight, loadBefore, config.retrieval);
        const md = markdown(report, run);
        const perQuestion = loaded.questions.map((q) => ({
          id: q.id,
          split: q.split,
          ranks: ranks.get(q.id),
        }));
        if (values['no-write']) console.log(md);
        else writeResults(values.out ?? `eval-${slug(set.meta.name)}`, { run, ...report, perQuestion }, md);
      }
    } finally {
      await gateway.stop();
    }
  } finally {
    await cleanup();
  }
}

function runInfo(
  backend: string,
  model: string,
  k: number,
  hybridWeight: number | undefined,
  loadBefore: number[],
  retrieval: unknown,
) {
  return {
    date: new Date().toISOString(),
    commit: commitStamp(),
    backend,
    embeddingModel: model,
    k,
    hybridWeight: hybridWeight ?? 'default',
    machine: machine(),
    loadAverage: {
      before: loadBefore.map((x) => +x.toFixed(2)),
      after: os.loadavg().map((x) => +x.toFixed(2)),
    },
    retrieval,
  };
}

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '–');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');

function markdown(r: SetReport, run: ReturnType<typeof runInfo>): string {
  const rows = (split: 'all' | 'tune' | 'test') =>
    r.results.map(
      (m) =>
        `| ${m.mode} | ${m[split].questions} | ${f3(m[split].recallAt1)} | ${f3(m[split].recallAt5)} | ${f3(m[split].recallAt10)} | ${f3(m[split].mrrAt10)} |` +
        (split === 'all'
          ? ` ${f1(m.latencyMs.p50)} / ${f1(m.latencyMs.p95)} | ${f1(m.serverMs.mean)} | ${m.errors} |`
          : ''),
    );
  return [
    `# Eval: ${r.name}`,
    '',
    `${r.description ?? ''}`,
    '',
    `Commit ${run.commit}, ${run.date}; ${run.backend}; embedder ${run.embeddingModel}; k = ${run.k} chunks, ranks over their distinct documents; hybrid weight ${run.hybridWeight}.`,
    `Machine: ${run.machine}; load average ${run.loadAverage.before.join(' ')} before, ${run.loadAverage.after.join(' ')} after (shared machine).`,
    `${r.merchants} merchants, ${r.documents} documents, ${r.chunks} chunks (loaded in ${f1(r.loadSeconds)} s); ${r.questions} questions` +
      (r.unresolvedQuestions ? ` (${r.unresolvedQuestions} dropped: no relevant document found)` : '') +
      (r.conversion ? `; conversion: ${JSON.stringify(r.conversion)}` : '') +
      '.',
    '',
    '| mode | questions | R@1 | R@5 | R@10 | MRR@10 | latency p50 / p95 ms (HTTP) | server ms (mean) | errors |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows('all'),
    '',
    'Per split (tune: what parameters may be chosen on; test: what is reported as held out):',
    '',
    '| mode (tune) | questions | R@1 | R@5 | R@10 | MRR@10 |',
    '|---|---|---|---|---|---|',
    ...rows('tune'),
    '',
    '| mode (test) | questions | R@1 | R@5 | R@10 | MRR@10 |',
    '|---|---|---|---|---|---|',
    ...rows('test'),
    '',
  ].join('\n');
}

const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Creates the database when it does not exist; true when this run created it (and may therefore drop it). */
async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: target.toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    // The name goes into DDL: allow only plain identifiers.
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`will not create a database named ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    log(`created database ${name}`);
    return true;
  } finally {
    await admin.end();
  }
}

async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) return;
  target.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: target.toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    log(`dropped database ${name} (created by this run)`);
  } finally {
    await admin.end();
  }
}

/** The same database as the request role srg_gateway (scripts/db-roles.sql) when that role exists. */
async function gatewayRoleUrl(url: string): Promise<string | null> {
  const explicit = process.env.EVAL_GATEWAY_DATABASE_URL?.trim();
  if (explicit) return explicit;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rowCount } = await c.query(`SELECT 1 FROM pg_roles WHERE rolname = 'srg_gateway'`);
    if (!rowCount) return null;
  } finally {
    await c.end();
  }
  const u = new URL(url);
  u.username = 'srg_gateway';
  u.password = process.env.SRG_GATEWAY_PASSWORD ?? '';
  return u.toString();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
