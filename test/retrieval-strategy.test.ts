import { fromSql } from 'pgvector';
import { scopeOf } from '../src/auth/identity';
import { MerchantIndexService } from '../src/vector-index/merchant-index.service';
import { VectorIndexRepository } from '../src/vector-index/vector-index.repository';
import { RetrievalService } from '../src/retrieval/retrieval.service';
import { SearchStrategy } from '../src/retrieval/search-strategy';
import { SearchRepository } from '../src/retrieval/search.repository';
import { principalsFor } from '../src/auth/identity';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * Every strategy must return min(k, readable) rows that agree with the exact answer, computed here in JavaScript
 * from the stored vectors, independently of the SQL: exact (few candidates), the binary-quantization scan with
 * exact re-rank (a medium merchant), the merchant's dedicated HNSW index (a large merchant), and the quantized
 * fallback when the HNSW scan comes back short. Thresholds are scaled down so the test data stays small.
 */
const TOPICS = [
  'refund return money back card statement credit',
  'password reset login two factor account locked',
  'shipping delivery parcel tracking carrier courier',
  'warranty defect repair replacement broken faulty',
  'invoice billing tax receipt payment charge',
  'subscription plan upgrade cancel renewal trial',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function sectionText(rand: () => number, topic: string, doc: number, sec: number): string {
  const words = topic.split(' ');
  const pick = () => words[Math.floor(rand() * words.length)];
  const sentences = Array.from(
    { length: 3 },
    (_, i) => `Item ${doc}-${sec}-${i} covers ${pick()} and ${pick()} for ${pick()} cases.`,
  );
  return `## Part ${sec} ${pick()}\n\n${sentences.join(' ')}`;
}

interface Row {
  id: string;
  acl: string[];
  embedding: number[];
}

function exactTopK(rows: Row[], principals: string[], query: number[], k: number): string[] {
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  const qn = Math.sqrt(dot(query, query));
  return rows
    .filter((r) => r.acl.some((p) => principals.includes(p)))
    .map((r) => ({
      id: r.id,
      d: 1 - dot(r.embedding, query) / (Math.sqrt(dot(r.embedding, r.embedding)) * qn),
    }))
    .sort((a, b) => a.d - b.d || Number(a.id) - Number(b.id))
    .slice(0, k)
    .map((r) => r.id);
}

describe('retrieval strategies return min(k, readable) rows that match the exact answer', () => {
  let t: TestGateway;
  let big: string;
  let medium: string;
  let small: string;
  let rowsBig: Row[];
  let rowsMedium: Row[];
  let rowsSmall: Row[];
  let bigIndex: string;
  const agent = (m: string) => ({
    merchantId: m,
    userId: 'agent',
    roles: ['agent'],
    principals: principalsFor('agent', ['agent']),
  });
  const contractor = (m: string) => ({
    merchantId: m,
    userId: 'con',
    roles: ['contractor'],
    principals: principalsFor('con', ['contractor']),
  });

  async function load(merchant: string, docs: number, seed: number): Promise<Row[]> {
    const rand = rng(seed);
    for (let d = 0; d < docs; d++) {
      const topic = TOPICS[d % TOPICS.length];
      const text = [0, 1, 2, 3].map((s) => sectionText(rand, topic, d, s)).join('\n\n');
      // Contractors read about 5% of the documents.
      const acl = d % 20 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      await t.services.ingestion.writeDocument(merchant, { id: `doc-${d}`, title: `Doc ${d}`, text, acl });
    }
    const rows: { id: string; acl: string[]; e: string }[] = await t.db.dataSource.query(
      `SELECT id::text AS id, acl, embedding::text AS e FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    return rows.map((r) => ({ id: r.id, acl: r.acl, embedding: fromSql(r.e) as number[] }));
  }

  const vectorParams = (embedding: number[], k = 10) => ({
    embedding,
    corpus: { version: 1, dimensions: 1536 },
    k,
    filter: {},
  });

  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        RETRIEVAL_EXACT_SCAN_MAX_ROWS: '300',
        RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '600',
        RETRIEVAL_INDEX_AUTOBUILD: 'false',
      },
    });
    big = await createTestMerchant(t, 'big');
    medium = await createTestMerchant(t, 'medium');
    small = await createTestMerchant(t, 'small');
    rowsBig = await load(big, 160, 7); // 640 chunks: above the dedicated-index threshold
    rowsMedium = await load(medium, 100, 5); // 400 chunks: above the exact threshold, below the index one
    rowsSmall = await load(small, 12, 11); // 48 chunks
    const built = await t.services.indexes.maintain({ merchantId: big });
    expect(built.map((b) => b.outcome)).toEqual(['created']);
    bigIndex = built[0].indexName!;
    expect(await t.services.indexes.maintain({ merchantId: medium })).toEqual([]);
  }, 300_000);
  afterAll(async () => {
    await t.close();
  });

  const queries = [
    'refund to my card',
    'reset password locked',
    'parcel tracking',
    'broken item repair',
    'cancel subscription',
    'tax invoice',
  ];

  it.each([
    ['large merchant, agent reads all', () => big, agent, () => rowsBig, /^hnsw$/],
    ['medium merchant, agent reads all', () => medium, agent, () => rowsMedium, /^quantized$/],
    // 32 readable chunks, below the threshold of 300: a narrow reader is searched exactly, however big the merchant.
    ['large merchant, contractor reads 5%', () => big, contractor, () => rowsBig, /^exact$/],
    ['small merchant, agent', () => small, agent, () => rowsSmall, /^exact$/],
    ['small merchant, contractor reads 3 chunks', () => small, contractor, () => rowsSmall, /^exact$/],
  ])('%s', async (_label, merchant, who, rows, strategy) => {
    const identity = who(merchant());
    let found = 0;
    let expected = 0;
    for (const query of queries) {
      for (const k of [1, 5, 10]) {
        const result = await t.services.retrieval.retrieve(t.services.sessions.open(identity), {
          query,
          k,
          mode: 'vector',
        });
        const [qv] = await t.services.embedders.defaultEmbedder.embed([query]);
        const exact = exactTopK(rows(), identity.principals, qv, k);
        expect(result.chunks).toHaveLength(exact.length);
        expect(result.strategy).toMatch(strategy);
        const got = new Set(result.chunks.map((c) => c.id));
        found += exact.filter((id) => got.has(id)).length;
        expected += exact.length;
        const distances = result.chunks.map((c) => c.distance);
        expect([...distances].sort((a, b) => a - b)).toEqual(distances);
      }
    }
    const recall = found / expected;
    if (strategy.source === '^exact$') expect(recall).toBe(1);
    else expect(recall).toBeGreaterThanOrEqual(0.99);
  });

  it('falls back to the quantized scan when the HNSW scan comes back short, still with min(k, readable) rows', async () => {
    // A scan allowed to visit one tuple past its first batch (of 20) for a filter whose rows lie far from the
    // query: the warranty documents (every sixth) when asking about refunds. 27 documents, 108 chunks: above
    // this service's exact threshold of 50, so HNSW is tried first.
    const strictConfig = {
      ...t.config,
      retrieval: { ...t.config.retrieval, exactScanMaxRows: 50, hnswEfSearch: 1, hnswMaxScanTuples: 1 },
    };
    const strict = new RetrievalService(
      t.services.embedders,
      new SearchStrategy(new SearchRepository(), strictConfig),
      strictConfig,
    );
    const documentIds = Array.from({ length: 160 }, (_, d) => d)
      .filter((d) => d % 6 === 3)
      .map((d) => `doc-${d}`);
    const result = await strict.retrieve(t.services.sessions.open(agent(big)), {
      query: 'refund to my card',
      k: 20,
      mode: 'vector',
      filter: { documentIds },
    });
    expect(result.strategy).toBe('hnsw+quantized_fallback');
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['refund to my card']);
    const ids = await t.db.dataSource.query<{ id: string }[]>(
      `SELECT id::text AS id FROM document_chunks WHERE merchant_id = $1 AND document_id = ANY($2::text[])`,
      [big, documentIds],
    );
    const allowed = new Set(ids.map((r) => r.id));
    const exact = exactTopK(
      rowsBig.filter((r) => allowed.has(r.id)),
      agent(big).principals,
      qv,
      20,
    );
    expect(result.chunks.map((c) => c.id)).toEqual(exact);
  });

  it('uses HNSW for a broad reader once the readable candidates exceed the threshold', async () => {
    const filtered = await t.services.retrieval.retrieve(t.services.sessions.open(agent(big)), {
      query: 'refund',
      k: 10,
      mode: 'vector',
      filter: { documentIds: ['doc-1', 'doc-2', 'doc-3'] }, // 12 candidates: exact
    });
    expect(filtered.strategy).toBe('exact');
    expect(filtered.chunks).toHaveLength(10);
    const broad = await t.services.retrieval.retrieve(t.services.sessions.open(agent(big)), {
      query: 'refund',
      k: 10,
      mode: 'vector',
    });
    expect(broad.strategy).toBe('hnsw');
  });

  it('serves a large merchant by the quantized scan while its index is missing, and builds it in the background after writes', async () => {
    expect(await t.services.indexes.drop(big)).toEqual([bigIndex]);
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['parcel tracking']);
    const withoutIndex = await t.services.retrieval.retrieve(t.services.sessions.open(agent(big)), {
      query: '',
      embedding: qv,
      k: 10,
      mode: 'vector',
    });
    expect(withoutIndex.strategy).toBe('quantized');
    expect(withoutIndex.chunks.map((c) => c.id)).toEqual(exactTopK(rowsBig, agent(big).principals, qv, 10));

    const background = new MerchantIndexService(t.db.dataSource, new VectorIndexRepository(), {
      ...t.config,
      retrieval: { ...t.config.retrieval, indexAutoBuild: true },
    });
    background.noteWrite(big);
    background.noteWrite(big); // checked at most once a minute per merchant: one build
    await background.idle();
    bigIndex = (await new VectorIndexRepository().findMerchantHnswIndex(t.db.dataSource.manager, big, 1536))!;
    expect(bigIndex).toMatch(/^document_chunks_hnsw_\d+_1536$/);
    const withIndex = await t.services.retrieval.retrieve(t.services.sessions.open(agent(big)), {
      query: '',
      embedding: qv,
      k: 10,
      mode: 'vector',
    });
    expect(withIndex.strategy).toBe('hnsw');
  });

  it("runs the large-merchant query through the merchant's own HNSW index (checked with EXPLAIN)", async () => {
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['refund to my card']);
    // Through the gateway's row-level security context: the policies must not cost the index.
    const plan = await t.services.sessions.open(agent(big)).transaction((m) =>
      new SearchRepository().explainHnsw(m, scopeOf(agent(big)), vectorParams(qv), {
        efSearch: 100,
        maxScanTuples: 20_000,
      }),
    );
    expect(plan.join('\n')).toMatch(new RegExp(`Index Scan using ${bigIndex}(?:_\\d+)? on document_chunks`));
    expect(plan.join('\n')).not.toMatch(/Seq Scan on document_chunks/);
  });

  it("runs the quantized scan over the merchant's rows only (checked with EXPLAIN ANALYZE)", async () => {
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['refund to my card']);
    const plan = (
      await t.services.sessions
        .open(agent(medium))
        .transaction((m) =>
          new SearchRepository().explainQuantized(m, scopeOf(agent(medium)), vectorParams(qv), 400),
        )
    ).join('\n');
    // The covering index makes it index-only once autovacuum has marked the pages all-visible; on freshly
    // written rows the planner may pick another merchant-leading index, or a bitmap scan of one. Either way: only
    // the merchant's rows. The Citus run of CI at 0593e94 met a plan this did not read (not kept; it passed in
    // three runs here): the plan is printed when no scan matches.
    expect(plan).not.toMatch(/Seq Scan on document_chunks/);
    expect(plan).toMatch(/Index Cond: \(\(?merchant_id = /);
    const scanned =
      /(?:Scan using \w+|Bitmap Heap Scan) on document_chunks(?:_\d+)? c_1 \(actual (?:time=\S+ )?rows=([\d.]+)/.exec(
        plan,
      );
    expect({ scanned: scanned !== null, plan }).toEqual({ scanned: true, plan });
    expect(Number(scanned![1])).toBeLessThanOrEqual(400);
  });

  it('ranks the quantized shortlist by Jaccard distance where a benchmark asks (the gateway uses Hamming)', async () => {
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['refund to my card']);
    const scope = scopeOf(agent(medium));
    const quantized = (rerank: number, metric: 'hamming' | 'jaccard') =>
      t.services.sessions
        .open(agent(medium))
        .transaction((m) =>
          new SearchRepository().searchQuantized(m, scope, vectorParams(qv), rerank, metric),
        );
    // A shortlist of every row: the exact answer, whatever ranked it.
    const whole = await quantized(rowsMedium.length, 'jaccard');
    expect(whole.map((h) => h.id)).toEqual(exactTopK(rowsMedium, [...scope.principals], qv, 10));
    // A short one: the shortlist each metric ranks first (computed here in plain SQL; ties by the numeric id, as the
    // product breaks them), re-ranked exactly.
    const shortlist = async (operator: '<%>' | '<~>') => {
      const rows = await t.db.dataSource.query<{ id: string }[]>(
        `SELECT c.id::text AS id FROM document_chunks c WHERE c.merchant_id = $1 AND c.acl && $2::text[]
          ORDER BY c.embedding_bq ${operator} binary_quantize($3::vector), c.id LIMIT 30`,
        [medium, [...scope.principals], JSON.stringify(qv)],
      );
      const ids = new Set(rows.map((r) => r.id));
      return exactTopK(
        rowsMedium.filter((r) => ids.has(r.id)),
        [...scope.principals],
        qv,
        10,
      );
    };
    const [jaccard, hamming] = [await quantized(30, 'jaccard'), await quantized(30, 'hamming')];
    expect(jaccard.map((h) => h.id)).toEqual(await shortlist('<%>'));
    expect(hamming.map((h) => h.id)).toEqual(await shortlist('<~>'));
    expect(jaccard.map((h) => h.id)).not.toEqual(hamming.map((h) => h.id));
  });

  it("reads only the small merchant's rows, through the merchant index (checked with EXPLAIN ANALYZE)", async () => {
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['refund to my card']);
    const plan = (
      await t.services.sessions.open(agent(small)).transaction((m) =>
        new SearchRepository().explainExact(m, scopeOf(agent(small)), {
          embedding: qv,
          corpus: { version: 1, dimensions: 1536 },
          k: 10,
          filter: {},
        }),
      )
    ).join('\n');
    expect(plan).not.toMatch(/Seq Scan on document_chunks/);
    // An index whose condition is the merchant (any of the merchant-leading indexes will do).
    expect(plan).toMatch(/Index Cond: \(\(?merchant_id = /);
    // Every row the scan produced belongs to the merchant: it has 48 chunks, the table far more.
    const scanned =
      /Scan (?:using \w+ )?on document_chunks(?:_\d+)? c \(actual (?:time=\S+ )?rows=([\d.]+)/.exec(plan);
    expect(scanned).not.toBeNull();
    expect(Number(scanned![1])).toBeLessThanOrEqual(48);
  });

  it("beats the tutorial's query, which comes back short for a contractor", async () => {
    // The tutorial's SQL over the tutorial's index: one HNSW index shared by all merchants (created here in a
    // transaction that is rolled back), default ef_search 40, no iterative scan, WHERE applied after the scan.
    const vectors = await t.services.embedders.defaultEmbedder.embed(queries);
    const runner = t.db.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    const naive: number[] = [];
    try {
      await runner.query(`CREATE INDEX tutorial_hnsw_idx ON document_chunks
                            USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE vector_dims(embedding) = 1536`);
      // SET LOCAL, one statement each: Citus carries these to the worker's transaction, set_config it does not.
      for (const setting of ['enable_seqscan', 'enable_bitmapscan', 'enable_sort'])
        await runner.query(`SET LOCAL ${setting} = off`);
      for (const qv of vectors) {
        const rows = (await runner.query(
          `SELECT id FROM document_chunks
            WHERE merchant_id = $1 AND acl && $2::text[] AND vector_dims(embedding) = 1536
            ORDER BY (embedding::vector(1536)) <=> $3::vector(1536) LIMIT 10`,
          [big, ['con', 'role:contractor'], `[${qv.join(',')}]`],
        )) as unknown[];
        naive.push(rows.length);
      }
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    for (const query of queries) {
      const ours = await t.services.retrieval.retrieve(t.services.sessions.open(contractor(big)), {
        query,
        k: 10,
        mode: 'vector',
      });
      expect(ours.chunks).toHaveLength(10);
    }
    expect(naive.filter((n) => n < 10).length).toBeGreaterThanOrEqual(queries.length / 2);
  });

  it('returns every readable chunk when k exceeds them (a narrow reader of a large merchant)', async () => {
    const readable = rowsBig.filter((r) => r.acl.includes('role:contractor')).length;
    expect(readable).toBe(32);
    const result = await t.services.retrieval.retrieve(t.services.sessions.open(contractor(big)), {
      query: 'refund',
      k: 50,
      mode: 'vector',
    });
    expect(result.strategy).toBe('exact');
    expect(result.chunks).toHaveLength(32);
    expect(new Set(result.chunks.map((c) => c.id)).size).toBe(32);
  });
});
