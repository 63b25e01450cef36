import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { type EntityManager } from 'typeorm';
import { principalsFor } from '../src/auth/identity';
import { type ContentAccess } from '../src/auth/permissions';
import { ChunkRepository, type NewChunkRow } from '../src/chunks/chunk.repository';
import { SearchRepository } from '../src/retrieval/search.repository';
import { type ChunkSearchParams } from '../src/retrieval/search.types';
import { sha256 } from '../src/common/hash';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { enterTenant, TenantClaimSigner } from '../src/db/session';
import { createServices } from '../src/services';
import { DocumentRepository } from '../src/documents/document.repository';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import {
  allowRecreating,
  DATABASE_USAGE,
  log,
  machine,
  percentile,
  recreateDatabase,
  rng,
  writeResults,
} from './bench-utils';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { VectorGenerator } from './vector-generator';

/**
 * What row-level security costs. The same repository calls (the SQL requests run) are timed side by side, in one
 * run, interleaved with alternating order: as the owner (policies bypassed: the cost before RLS) and as the
 * gateway role in a transaction that first sets the caller with a signed claim (what every request does now). Also
 * the signed claims against the unsigned settings they replaced (migration 1764200000000), on the same connection
 * and data, and the plan each statement gets under the policies, to show which indexes still serve it.
 * Usage: npm run bench:rls [-- --queries 60 --reuse]   (native PostgreSQL: BENCH_DATABASE_URL, default srg_bench_rls;
 * the roles of scripts/db-roles.sql must exist)
 */
