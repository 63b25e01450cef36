import { Client } from 'pg';
import { principalsFor } from '../../src/auth/identity';
import { SearchStrategy } from '../../src/retrieval/search-strategy';
import { SearchRepository } from '../../src/retrieval/search.repository';
import { nativeGatewayUrl, nativeTestUrl } from '../support/test-env';
import { createTestMerchant, errorCode, startTestGateway, type TestGateway } from '../support/test-gateway';

/**
 * On a Citus cluster (`npm run test:citus`; this folder is not part of `npm test`): everything one merchant's
 * request runs is a single-shard router query, so a request involves one worker and no distributed plan.
 *
 * Two proofs. The plans of the three vector strategies (EXPLAIN ANALYZE of the statement the retrieval runs) are
 * one Citus task on one worker. And the gateway's request connection runs with
 * `citus.multi_task_query_log_level = error`, which makes Citus refuse any statement that would touch more than
 * one shard: ingestion, the three retrieval modes, documents and agent context then succeed only if every one of
 * their statements is single-shard.
 */
const TOPICS = [
  'refund return money back card statement credit',
  'password reset login two factor account locked',
  'shipping delivery parcel tracking carrier courier',
  'warranty defect repair replacement broken faulty',
];

describe('Citus: a merchant’s requests are single-shard router queries', () => {
  let t: TestGateway;
  let big: string;
  let medium: string;
  let bigIndex: string;
  const previousGatewayUrl = process.env.TEST_GATEWAY_DATABASE_URL;
  const who = (merchantId: string, userId: string, roles: string[]) => ({
    merchantId,
    userId,
    roles,
    principals: principalsFor(userId, roles),
  });

  async function load(merchant: string, docs: number): Promise<void> {
    for (let d = 0; d < docs; d++) {
      const topic = TOPICS[d % TOPICS.length];
      const text = [0, 1, 2, 3]
        .map(
          (s) =>
            `## Part ${s}\n\nItem ${d}-${s} covers ${topic
              .split(' ')
              .slice(s, s + 3)
              .join(' and ')}.`,
        )
        .join('\n\n');
      const acl = d % 10 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      await t.services.ingestion.writeDocument(merchant, { id: `doc-${d}`, title: `Doc ${d}`, text, acl });
    }
  }

  beforeAll(async () => {
    const owner = nativeTestUrl();
    if (!owner) throw new Error('test/citus needs TEST_DATABASE_URL pointing at a Citus coordinator');
    const gateway = new URL(nativeGatewayUrl(owner));
    gateway.searchParams.set('options', '-c citus.multi_task_query_log_level=error');
    process.env.TEST_GATEWAY_DATABASE_URL = gateway.toString();
    t = await startTestGateway({
      env: {
        RETRIEVAL_EXACT_SCAN_MAX_ROWS: '40',
        RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '100',
        RETRIEVAL_INDEX_AUTOBUILD: 'false',
      },
    });
    const citus = await t.db.dataSource.query<unknown[]>(
      `SELECT 1 FROM pg_extension WHERE extname = 'citus'`,
    );
    if (citus.length === 0) throw new Error('TEST_DATABASE_URL is not a Citus coordinator');
    big = await createTestMerchant(t, 'citus-big');
    medium = await createTestMerchant(t, 'citus-medium');
    await load(big, 40); // 160 chunks: above the dedicated-index threshold
    await load(medium, 15); // 60 chunks: above the exact threshold, below the index one
    const built = await t.services.indexes.maintain({ merchantId: big });
    expect(built.map((b) => b.outcome)).toEqual(['created']);
    bigIndex = built[0].indexName!;
  }, 300_000);

  afterAll(async () => {
    await t?.close();
    if (previousGatewayUrl === undefined) delete process.env.TEST_GATEWAY_DATABASE_URL;
    else process.env.TEST_GATEWAY_DATABASE_URL = previousGatewayUrl;
  });

  it('refuses a multi-shard statement on the request connection (the guard the other tests rely on is on)', async () => {
    await expect(t.db.requestDataSource.query(`SELECT count(*) FROM document_chunks`)).rejects.toThrow(
      /multi-task|multi-shard|more than one/i,
    );
  });

  it.each([
    ['dedicated HNSW index', () => who(big, 'a1', ['agent']), /^hnsw/],
    ['quantized scan', () => who(medium, 'a1', ['agent']), /^quantized$/],
    ['exact search (narrow reader)', () => who(big, 'c1', ['contractor']), /^exact$/],
  ])('%s: EXPLAIN shows one task on one worker', async (_label, identity, strategy) => {
    const result = await t.services.retrieval.retrieve(t.services.sessions.open(identity()), {
      query: 'refund to my card',
      k: 5,
      mode: 'vector',
      explain: true,
    });
    expect(result.strategy).toMatch(strategy);
    expect(result.chunks.length).toBeGreaterThan(0);
    const plan = result.plan!.join('\n');
    expect(plan).toMatch(/Custom Scan \(Citus Adaptive\)/);
    expect(plan).toMatch(/Task Count: 1\n/);
    expect(plan).not.toMatch(/Task Count: (?!1\n)\d+/);
    expect(plan).not.toMatch(/Distributed Subplan|Subplan \d+_\d+/);
    expect(plan).toMatch(/Node: host=\S+ port=\d+ dbname=/);
  });

  it('the large merchant’s search runs through its dedicated index on the worker that holds its shard', async () => {
    // EXPLAIN ANALYZE of a parameterized statement is planned generically on the worker (the partial index's
    // `merchant_id = '…'` cannot match a parameter there), so the plan above may show the btree: the proof is the
    // index's own scan counter on the worker, which execution (planned with the values) increments.
    const [placement] = await t.db.dataSource.query<{ nodename: string; nodeport: number }[]>(
      `SELECT nodename, nodeport FROM citus_shards
        WHERE table_name = 'document_chunks'::regclass
          AND shardid = get_shard_id_for_distribution_column('document_chunks', $1::text)`,
      [big],
    );
    const worker = new URL(nativeTestUrl()!);
    worker.hostname = placement.nodename;
    worker.port = String(placement.nodeport);
    const client = new Client({ connectionString: worker.toString() });
    await client.connect();
    try {
      await client.query(`SET citus.override_table_visibility TO off`); // show the shards' own indexes
      const scans = async () => {
        await client.query(`SELECT pg_stat_clear_snapshot()`);
        const rows = await client.query<{ n: string }>(
          `SELECT coalesce(sum(idx_scan), 0)::text AS n FROM pg_stat_user_indexes WHERE indexrelname LIKE $1`,
          [`${bigIndex}\\_%`],
        );
        return Number(rows.rows[0].n);
      };
      const before = await scans();
      const result = await t.services.retrieval.retrieve(
        t.services.sessions.open(who(big, 'a1', ['agent'])),
        {
          query: 'password reset locked',
          k: 5,
          mode: 'vector',
        },
      );
      expect(result.strategy).toBe('hnsw');
      // Statistics reach the shared counters when the worker's backend goes idle (within about a second).
      let after = before;
      for (let i = 0; i < 60 && after === before; i++) {
        await new Promise((r) => setTimeout(r, 250));
        after = await scans();
      }
      expect(after).toBeGreaterThan(before);
    } finally {
      await client.end();
    }
  });

  it('the retrieval’s first statement runs on the merchant’s worker, and its tuning is in force there for the search', async () => {
    // set_config is not carried to workers by Citus; the prelude's set_config calls take effect on the worker only
    // because the whole statement runs there (a router query), in the worker transaction the search then uses.
    const strategy = new SearchStrategy(new SearchRepository(), t.config);
    const session = t.services.sessions.open(who(big, 'a1', ['agent']));
    const seen = await session.read(strategy.prelude(7, big, true), async (client, facts) => {
      const [worker] = await client.query<{ ef: string; seqscan: string; iterative: string }>(
        `SELECT current_setting('hnsw.ef_search') AS ef, current_setting('enable_seqscan') AS seqscan,
                current_setting('hnsw.iterative_scan') AS iterative
           FROM document_chunks WHERE merchant_id = $1 LIMIT 1`,
        [big],
      );
      return { facts: strategy.facts(facts), worker };
    });
    expect(seen.facts?.indexName).toBe(bigIndex);
    const ef = Math.max(t.config.retrieval.hnswEfSearch, 7, t.config.retrieval.hnswCandidates);
    expect(seen.worker).toEqual({ ef: String(ef), seqscan: 'off', iterative: 'relaxed_order' });
  });

  it('ingestion, every retrieval mode, documents and agent context: each statement single-shard', async () => {
    const admin = { merchantId: big, userId: 'admin1', roles: ['admin', 'agent'] };
    const ingested = await t.gql<{ ingestDocument: { document: { id: string } } }>(
      `mutation I($input: IngestDocumentInput!) { ingestDocument(input: $input) { document { id } } }`,
      {
        input: {
          id: 'routing-doc',
          title: 'Routing',
          text: '## Refunds\n\nRefunds reach the card within five days.',
          acl: ['role:agent'],
        },
      },
      admin,
    );
    expect(ingested.errors).toBeUndefined();
    for (const mode of ['VECTOR', 'KEYWORD', 'HYBRID']) {
      const res = await t.gql<{ retrieveChunks: { chunks: { documentId: string | null }[] } }>(
        `query R($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { documentId } } }`,
        { input: { query: 'refunds card', k: 5, mode } },
        admin,
      );
      expect([mode, res.errors]).toEqual([mode, undefined]);
      expect(res.data!.retrieveChunks.chunks.length).toBeGreaterThan(0);
    }
    const doc = await t.gql<{ document: { title: string } | null }>(
      `query { document(id: "routing-doc") { title } }`,
      {},
      admin,
    );
    expect(doc.errors).toBeUndefined();
    expect(doc.data!.document).toEqual({ title: 'Routing' });
    const list = await t.gql<{ documents: { nodes: unknown[] } }>(
      `query { documents(first: 5) { nodes { id } } }`,
      {},
      admin,
    );
    expect(list.errors).toBeUndefined();
    expect(list.data!.documents.nodes).toHaveLength(5);
    const context = await t.gql<{ agentContext: { policies: unknown[] } }>(
      `query { agentContext(input: { customerId: "c1", question: "refund to my card" }) { policies { id } } }`,
      {},
      admin,
    );
    expect(context.errors).toBeUndefined();
    const deleted = await t.gql<{ deleteDocument: boolean }>(
      `mutation { deleteDocument(id: "routing-doc") }`,
      {},
      admin,
    );
    expect([deleted.errors, errorCode(deleted), deleted.data]).toEqual([
      undefined,
      undefined,
      { deleteDocument: true },
    ]);
  });
});
