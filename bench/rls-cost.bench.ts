import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { type EntityManager } from 'typeorm';
import { principalsFor } from '../src/auth/identity';
import { type ContentAccess } from '../src/auth/permissions';
import { ChunkRepository, type ChunkSearchParams, type NewChunkRow } from '../src/chunks/chunk.repository';
import { sha256 } from '../src/common/hash';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { enterTenant } from '../src/db/session';
import { createServices } from '../src/app';
import { DocumentRepository } from '../src/documents/document.repository';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { log, machine, percentile, recreateDatabase, rng, writeResults } from './bench-utils';
import { VectorGenerator } from './vector-generator';

/**
 * What row-level security costs. The same repository calls (the SQL requests run) are timed side by side, in one
 * run, interleaved with alternating order: as the owner (policies bypassed: the cost before RLS) and as the
 * gateway role in a transaction that first sets the caller (what every request does now). Also records the plan
 * each statement gets under the policies, to show which indexes still serve it.
 * Usage: npm run bench:rls [-- --queries 60 --reuse]   (native PostgreSQL: BENCH_DATABASE_URL, default srg_bench_rls;
 * the roles of scripts/db-roles.sql must exist)
 */
const args = process.argv.slice(2);
const argOf = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const QUERIES = Number(argOf('queries', '60'));
/** Keep the database of an earlier run (its data is deterministic) instead of loading it again (~4 minutes). */
const REUSE = args.includes('--reuse');
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
      `SELECT id FROM document_chunks c WHERE c.search_tsv @@ websearch_to_tsquery('english', $1)
          AND c.merchant_id = 'large' AND c.acl && '{role:agent}'::text[] AND c.corpus_version = 1
        ORDER BY ts_rank_cd(c.search_tsv, websearch_to_tsquery('english', $1), 32) DESC LIMIT 10`,
      [term],
    );
  const cases: Case[] = [
    {
      name: 'vector exact, small merchant (400 chunks), agent',
      access: access('small', 'agent'),
      run: (m, a, i) => chunks.searchExact(m, a.scope, params(i)),
      explain: (m, a) => chunks.explainExact(m, a.scope, params(0), false),
    },
    {
      name: 'vector exact, large merchant (8,000), contractor reads 5%',
      access: access('large', 'contractor'),
      run: (m, a, i) => chunks.searchExact(m, a.scope, params(i)),
      explain: (m, a) => chunks.explainExact(m, a.scope, params(0), false),
    },
    {
      name: 'vector quantized scan + re-rank, large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => chunks.searchQuantized(m, a.scope, params(i), 200),
      explain: (m, a) => chunks.explainQuantized(m, a.scope, params(0), 200, false),
    },
    {
      name: 'vector HNSW (the merchant’s own index), large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => chunks.searchHnsw(m, a.scope, params(i), tuning),
      explain: (m, a) => chunks.explainHnsw(m, a.scope, params(0), tuning),
    },
    {
      name: 'count readable (strategy choice), large merchant, contractor',
      access: access('large', 'contractor'),
      run: (m, a, i) => chunks.countReadableUpTo(m, a.scope, params(i), 1001),
    },
    {
      name: 'keyword, large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => chunks.searchKeyword(m, a.scope, params(i), commonTerms[i]),
      explain: (m) => explainKeyword(m, 'refund'),
    },
    {
      name: 'keyword, rare term (one document), large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a, i) => chunks.searchKeyword(m, a.scope, params(i), `${100 + i}`),
      explain: (m) => explainKeyword(m, '123'),
    },
    {
      name: 'metadata filter (jsonb @>), large merchant, exact',
      access: access('large', 'agent'),
      run: (m, a, i) => chunks.searchExact(m, a.scope, params(i, { category: `c${i % TOPICS.length}` })),
      explain: (m, a) => chunks.explainExact(m, a.scope, params(0, { category: 'c1' }), false),
    },
    {
      name: 'documents page (20), large merchant, agent',
      access: access('large', 'agent'),
      run: (m, a) => documents.listVisible(m, a, { limit: 20 }, {}),
    },
  ];

  // Owner: no settings, policies bypassed (the cost before RLS). Gateway: the request path.
  const asOwner = <T>(work: (m: EntityManager) => Promise<T>) => owner.transaction(work);
  const asGateway = <T>(a: ContentAccess, work: (m: EntityManager) => Promise<T>) =>
    gateway.transaction(async (m) => {
      await enterTenant(m, a, claims);
      return work(m);
    });
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    const ownerMs: number[] = [];
    const rlsMs: number[] = [];
    let sameRows = true;
    for (let i = 0; i < QUERIES + 5; i++) {
      const timeIt = async (side: 'owner' | 'rls') => {
        const t0 = performance.now();
        const rows =
          side === 'owner'
            ? await asOwner((m) => c.run(m, c.access, i % QUERIES))
            : await asGateway(c.access, (m) => c.run(m, c.access, i % QUERIES));
        const ms = performance.now() - t0;
        if (i >= 5) (side === 'owner' ? ownerMs : rlsMs).push(ms); // 5 warm-up rounds
        return JSON.stringify(rows);
      };
      const [a, b] =
        i % 2 === 0
          ? [await timeIt('owner'), await timeIt('rls')]
          : [await timeIt('rls'), await timeIt('owner')];
      if (a !== b) sameRows = false;
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
  // The set-up statement alone, on an otherwise empty transaction.
  const setupMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < 200; i++) {
    let t0 = performance.now();
    await gateway.transaction((m) => m.query('SELECT 1'));
    bareMs.push(performance.now() - t0);
    t0 = performance.now();
    await asGateway(access('large', 'agent'), (m) => m.query('SELECT 1'));
    setupMs.push(performance.now() - t0);
  }

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
    },
    md,
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