const USAGE = `Usage: npm run bench:rls -- [--queries 60] [--reuse] [--recreate-database NAME]

What row-level security costs: the same repository calls timed as the owner (policies bypassed) and as the
gateway role in a tenant transaction, interleaved, --queries each; plus the plans under the policies. Needs the
roles of scripts/db-roles.sql (npm run db:roles). --reuse keeps the data of an earlier run (~4 minutes to load).
Results: docs/benchmarks/rls-cost.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_rls)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    queries: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const QUERIES = integerOption(USAGE, 'queries', options.queries, 60);
/** Keep the database of an earlier run (its data is deterministic) instead of loading it again (~4 minutes). */
const REUSE = options.reuse;
const OWNER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_rls';
const gatewayUrl = (() => {
  const u = new URL(OWNER_URL);
  u.username = 'srg_gateway';
  u.password = process.env.BENCH_GATEWAY_PASSWORD ?? '';
  return u.toString();
})();
/** Merchant sizes: one large (HNSW path), one small (exact path), others as neighbours in the same table. */
const MERCHANTS: [string, number][] = [
  ['large', 8000],
  ['small', 400],
  ['n1', 2000],
  ['n2', 2000],
  ['n3', 2000],
];
const TOPICS = [
  'refund return money card statement credit reversal',
  'password reset login two factor account locked email',
  'shipping delivery parcel tracking carrier courier address',
  'warranty defect repair replacement broken faulty claim',
  'invoice billing tax receipt payment charge vat',
  'subscription plan upgrade cancel renewal trial seats',
];
const rand = rng(5);
const pick = (words: string[]): string => words[Math.floor(rand() * words.length)];

async function main(): Promise<void> {
  const started = Date.now();
  if (!REUSE) await recreateDatabase(OWNER_URL);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: gatewayUrl,
    MIGRATION_DATABASE_URL: OWNER_URL,
    DB_STATEMENT_TIMEOUT_MS: '0',
    // The large merchant gets its dedicated HNSW index (the strategy's path for big merchants).
    RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '5000',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
  });
  const db = await openDatabase(config, { migrate: true, poolSize: 1 });
  const owner = db.dataSource;
  const gateway = db.requestDataSource;
  const embedder = new LocalHashEmbedder(1536);
  const generator = new VectorGenerator(1536, 20261121);
  const services = createServices(config, db, embedder);
  const chunks = new ChunkRepository();
  const search = new SearchRepository();
  const documents = new DocumentRepository();

  for (const [merchant, size] of REUSE ? [] : MERCHANTS) {
    await services.merchants.provision({ id: merchant, name: merchant });
    for (let d = 0; d * 10 < size; d++) {
      const topic = d % TOPICS.length;
      const texts = Array.from(
        { length: 10 },
        (_, i) =>
          `Doc ${d} part ${i}: ${Array.from({ length: 14 }, () => pick(TOPICS[topic].split(' '))).join(' ')}.`,
      );
      const centre = generator.documentCentre(generator.topic());
      const vectors = texts.map(() => generator.chunk(centre));
      // Contractors read 5% of the documents, agents all.
      const acl = d % 20 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      await owner.transaction(async (m) => {
        await m.query(
          `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, acl, metadata)
           VALUES ($1, $2, $2, '', '', $3, $4::jsonb)`,
          [merchant, `d${d}`, acl, JSON.stringify({ category: `c${topic}` })],
        );
        const rows: NewChunkRow[] = texts.map((t, i) => ({
          chunkIndex: i,
          text: t,
          contentHash: sha256(t),
          headingPath: [],
          citation: `d${d}`,
          embedding: vectors[i],
        }));
        await chunks.insertChunks(m, merchant, { kind: 'document', documentId: `d${d}` }, 1, rows, {
          embeddingModel: embedder.model,
          metadata: { category: `c${topic}` },
          acl,
        });
      });
    }
    log(`merchant ${merchant}: ${size} chunks`);
  }
  if (!REUSE) {
    log('building the dedicated HNSW index of the large merchant');
    await services.indexes.ensureFor('large', 1536);
  }
  await owner.query(`ANALYZE`);

  const access = (merchant: string, role: string): ContentAccess => ({
    scope: { merchantId: merchant, principals: principalsFor('u1', [role]) },
    manageAll: false,
  });
  const queryVectors = Array.from({ length: QUERIES }, () => generator.query());
  // Fixed per query index, so both sides of a pair run the same query.
  const commonTerms = Array.from({ length: QUERIES }, (_, i) => pick(TOPICS[i % TOPICS.length].split(' ')));
  const params = (i: number, filter: ChunkSearchParams['filter'] = {}): ChunkSearchParams => ({
    embedding: queryVectors[i],
    corpus: { version: 1, dimensions: 1536 },
    k: 10,
    filter,
  });
  const tuning = { efSearch: 100, maxScanTuples: 20_000 };
  type Case = {
    name: string;
    access: ContentAccess;
    run: (m: EntityManager, a: ContentAccess, i: number) => Promise<unknown>;
    explain?: (m: EntityManager, a: ContentAccess) => Promise<string[]>;
  };
  /** Plans without the 1536 numbers of the query vector. */
  const shorten = (lines: string[]) => lines.map((l) => l.replace(/'\[[-0-9.,e+]+\]'/g, "'[…]'"));
  const explainSql = async (m: EntityManager, sql: string, p: unknown[]) =>
    (await m.query<{ 'QUERY PLAN': string }[]>(`EXPLAIN (COSTS OFF) ${sql}`, p)).map((r) => r['QUERY PLAN']);
  const explainKeyword = (m: EntityManager, term: string) =>
    explainSql(
      m,
      `SELECT id FROM document_chunks c WHERE c.search_terms @@ websearch_to_tsquery('english', $1)
          AND c.merchant_id = 'large' AND c.acl && '{role:agent}'::text[] AND c.corpus_version = 1`,
      [term],
    );
  const cases: Case[] = [
    {
      name: 'vector exact, small merchant (400 chunks), agent',
      access: access('small', 'agent'),
      run: (m, a, i) => search.searchExact(m, a.scope, params(i)),
      explain: (m, a) => search.explainExact(m, a.scope, params(0), false),
    },
    {
      name: 'vector exact, large merchant (8,000), contractor reads 5%',
      access: access('large', 'contractor'),
      run: (m, a, i) => search.searchExact(m, a.scope, params(i)),
      explain: (m, a) => search.explainExact(m, a.scope, params(0), false),
    },
    {
      name: 'vector quantized scan + re-rank, large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => search.searchQuantized(m, a.scope, params(i), 200),
      explain: (m, a) => search.explainQuantized(m, a.scope, params(0), 200, false),
    },
    {
      name: 'vector HNSW (the merchant’s own index), large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => search.searchHnsw(m, a.scope, params(i), tuning),
      explain: (m, a) => search.explainHnsw(m, a.scope, params(0), tuning),
    },
    {
      name: 'count readable (strategy choice), large merchant, contractor',
      access: access('large', 'contractor'),
      run: (m, a, i) => search.countReadableUpTo(m, a.scope, params(i), 1001),
    },
    {
      name: 'keyword, large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => search.searchKeyword(m, a.scope, params(i), commonTerms[i]),
      explain: (m) => explainKeyword(m, 'refund'),
    },
    {
      name: 'keyword, rare term (one document), large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => search.searchKeyword(m, a.scope, params(i), `${100 + i}`),
      explain: (m) => explainKeyword(m, '123'),
    },
    {
      name: 'metadata filter (jsonb @>), large merchant, exact',
      access: access('large', 'agent'),
      run: (m, a, i) => search.searchExact(m, a.scope, params(i, { category: `c${i % TOPICS.length}` })),
      explain: (m, a) => search.explainExact(m, a.scope, params(0, { category: 'c1' }), false),
    },
    {
      name: 'documents page (20), large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a) => documents.listVisible(m, a, { limit: 20 }, {}),
    },
  ];

  // "Today" before signed claims (migration 1764200000000): the readers' policies over the plain settings, for a
  // role of the benchmark's own, so both generations of the request path run side by side on the same data.
  await installUnsignedPolicies(owner);

  // Owner: no settings, policies bypassed (the cost before RLS). Unsigned: the request path before signed claims.
  // Signed: the request path now (gateway login, signed claim verified in the database).
  const claims = new TenantClaimSigner(owner);
  const asOwner = <T>(work: (m: EntityManager) => Promise<T>) => owner.transaction(work);
  const asGateway = <T>(a: ContentAccess, work: (m: EntityManager) => Promise<T>) =>
    gateway.transaction(async (m) => {
      await enterTenant(m, a, claims);
      return work(m);
    });
  const asUnsigned = <T>(a: ContentAccess, work: (m: EntityManager) => Promise<T>) =>
    owner.transaction(async (m) => {
      await m.query(
        `SELECT set_config('role', $1, true), set_config('app.merchant_id', $2, true),
                set_config('app.principals', $3::text[]::text, true)`,
        [UNSIGNED_ROLE, a.scope.merchantId, [...a.scope.principals]],
      );
      return work(m);
    });
  // The signed side on the owner's connection too, so "signed vs unsigned" compares like with like.
  const asSignedOnOwner = <T>(a: ContentAccess, work: (m: EntityManager) => Promise<T>) =>
    owner.transaction(async (m) => {
      await enterTenant(m, a, claims);
      return work(m);
    });
  type Side = 'owner' | 'rls' | 'unsigned' | 'signed';
  const sides: Side[] = ['owner', 'rls', 'unsigned', 'signed'];
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    const ms: Record<Side, number[]> = { owner: [], rls: [], unsigned: [], signed: [] };
    const ownerMs = ms.owner;
    const rlsMs = ms.rls;
    let sameRows = true;
    for (let i = 0; i < QUERIES + 5; i++) {
      const timeIt = async (side: Side) => {
        const t0 = performance.now();
        const work = (m: EntityManager) => c.run(m, c.access, i % QUERIES);
        const rows =
          side === 'owner'
            ? await asOwner(work)
            : side === 'rls'
              ? await asGateway(c.access, work)
              : side === 'unsigned'
                ? await asUnsigned(c.access, work)
                : await asSignedOnOwner(c.access, work);
        if (i >= 5) ms[side].push(performance.now() - t0); // 5 warm-up rounds
        return JSON.stringify(rows);
      };
      // Rotating order, so no side always runs first (warm cache) or last.
      const outputs: string[] = [];
      for (let s = 0; s < sides.length; s++) outputs.push(await timeIt(sides[(i + s) % sides.length]));
      if (outputs.some((o) => o !== outputs[0])) sameRows = false;
    }
    const plan = shorten(c.explain ? await asGateway(c.access, (m) => c.explain!(m, c.access)) : []);
    const ownerPlan = shorten(c.explain ? await asOwner((m) => c.explain!(m, c.access)) : []);
    const indexesOf = (lines: string[]) => [
      ...new Set(
        lines.flatMap((l) =>
          [...l.matchAll(/(?:Index(?: Only)? Scan|Bitmap Index Scan) (?:using|on) (\w+)/g)].map((x) => x[1]),
        ),
      ),
    ];
    const indexes = indexesOf(plan);
    const row = {
      case: c.name,
      ownerP50: percentile(ownerMs, 0.5),
      ownerP95: percentile(ownerMs, 0.95),
      rlsP50: percentile(rlsMs, 0.5),
      rlsP95: percentile(rlsMs, 0.95),
      ratioP50: percentile(rlsMs, 0.5) / percentile(ownerMs, 0.5),
      unsignedP50: percentile(ms.unsigned, 0.5),
      signedP50: percentile(ms.signed, 0.5),
      signedVsUnsignedP50: percentile(ms.signed, 0.5) / percentile(ms.unsigned, 0.5),
      sameRows,
      indexesUnderRls: indexes,
      indexesAsOwner: indexesOf(ownerPlan),
      seqScanUnderRls: plan.some((l) => /Seq Scan on document_chunks/.test(l)),
      plan,
      ownerPlan,
    };
    results.push(row);
    log(JSON.stringify({ ...row, plan: undefined }));
  }
  // The set-up statement alone, on an otherwise empty transaction, and with one small policy-checked read
  // (which evaluates the setting readers, and so the claim verification, once).
  const setupMs: number[] = [];
  const bareMs: number[] = [];
  const small: Record<'owner' | 'unsigned' | 'signed', number[]> = { owner: [], unsigned: [], signed: [] };
  const smallRead = (m: EntityManager) => m.query(`SELECT id FROM support_documents WHERE id = 'd1'`);
  const agent = access('large', 'agent');
  for (let i = 0; i < 400; i++) {
    let t0 = performance.now();
    await gateway.transaction((m) => m.query('SELECT 1'));
    bareMs.push(performance.now() - t0);
    t0 = performance.now();
    await asGateway(agent, (m) => m.query('SELECT 1'));
    setupMs.push(performance.now() - t0);
    const order: ('owner' | 'unsigned' | 'signed')[] = ['owner', 'unsigned', 'signed'];
    for (let s = 0; s < 3; s++) {
      const side = order[(i + s) % 3];
      t0 = performance.now();
      if (side === 'owner') await asOwner(smallRead);
      else if (side === 'unsigned') await asUnsigned(agent, smallRead);
      else await asSignedOnOwner(agent, smallRead);
      small[side].push(performance.now() - t0);
    }
  }
  // The verification alone, in the database: many evaluations in one statement.
  const verifyCost = await owner.transaction(async (m) => {
    await enterTenant(m, agent, claims);
    const time = async (expr: string) => {
      const t0 = performance.now();
      await m.query(`SELECT count(${expr}) FROM generate_series(1, 20000)`);
      return ((performance.now() - t0) * 1000) / 20000;
    };
    const baseline = await time(`nullif(current_setting('app.merchant_id', true), '')`);
    const verified = await time(`app_merchant_id()`);
    return { baselineUs: baseline, verifiedUs: verified };
  });
  const p50 = (xs: number[]) => percentile(xs, 0.5);

  const version = await owner.query<{ v: string; pgv: string }[]>(
    `SELECT version() AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv`,
  );
  const f = (x: number) => x.toFixed(2);
  const md = [
    '# The cost of row-level security',
    '',
    `Run ${new Date().toISOString()} on ${machine()}, ${version[0].v.split(' on ')[0]}, pgvector ${version[0].pgv}; ` +
      `${MERCHANTS.reduce((a, [, n]) => a + n, 0)} chunks in ${MERCHANTS.length} merchants (1536-d clustered vectors), ${QUERIES} queries per row after 5 warm-up rounds, ` +
      'each query run both ways in alternating order. **owner**: the same SQL in a transaction as the table owner (policies bypassed: the cost before RLS). ' +
      '**RLS**: as srg_gateway, the transaction first setting role, merchant and principals (the request path). Milliseconds per transaction. ' +
      'Reproduce: `npm run bench:rls`.',
    '',
    '| query | owner p50 | owner p95 | RLS p50 | RLS p95 | RLS / owner (p50) | same rows | indexes as owner | indexes under RLS |',
    '|---|---:|---:|---:|---:|---:|---|---|---|',
    ...results.map(
      (r) =>
        `| ${String(r.case)} | ${f(r.ownerP50 as number)} | ${f(r.ownerP95 as number)} | ${f(r.rlsP50 as number)} | ${f(r.rlsP95 as number)} | ${(r.ratioP50 as number).toFixed(2)}× | ${r.sameRows ? 'yes' : 'NO'} | ${(r.indexesAsOwner as string[]).join(', ') || '—'} | ${(r.indexesUnderRls as string[]).join(', ') || '—'}${r.seqScanUnderRls ? ' (seq scan!)' : ''} |`,
    ),
    '',
    `Setting the caller (one extra statement per transaction): \`SELECT 1\` in a transaction p50 ${f(percentile(bareMs, 0.5))} ms, ` +
      `with the set-up statement first ${f(percentile(setupMs, 0.5))} ms.`,
    '',
    '## Signed tenant claims vs the unsigned settings they replaced',
    '',
    'Both on the same connection (the owner entering the request role), interleaved in rotating order. **unsigned**: ' +
      "`set_config` of role, merchant and principals, and the readers' policies of migration 1764100000000 over the plain " +
      'settings (installed for a benchmark role). **signed**: what requests do now: `SET LOCAL` of role, merchant, ' +
      'principals and an HMAC claim, verified by `app_verified_capability()` once per statement per setting reader.',
    '',
    '| query | unsigned p50 | signed p50 | signed / unsigned |',
    '|---|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${String(r.case)} | ${f(r.unsignedP50 as number)} | ${f(r.signedP50 as number)} | ${(r.signedVsUnsignedP50 as number).toFixed(3)}× |`,
    ),
    `| one-row read (\`SELECT id FROM support_documents WHERE id = 'd1'\`), 400 runs | ${f(p50(small.unsigned))} | ${f(p50(small.signed))} | ${(p50(small.signed) / p50(small.unsigned)).toFixed(3)}× |`,
    '',
    `The same one-row read as the owner (no policies): p50 ${f(p50(small.owner))} ms. One evaluation of \`app_merchant_id()\` ` +
      `(claim verified) costs ${verifyCost.verifiedUs.toFixed(1)} µs in the database, against ${verifyCost.baselineUs.toFixed(1)} µs ` +
      'for reading the plain setting; a statement evaluates it once per reader it uses (InitPlans), not per row.',
    '',
  ].join('\n');
  writeResults(
    'rls-cost',
    {
      date: new Date().toISOString(),
      queries: QUERIES,
      merchants: MERCHANTS,
      results,
      setupP50: percentile(setupMs, 0.5),
      bareP50: percentile(bareMs, 0.5),
      smallReadP50: { owner: p50(small.owner), unsigned: p50(small.unsigned), signed: p50(small.signed) },
      verifyCost,
    },
    md,
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await db.close();
}

const UNSIGNED_ROLE = 'srg_bench_unsigned';

/**
 * The readers' policies as they were before signed claims, for a role of this benchmark's own (idempotent). Lives
 * only in the benchmark database; the role is cluster-wide, NOLOGIN and owns nothing.
 */
async function installUnsignedPolicies(owner: { query(sql: string): Promise<unknown> }): Promise<void> {
  await owner.query(`DO $$ BEGIN CREATE ROLE ${UNSIGNED_ROLE} NOLOGIN NOINHERIT;
                       EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await owner.query(`
    CREATE OR REPLACE FUNCTION bench_unsigned_merchant_id() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
      AS $$ SELECT nullif(current_setting('app.merchant_id', true), '') $$`);
  await owner.query(`
    CREATE OR REPLACE FUNCTION bench_unsigned_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
      AS $$ SELECT coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[]) $$`);
  const merchant = '(SELECT bench_unsigned_merchant_id())';
  const principals = '(SELECT bench_unsigned_principals())';
  const policies: [string, string][] = [
    ['merchants', `id = ${merchant}`],
    ['corpus_versions', `merchant_id = ${merchant}`],
    ['merchant_vector_indexes', `merchant_id = ${merchant}`],
    ['orders', `merchant_id = ${merchant}`],
    ['support_documents', `merchant_id = ${merchant} AND acl && ${principals}`],
    ['tickets', `merchant_id = ${merchant} AND acl && ${principals}`],
    ['document_chunks', `merchant_id = ${merchant} AND acl && ${principals}`],
  ];
  for (const [table, using] of policies) {
    await owner.query(`DROP POLICY IF EXISTS ${table}_bench_unsigned ON ${table}`);
    await owner.query(
      `CREATE POLICY ${table}_bench_unsigned ON ${table} FOR SELECT TO ${UNSIGNED_ROLE} USING (${using})`,
    );
    await owner.query(`GRANT SELECT ON ${table} TO ${UNSIGNED_ROLE}`);
  }
  await owner.query(`GRANT USAGE ON SCHEMA public TO ${UNSIGNED_ROLE}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
