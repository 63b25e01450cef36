import { principalsFor, scopeOf, type TenantScope } from '../src/auth/identity';
import { ChunkRepository, type NewChunkRow } from '../src/chunks/chunk.repository';
import { sha256 } from '../src/common/hash';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { NO_SERVICE_EVENTS } from '../src/ops/service-events';
import { CorpusVersionRepository } from '../src/corpus/corpus-version.repository';
import { openDatabase } from '../src/db/database';
import { type Embedder } from '../src/embeddings/embedder';
import { calibrationQueries } from '../src/retrieval/calibration-queries';
import { CalibrationRepository } from '../src/retrieval/calibration.repository';
import { settingReached } from '../src/retrieval/calibration-model';
import {
  CalibrationService,
  HNSW_SETTINGS,
  HNSW_UNLOCATED_MARGIN,
} from '../src/retrieval/calibration.service';
import { RetrievalService } from '../src/retrieval/retrieval.service';
import { CalibrationOutcome, SearchStrategy } from '../src/retrieval/search-strategy';
import { SearchRepository } from '../src/retrieval/search.repository';
import { type ChunkHit } from '../src/retrieval/search.types';
import { withMerchantLock } from '../src/vector-index/index-lock';
import { VectorIndexRepository } from '../src/vector-index/vector-index.repository';
import { VectorGenerator } from '../bench/vector-generator';
import {
  ADA_ADMIN,
  ALICE,
  createTestMerchant,
  errorCode,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';
import { nativeTestUrl } from './support/test-env';

/**
 * Calibration measures each merchant's approximate paths on its own vectors and retrieval then reaches recall@10
 * >= 0.99 against exact answers, with exactly min(k, readable) rows, on three distributions: the local embedder on
 * generated text, clustered synthetic vectors, and sparse vectors (with faint dense noise), whose sign bits say
 * nothing about their neighbours (binary quantization is useless on them). Merchant sizes sit on both sides of
 * each threshold, scaled down: exact up to 60 readable chunks, a dedicated HNSW index from 300 chunks.
 */
const DIMS = 1536;
const SIZES = [40, 200, 400] as const;
const K = 10;
const QUERIES = 10;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = [
  'refund return money card statement credit',
  'password reset login factor account locked',
  'shipping delivery parcel tracking carrier courier',
  'warranty defect repair replacement broken faulty',
  'invoice billing tax receipt payment charge',
  'subscription plan upgrade cancel renewal trial',
].map((t) => t.split(' '));

interface Distribution {
  name: string;
  /** `n` corpus vectors, then query vectors drawn the same way. */
  corpus(n: number, seed: number): Promise<{ texts: string[]; vectors: number[][] }>;
  queries(n: number, seed: number): Promise<number[][]>;
}

const embedder = new LocalHashEmbedder(DIMS);
const text = (rand: () => number, i: number) => {
  const words = WORDS[Math.floor(rand() * WORDS.length)];
  const pick = () => words[Math.floor(rand() * words.length)];
  return `Item ${i} covers ${pick()} and ${pick()} for ${pick()} cases, ${pick()} ${pick()} ${Math.floor(rand() * 1000)}.`;
};

/** A few non-zero coordinates out of a pool of 96, plus noise 1000× fainter spread over every dimension. */
function sparse(rand: () => number): number[] {
  const v = Array.from({ length: DIMS }, () => (rand() - 0.5) * 1e-3);
  for (let j = 0; j < 6; j++) v[Math.floor(rand() * 96) * 16] += rand() * 2 - 0.5;
  return v;
}

/** Short FAQ answers of businesses (one a document), near-duplicates across them; asked as short questions. */
const FAQ = [
  [
    [
      'Yes, free parking is available on site.',
      'Parking costs # dollars per night.',
      'There is no parking at the property.',
    ],
    ['is there parking', 'how much does parking cost'],
  ],
  [
    ['Pets are allowed for a fee of # dollars.', 'Sorry, pets are not allowed.', 'Small dogs are welcome.'],
    ['can i bring my dog', 'are pets allowed'],
  ],
  [
    [
      'Breakfast is served from # to 10 am.',
      'A continental breakfast is included.',
      'Breakfast is not included in the rate.',
    ],
    ['is breakfast included', 'what time is breakfast'],
  ],
  [
    [
      'Free WiFi is available in all rooms.',
      'WiFi costs # dollars per day.',
      'WiFi is available in the lobby only.',
    ],
    ['do they have wifi', 'is the internet free'],
  ],
  [
    ['Check-in starts at # pm.', 'Early check-in is possible on request.', 'Check-out is at 11 am.'],
    ['when can i check in', 'what time is check out'],
  ],
  [
    ['The pool is open from # am to 9 pm.', 'There is an indoor heated pool.', 'The hotel has no pool.'],
    ['do they have a pool', 'when does the pool open'],
  ],
  [
    ['The gym is open 24 hours.', 'Guests can use a fitness center nearby.', 'There is no gym on site.'],
    ['is there a gym', 'can i work out'],
  ],
  [
    [
      'An airport shuttle runs every # minutes.',
      'The shuttle to the airport is free.',
      'Taxis to the airport cost about # dollars.',
    ],
    ['is there an airport shuttle', 'how do i get to the airport'],
  ],
  [
    [
      'Smoking is not permitted anywhere.',
      'Smoking rooms are available.',
      'There is a smoking area outside.',
    ],
    ['can i smoke', 'are there smoking rooms'],
  ],
  [
    [
      'Luggage can be stored at reception.',
      'Luggage storage costs # dollars.',
      'There is no luggage storage.',
    ],
    ['can i leave my bags', 'is there luggage storage'],
  ],
  [
    [
      'The restaurant serves dinner until # pm.',
      'Room service is available all night.',
      'There is no restaurant on site.',
    ],
    ['is there a restaurant', 'can i order room service'],
  ],
  [
    ['Rooms have air conditioning.', 'Every room has a fan and heating.', 'Air conditioning costs extra.'],
    ['do rooms have air conditioning', 'is there heating'],
  ],
] as const;
const BUSINESSES =
  'acorn birch cedar dune elm fern grove heath iris juniper kestrel linden maple nettle oak pine quail rowan sage thistle'.split(
    ' ',
  );

const DISTRIBUTIONS: Distribution[] = [
  {
    name: 'local embedder on generated text',
    async corpus(n, seed) {
      const rand = rng(seed);
      const texts = Array.from({ length: n }, (_, i) => text(rand, i));
      return { texts, vectors: await embedder.embed(texts) };
    },
    queries: async (n, seed) => {
      const rand = rng(seed);
      return embedder.embed(Array.from({ length: n }, (_, i) => text(rand, 10_000 + i)));
    },
  },
  {
    name: 'clustered synthetic vectors',
    corpus(n, seed) {
      const g = new VectorGenerator(DIMS, 7, 16).fork(seed);
      const vectors: number[][] = [];
      for (let d = 0; vectors.length < n; d++) {
        const centre = g.documentCentre(g.topic());
        for (let i = 0; i < 10 && vectors.length < n; i++) vectors.push(g.chunk(centre));
      }
      return Promise.resolve({ texts: vectors.map((_, i) => `Synthetic chunk ${i}.`), vectors });
    },
    queries: (n, seed) => {
      const g = new VectorGenerator(DIMS, 7, 16).fork(seed);
      return Promise.resolve(Array.from({ length: n }, () => g.query()));
    },
  },
  {
    name: 'sparse vectors (binary quantization defeated)',
    corpus(n, seed) {
      const rand = rng(seed);
      const vectors = Array.from({ length: n }, () => sparse(rand));
      return Promise.resolve({ texts: vectors.map((_, i) => `Sparse chunk ${i}.`), vectors });
    },
    queries: (n, seed) => {
      const rand = rng(seed);
      return Promise.resolve(Array.from({ length: n }, () => sparse(rand)));
    },
  },
  {
    name: 'short FAQ answers with near-duplicates, asked as questions',
    async corpus(n, seed) {
      const rand = rng(seed);
      const texts = Array.from({ length: n }, (_, i) => {
        const [answers] = FAQ[Math.floor(rand() * FAQ.length)];
        const answer = answers[Math.floor(rand() * answers.length)].replace(
          '#',
          String(2 + Math.floor(rand() * 20)),
        );
        return `${answer} ${BUSINESSES[Math.floor(i / 10) % BUSINESSES.length]} house, item ${i}`;
      });
      return { texts, vectors: await embedder.embed(texts) };
    },
    queries: async (n, seed) => {
      const rand = rng(seed);
      return embedder.embed(
        Array.from({ length: n }, () => {
          const [, questions] = FAQ[Math.floor(rand() * FAQ.length)];
          return questions[Math.floor(rand() * questions.length)];
        }),
      );
    },
  },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The real searches, each delayed by path and reader (a busy server, or a graph walk that costs a narrow reader more,
 * as the calibration sees it), and the approximate ones' hits optionally changed.
 */
class SlowSearches extends SearchRepository {
  constructor(
    private readonly slow: {
      delayMs: (path: 'exact' | 'approximate', scope: TenantScope) => number;
      approximateHits?: (hits: ChunkHit[], scope: TenantScope) => ChunkHit[];
    },
  ) {
    super();
  }
  private async approximate(scope: TenantScope, search: () => Promise<ChunkHit[]>): Promise<ChunkHit[]> {
    await sleep(this.slow.delayMs('approximate', scope));
    const hits = await search();
    return this.slow.approximateHits?.(hits, scope) ?? hits;
  }
  override async searchExact(...a: Parameters<SearchRepository['searchExact']>) {
    await sleep(this.slow.delayMs('exact', a[1]));
    return super.searchExact(...a);
  }
  override searchHnsw(...a: Parameters<SearchRepository['searchHnsw']>) {
    return this.approximate(a[1], () => super.searchHnsw(...a));
  }
  override searchQuantized(...a: Parameters<SearchRepository['searchQuantized']>) {
    return this.approximate(a[1], () => super.searchQuantized(...a));
  }
}

describe('calibrated retrieval reaches recall@10 >= 0.99 on any distribution', () => {
  let t: TestGateway;
  const agent = (merchantId: string) => ({
    merchantId,
    userId: 'cal-agent',
    roles: ['agent'],
    principals: principalsFor('cal-agent', ['agent']),
  });
  const contractor = (merchantId: string) => ({
    merchantId,
    userId: 'cal-con',
    roles: ['contractor'],
    principals: principalsFor('cal-con', ['contractor']),
  });

  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        RETRIEVAL_EXACT_SCAN_MAX_ROWS: '60',
        RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '300',
        RETRIEVAL_INDEX_AUTOBUILD: 'false',
        RETRIEVAL_CALIBRATION_AUTO: 'false',
        RETRIEVAL_CALIBRATION_SAMPLE: '40',
      },
    });
  }, 120_000);
  afterAll(async () => {
    await t.close();
  });

  /** 10 chunks per document; contractors read every fourth document (25%). */
  async function load(
    merchant: string,
    data: { texts: string[]; vectors: number[][] },
    firstDocument = 0,
  ): Promise<void> {
    const repo = new ChunkRepository();
    for (let i = 0; i * 10 < data.texts.length; i++) {
      const d = firstDocument + i;
      const acl = d % 4 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'];
      await t.db.dataSource.transaction(async (m) => {
        await m.query(
          `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, acl) VALUES ($1, $2, $2, '', '', $3)`,
          [merchant, `d${d}`, acl],
        );
        const rows: NewChunkRow[] = data.texts.slice(i * 10, i * 10 + 10).map((text, j) => ({
          chunkIndex: j,
          text,
          contentHash: sha256(text),
          headingPath: [],
          citation: `d${d}`,
          embedding: data.vectors[i * 10 + j],
        }));
        await repo.insertChunks(m, merchant, { kind: 'document', documentId: `d${d}` }, 1, rows, {
          embeddingModel: t.config.embedding.model,
          metadata: {},
          acl,
        });
      });
    }
  }

  /** An agent's VECTOR retrieval through a service that records the merchants it asks to have calibrated. */
  function notingRetrieval(merchant: string, query: number[]) {
    const noted: string[] = [];
    const retrieval = new RetrievalService(
      t.services.embedders,
      new SearchStrategy(new SearchRepository(), t.config),
      t.config,
      NO_SERVICE_EVENTS,
      { noteNeedsCalibration: (m) => noted.push(m) },
    );
    const retrieve = () =>
      retrieval.retrieve(t.services.sessions.open(agent(merchant)), {
        query: '',
        embedding: query,
        k: K,
        mode: 'vector',
      });
    return { noted, retrieve };
  }

  // On Citus (`npm run test:citus`) one distribution, the default embedder's: what is checked there is that the
  // calibration and the paths it picks run on a distributed table. A merchant's rows live on one shard, whose
  // pgvector answers as a single node's does, and all three distributions are checked on both single-node backends.
  const distributions = process.env.TEST_CITUS === '1' ? DISTRIBUTIONS.slice(0, 1) : DISTRIBUTIONS;
  const cases = distributions.flatMap((dist, di) =>
    SIZES.map((size) => [dist.name, size, dist, di] as const),
  );

  it.each(cases)(
    '%s, %i chunks',
    async (_name, size, dist, di) => {
      const merchant = await createTestMerchant(t, `cal${di}`);
      await load(merchant, await dist.corpus(size, 100 * di + size));
      if (size >= 300)
        expect((await t.services.indexes.maintain({ merchantId: merchant }))[0]?.outcome).toBe('created');
      const report = await t.services.calibration.calibrate(merchant);
      if (process.env.CALIBRATION_LOG)
        console.log(dist.name, size, report.path, report.outcome, report.exactMaxReadable, report.trials);
      if (size <= 60) expect(report.outcome).toBe('small');
      else {
        expect(report.trials.length).toBeGreaterThan(0);
        // The whole sample short passages of the chunks' text where the default embedder made the stored vectors;
        // own vectors where it did not (the synthetic distributions' texts are labels).
        expect({ text: report.textQueries, ownOnly: report.ownOnly }).toEqual(
          di === 0 || di === 3
            ? { text: 40, ownOnly: null }
            : { text: 0, ownOnly: 'stored vectors not from this embedder' },
        );
      }
      if (report.path !== 'none') {
        expect(report.recallFull).toBeGreaterThanOrEqual(0.99);
        expect(report.recallNarrow ?? 1).toBeGreaterThanOrEqual(0.99);
      }

      const search = new SearchRepository();
      const queries = await dist.queries(QUERIES, 7000 + 100 * di + size);
      for (const who of [agent, contractor]) {
        const identity = who(merchant);
        let found = 0;
        let expected = 0;
        const strategies = new Set<string>();
        for (const q of queries) {
          const result = await t.services.retrieval.retrieve(t.services.sessions.open(identity), {
            query: '',
            embedding: q,
            k: K,
            mode: 'vector',
          });
          const exact = await t.db.dataSource.transaction((m) =>
            search.searchExact(m, scopeOf(identity), {
              embedding: q,
              corpus: { version: 1, dimensions: DIMS },
              k: K,
              filter: {},
            }),
          );
          expect(result.chunks).toHaveLength(exact.length); // min(k, readable)
          const got = new Set(result.chunks.map((c) => c.id));
          found += exact.filter((h) => got.has(h.id)).length;
          expected += exact.length;
          strategies.add(result.strategy);
        }
        const recall = found / expected;
        // The path each reader took, for the log of a failure.
        expect({
          reader: identity.userId,
          recall: recall >= 0.99,
          strategies: [...strategies],
          path: report.path,
        }).toEqual({ reader: identity.userId, recall: true, strategies: [...strategies], path: report.path });
        if (size <= 60 || (who === contractor && size <= 240)) expect([...strategies]).toEqual(['exact']);
      }
    },
    300_000,
  );

  it('names the graph it measured: a rebuilt index makes it stale until re-measured', async () => {
    const merchant = await createTestMerchant(t, 'calidx');
    await load(merchant, await DISTRIBUTIONS[1].corpus(400, 4242));
    const built = async () => {
      const [report] = await t.services.indexes.maintain({ merchantId: merchant });
      expect(report?.outcome).toBe('created');
      return report.indexName;
    };
    const firstIndex = await built();
    expect((await t.services.calibration.calibrate(merchant)).measuredIndex).toBe(firstIndex);
    expect(await t.services.calibration.isStale(merchant)).toBe(false);

    const admin = { merchantId: merchant, userId: 'cal-admin', roles: ['admin', 'agent'] };
    const read = async (as: typeof admin = admin) =>
      (
        await t.gql<{ retrievalCalibration: { measuredIndex: string | null; staleReason: string | null } }>(
          `{ retrievalCalibration { measuredIndex staleReason } }`,
          {},
          as,
        )
      ).data!.retrievalCalibration;
    const [query] = await DISTRIBUTIONS[1].queries(1, 99);
    const settings = async () => {
      const r = await t.gql<{ retrieveChunks: { chunks: unknown[]; debug: { plan: string[] } } }>(
        `query Q($e: [Float!]!) { retrieveChunks(input: { query: "", embedding: $e, mode: VECTOR, k: ${K}, explain: true }) { chunks { id } debug { plan } } }`,
        { e: query },
        admin,
      );
      expect(r.data!.retrieveChunks.chunks).toHaveLength(K);
      const line = r.data!.retrieveChunks.debug.plan[0];
      expect(line.startsWith('settings: ')).toBe(true);
      return JSON.parse(line.slice('settings: '.length)) as { source: string; indexName: string | null };
    };
    // A retrieval that finds its calibration measured on another graph asks for a re-measure.
    const { noted, retrieve: retrieveDirect } = notingRetrieval(merchant, query);

    expect(await read()).toEqual({ measuredIndex: firstIndex, staleReason: null });
    expect(await settings()).toEqual(
      expect.objectContaining({ source: 'calibration', indexName: firstIndex }),
    );
    expect((await retrieveDirect()).settings).toBe('calibration');
    expect(noted).toEqual([]);

    // Dropped: the calibration measured a graph that is gone.
    await t.services.indexes.drop(merchant);
    expect(await t.services.calibration.isStale(merchant)).toBe(true);
    expect((await read()).staleReason).toBe('INDEX_CHANGED');
    // Re-created over the same rows: a new graph under a new name (the sequence), stale as well.
    const secondIndex = await built();
    expect(secondIndex).not.toBe(firstIndex);
    expect(await t.services.calibration.isStale(merchant)).toBe(true);
    expect(await read()).toEqual({ measuredIndex: firstIndex, staleReason: 'INDEX_CHANGED' });
    expect(await settings()).toEqual(
      expect.objectContaining({ source: 'stale-calibration', indexName: secondIndex }),
    );
    expect((await retrieveDirect()).settings).toBe('stale-calibration');
    expect(noted).toEqual([merchant]);
    const metrics = await (await fetch(t.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toMatch(/^srg_retrieval_settings_total\{source="stale-calibration"\} [1-9]/m);

    // Re-measured: current again, on the new graph.
    expect((await t.services.calibration.calibrate(merchant)).measuredIndex).toBe(secondIndex);
    expect(await t.services.calibration.isStale(merchant)).toBe(false);
    expect(await read()).toEqual({ measuredIndex: secondIndex, staleReason: null });
    expect((await settings()).source).toBe('calibration');

    // Dropped outside the registry (by hand, or lost), then built again by the maintenance, which finds the
    // registry naming an index that is not there: that new graph gets a new name too, so it is not taken for the
    // one measured (it kept the registered name before).
    await t.db.dataSource.query(`DROP INDEX ${secondIndex}`); // a name from the registry's sequence
    expect(await t.services.calibration.isStale(merchant)).toBe(true);
    const thirdIndex = await built();
    expect(thirdIndex).not.toBe(secondIndex);
    expect(await read()).toEqual({ measuredIndex: secondIndex, staleReason: 'INDEX_CHANGED' });
    expect((await settings()).source).toBe('stale-calibration');
    expect((await t.services.calibration.calibrate(merchant)).measuredIndex).toBe(thirdIndex);
    expect(await read()).toEqual({ measuredIndex: thirdIndex, staleReason: null });

    // Growth counts every chunk of the merchant, not what the reading administrator's ACL shows: 400 -> 500.
    await load(merchant, await DISTRIBUTIONS[1].corpus(100, 4343), 40);
    const adminOnly = { merchantId: merchant, userId: 'cal-admin2', roles: ['admin'] }; // reads no chunk here
    expect(await t.services.calibration.isStale(merchant)).toBe(true);
    expect(await read(adminOnly)).toEqual({ measuredIndex: thirdIndex, staleReason: 'GROWN' });

    // A row written before index names were recorded (had an index, no name) never counts as current.
    await t.db.dataSource.query(
      `UPDATE retrieval_calibrations SET measured_index = NULL WHERE merchant_id = $1`,
      [merchant],
    );
    expect(await t.services.calibration.isStale(merchant)).toBe(true);
    expect((await read()).staleReason).toBe('INDEX_CHANGED');
  }, 300_000);

  it('charges the trials, not the exact answers, to its time budget, and stops a trial the budget runs out in', async () => {
    const merchant = await createTestMerchant(t, 'calbudget');
    await load(merchant, await DISTRIBUTIONS[1].corpus(400, 4545));
    expect((await t.services.indexes.maintain({ merchantId: merchant }))[0]?.outcome).toBe('created');
    const calibrate = (delayMs: { exact?: number; approximate?: number }, budgetMs: number) =>
      new CalibrationService(
        t.db.dataSource,
        new CorpusVersionRepository(),
        new CalibrationRepository(),
        new SlowSearches({ delayMs: (path) => delayMs[path] ?? 0 }),
        new VectorIndexRepository(),
        { ...t.config, retrieval: { ...t.config.retrieval, calibrationBudgetMs: budgetMs } },
        t.services.embedders,
      ).calibrate(merchant);

    // 80 exact answers (40 queries, two readers) of at least 120 ms: 9.6 s and more, beyond a budget of 8 s. They
    // used to be charged to it, and no setting was ever tried ('none', every reader answered exactly). The trials
    // have the whole budget, and a setting passes within it. Whether its margin is measured in time too is the
    // machine's speed, not what this tests: a loaded CI machine ran out of 2.5 s, and once (embedded lane, 2026-12-08)
    // of 8 s, before it; the pass is then kept as the budget's.
    const slowAnswers = await calibrate({ exact: 120 }, 8_000);
    expect(slowAnswers.tookMs).toBeGreaterThan(9_600);
    expect(slowAnswers.trials[0]).toMatchObject({ path: 'hnsw', setting: 'ef_search=40,candidates=40' });
    expect(slowAnswers.path).not.toBe('none');
    expect([CalibrationOutcome.MEASURED, CalibrationOutcome.BUDGET]).toContain(slowAnswers.outcome);
    // Budget outcomes in a row so far (the later cases count on from it).
    const attempts = slowAnswers.outcome === CalibrationOutcome.BUDGET ? 1 : 0;
    expect(slowAnswers.budgetAttempts).toBe(attempts);

    // Every setting slower than the whole budget (80 queries of at least 100 ms: 8 s, against 1 s): the first is
    // stopped at the query that finds the budget spent, is not reported as measured, and nothing else is started.
    const slowTrials = await calibrate({ approximate: 100 }, 1_000);
    expect(slowTrials).toMatchObject({
      path: 'none',
      outcome: 'budget',
      budgetAttempts: attempts + 1,
      trials: [],
    });
    const stored = await t.db.dataSource.query<{ path: string }[]>(
      `SELECT path FROM retrieval_calibrations WHERE merchant_id = $1`,
      [merchant],
    );
    expect(stored).toEqual([{ path: 'none' }]);

    // Room for one setting (80 queries of at least 30 ms: 2.4 s and more, against 3.5 s), not for its margin: a pass
    // is kept rather than none, but as the budget's ('budget', re-measured after the back-off), never as measured.
    const noMargin = await calibrate({ approximate: 30 }, 3_500);
    expect(noMargin.trials.length).toBeLessThanOrEqual(1);
    expect(noMargin).toMatchObject({
      path: noMargin.trials[0]?.reached ? 'hnsw' : 'none',
      outcome: 'budget',
      budgetAttempts: attempts + 2,
    });
    await t.db.dataSource.query(
      `UPDATE retrieval_calibrations SET measured_at = now() - interval '1 day' WHERE merchant_id = $1`,
      [merchant],
    );
    expect(await t.services.calibration.staleReasonOf(merchant)).toBe('budget-exhausted');
  }, 120_000);

  it('measures a none the budget caused again after a back-off that doubles, when a retrieval asks; keeps a none no setting reached', async () => {
    const merchant = await createTestMerchant(t, 'calretry');
    // With a dedicated index: the quantized scan of a merchant this small has no room for a re-rank and its margin
    // below its size (re-ranks of every row are not tried).
    await load(merchant, await DISTRIBUTIONS[1].corpus(400, 4848));
    expect((await t.services.indexes.maintain({ merchantId: merchant }))[0]?.outcome).toBe('created');
    const service = (searches: SearchRepository, retrieval: Partial<typeof t.config.retrieval> = {}) =>
      new CalibrationService(
        t.db.dataSource,
        new CorpusVersionRepository(),
        new CalibrationRepository(),
        searches,
        new VectorIndexRepository(),
        { ...t.config, retrieval: { ...t.config.retrieval, ...retrieval } },
        t.services.embedders,
      );
    // Every approximate query 100 ms against a budget of 1 s: out of budget within the first setting.
    const busy = () =>
      service(new SlowSearches({ delayMs: (path) => (path === 'approximate' ? 100 : 0) }), {
        calibrationBudgetMs: 1_000,
      }).calibrate(merchant);
    const retryMinutes = t.config.retrieval.calibrationRetryMs / 60_000;
    expect(retryMinutes).toBe(10); // RETRIEVAL_CALIBRATION_RETRY_MINUTES' default
    const storedAgo = (minutes: number) =>
      t.db.dataSource.query(
        `UPDATE retrieval_calibrations SET measured_at = now() - make_interval(mins => $2) WHERE merchant_id = $1`,
        [merchant, minutes],
      );
    const staleReason = () => t.services.calibration.staleReasonOf(merchant);
    const admin = { merchantId: merchant, userId: 'cal-admin', roles: ['admin'] };
    const read = async () =>
      (
        await t.gql<{ retrievalCalibration: Record<string, unknown> }>(
          `{ retrievalCalibration { path outcome budgetAttempts measuredAt retryAt staleReason } }`,
          {},
          admin,
        )
      ).data!.retrievalCalibration;
    const { noted, retrieve } = notingRetrieval(merchant, (await DISTRIBUTIONS[1].queries(1, 4949))[0]);

    expect(await busy()).toMatchObject({ path: 'none', outcome: 'budget', budgetAttempts: 1 });
    // Kept for the back-off: retrievals are answered exactly and ask for nothing.
    expect(await staleReason()).toBeNull();
    const first = await read();
    expect(first).toMatchObject({ path: 'none', outcome: 'BUDGET', budgetAttempts: 1, staleReason: null });
    expect(Date.parse(first.retryAt as string) - Date.parse(first.measuredAt as string)).toBe(
      retryMinutes * 60_000,
    );
    expect(await retrieve()).toMatchObject({ settings: 'calibration', strategy: 'exact' });
    expect(noted).toEqual([]);

    // Once it has passed: stale, and a retrieval (still answered exactly) asks for the re-measure.
    await storedAgo(retryMinutes + 1);
    expect(await staleReason()).toBe('budget-exhausted');
    expect((await read()).staleReason).toBe('BUDGET_EXHAUSTED');
    expect(await retrieve()).toMatchObject({ settings: 'stale-calibration', strategy: 'exact' });
    expect(noted).toEqual([merchant]);

    // Out of budget again: the back-off doubles.
    expect(await busy()).toMatchObject({ path: 'none', outcome: 'budget', budgetAttempts: 2 });
    await storedAgo(retryMinutes + 1);
    expect(await staleReason()).toBeNull();
    await storedAgo(2 * retryMinutes + 1);
    expect(await staleReason()).toBe('budget-exhausted');

    // The background re-measure (RETRIEVAL_CALIBRATION_AUTO), the machine quiet: an approximate path, the count reset.
    const background = service(new SearchRepository(), { calibrationAuto: true });
    background.noteNeedsCalibration(merchant);
    await background.idle();
    const measured = await read();
    expect(measured).toMatchObject({
      outcome: 'MEASURED',
      budgetAttempts: 0,
      retryAt: null,
      staleReason: null,
    });
    expect(measured.path).not.toBe('none');
    expect((await retrieve()).settings).toBe('calibration');

    // No setting reaches the target (two of every ten approximate answers dropped): 'none', and it stays, however old.
    const blind = new SlowSearches({
      delayMs: () => 0,
      approximateHits: (hits) => hits.filter((_, i) => i !== 1 && i !== 2),
    });
    expect(await service(blind).calibrate(merchant)).toMatchObject({
      path: 'none',
      outcome: 'unreached',
      budgetAttempts: 0,
    });
    await storedAgo(30 * 24 * 60);
    expect(await staleReason()).toBeNull();
    expect(await read()).toMatchObject({ outcome: 'UNREACHED', retryAt: null, staleReason: null });

    // A measured 'none' stored before outcomes were recorded may have been either: retried like a first budget one.
    await t.db.dataSource.query(`UPDATE retrieval_calibrations SET outcome = NULL WHERE merchant_id = $1`, [
      merchant,
    ]);
    await storedAgo(retryMinutes - 1);
    expect(await staleReason()).toBeNull();
    await storedAgo(retryMinutes + 1);
    expect(await read()).toMatchObject({ outcome: null, budgetAttempts: 0, staleReason: 'BUDGET_EXHAUSTED' });
  }, 120_000);

  // A session-level advisory lock is re-entrant within its session, and the embedded database has only one: native.
  (nativeTestUrl() ? it : it.skip)(
    'measures a merchant once when several processes find it stale: the rest wait on its lock, then find it current',
    async () => {
      const merchant = await createTestMerchant(t, 'calonce');
      await load(merchant, await DISTRIBUTIONS[1].corpus(100, 5252));
      const measuredBy: string[] = [];
      // Two gateway processes: each its own pool.
      const pools = await Promise.all(
        [1, 2].map(() => openDatabase(t.config, { migrate: false, poolSize: 2 })),
      );
      const processes = ['a', 'b'].map(
        (name, i) =>
          new CalibrationService(
            pools[i].dataSource,
            new CorpusVersionRepository(),
            new CalibrationRepository(),
            new SearchRepository(),
            new VectorIndexRepository(),
            { ...t.config, retrieval: { ...t.config.retrieval, calibrationAuto: true } },
            t.services.embedders,
            { ...NO_SERVICE_EVENTS, calibrated: () => measuredBy.push(name) },
          ),
      );
      expect(await processes[0].staleReasonOf(merchant)).toBe('missing');
      // The merchant's calibration lock held here while both processes find it uncalibrated and queue on it.
      const holder = t.db.dataSource.createQueryRunner();
      await holder.connect();
      let release: (() => void) | null = null;
      const held = withMerchantLock(
        holder,
        'calibration',
        merchant,
        () => new Promise<void>((resolve) => (release = resolve)),
      );
      // Sessions waiting for this merchant's calibration lock (its class, this database; the key is the merchant's hash).
      const waiting = async () =>
        (
          await t.db.dataSource.query<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM pg_locks
              WHERE locktype = 'advisory' AND NOT granted AND classid = 1764300 AND objid = hashtext($1)::oid
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [merchant],
          )
        )[0].n;
      try {
        try {
          for (let i = 0; release === null && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
          for (const p of processes) p.noteNeedsCalibration(merchant);
          for (let i = 0; (await waiting()) < 2 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
          expect(await waiting()).toBe(2);
        } finally {
          (release as (() => void) | null)?.();
          await held;
          await holder.release();
        }
      } finally {
        await Promise.all(processes.map((p) => p.idle()));
        await Promise.all(pools.map((p) => p.close()));
      }
      // One measurement; the other process, given the lock after it, found the merchant current and measured nothing.
      expect(measuredBy).toHaveLength(1);
      expect(await t.services.calibration.staleReasonOf(merchant)).toBeNull();
    },
    120_000,
  );

  it('asks its sample as passages of the text, where the embedder reproduces the stored vectors, else as own vectors', async () => {
    const merchant = await createTestMerchant(t, 'calqueries');
    await load(merchant, await DISTRIBUTIONS[0].corpus(100, 5151));
    const sample = (embedder: () => Embedder) =>
      calibrationQueries(t.db.dataSource.manager, new CalibrationRepository(), embedder, merchant, 1, 40);
    const withText = await sample(() => t.services.embedders.defaultEmbedder);
    expect({
      queries: withText.queries.length,
      text: withText.textQueries,
      ownOnly: withText.ownOnly,
    }).toEqual({
      queries: 40,
      text: 40,
      ownOnly: null,
    });
    // Passages leave nothing out of their answers.
    expect(withText.queries.filter((q) => q.id === '')).toHaveLength(40);
    // Another model's vectors (the same dimensions, another hash seed): the stored ones are not its own.
    const other = new LocalHashEmbedder(DIMS, 'local-hash-other');
    const foreign = await sample(() => ({
      ...other,
      embed: async (texts: readonly string[]) =>
        (await other.embed(texts.map((x) => `${x} x`))).map((v) => v.map((y, i) => (i % 2 ? -y : y))),
    }));
    expect(foreign).toMatchObject({ textQueries: 0, ownOnly: 'stored vectors not from this embedder' });
    expect(foreign.queries).toHaveLength(40);
    // A provider that fails: own vectors only, and why.
    const failing = await sample(() => ({
      ...other,
      embed: () => Promise.reject(new Error('provider down')),
    }));
    expect(failing).toMatchObject({ textQueries: 0, ownOnly: 'embedder unavailable: provider down' });
    expect(failing.queries.every((q) => q.id !== '')).toBe(true);
  }, 120_000);

  it('answers exactly a narrow reader whose approximate scan costs more than its exact one, and then needs no proof from it', async () => {
    const merchant = await createTestMerchant(t, 'calnarrow');
    await load(merchant, await DISTRIBUTIONS[1].corpus(400, 4646));
    expect((await t.services.indexes.maintain({ merchantId: merchant }))[0]?.outcome).toBe('created');
    // The narrow reader's approximate searches delayed, as a filtered graph walk is for a reader of a few percent of
    // a large merchant (34–42 ms against 9 for everyone, 20 for its exact scan: 60,000 chunks), and one answer of its
    // first query dropped: a miss the bound does not forgive.
    const narrowReader = (scope: TenantScope) => scope.principals.length === 1;
    let dropped = false;
    const searches = new SlowSearches({
      delayMs: (path, scope) => (path === 'approximate' && narrowReader(scope) ? 25 : 0),
      approximateHits: (hits, scope) => {
        if (!narrowReader(scope) || dropped) return hits;
        dropped = true;
        return hits.filter((_, i) => i !== 1);
      },
    });
    const report = await new CalibrationService(
      t.db.dataSource,
      new CorpusVersionRepository(),
      new CalibrationRepository(),
      searches,
      new VectorIndexRepository(),
      t.config,
      t.services.embedders,
    ).calibrate(merchant);
    const contractorRows = 100; // every fourth document of ten chunks
    expect(report.narrowShare).toBeCloseTo(contractorRows / 400, 9);
    const first = report.trials[0];
    expect(first).toMatchObject({ path: 'hnsw', setting: 'ef_search=40,candidates=40' });
    // Every one of the narrow reader's approximate searches carries the 25 ms delay. (Not compared with the full
    // reader's median: on a loaded machine that alone took 30 ms per query on PGlite, and the comparison failed.)
    expect(first.msNarrow!).toBeGreaterThanOrEqual(25);
    // 25 ms graph walks for 100 readable rows: the exact scan is cheaper for that reader, and the threshold rises
    // past it.
    expect(first.exactUpTo).toBeGreaterThanOrEqual(contractorRows);
    expect(report.exactMaxReadable).toBeGreaterThanOrEqual(contractorRows);
    // Its one miss in 400 answers fails the bound (at 400 answers it allows none), and is forgiven: that reader is
    // answered exactly. The full reader's proof and the narrow reader's point estimate decide.
    expect(first.recallFull).toBe(1);
    expect(first.recallNarrow!).toBeLessThan(1);
    expect(first.recallNarrow!).toBeGreaterThanOrEqual(0.99);
    expect(first.reached).toBe(true);
    // Measured as not answered exactly (a narrow reader above the threshold), the same counts do not pass.
    expect(
      settingReached({ found: 400, expected: 400 }, { found: 399, expected: 400, answeredExactly: false }),
    ).toBe(false);
    expect(report.path).not.toBe('none');
    // The cheapest setting passed, so the sample never showed where the graph's recall falls: the index's choice is
    // two settings beyond it, not one (the 60,000-chunk merchant's ef_search 100 read 0.971 on held-out queries).
    const hnswTrials = report.trials.filter((x) => x.path === 'hnsw');
    expect(hnswTrials.map((x) => x.setting).slice(0, 2)).toEqual([
      'ef_search=40,candidates=40',
      'ef_search=100,candidates=40',
    ]);
    const third = HNSW_SETTINGS[HNSW_UNLOCATED_MARGIN];
    const chosen = hnswTrials.find(
      (x) => x.setting === `ef_search=${third.efSearch},candidates=${third.candidates}`,
    );
    if (chosen?.reached) {
      expect(hnswTrials).toHaveLength(HNSW_UNLOCATED_MARGIN + 1);
      if (report.path === 'hnsw')
        expect([report.hnswEfSearch, report.hnswCandidates]).toEqual([third.efSearch, third.candidates]);
    } else expect(hnswTrials.length).toBeGreaterThan(HNSW_UNLOCATED_MARGIN + 1);

    const [query] = await DISTRIBUTIONS[1].queries(1, 4747);
    const asContractor = await t.services.retrieval.retrieve(t.services.sessions.open(contractor(merchant)), {
      query: '',
      embedding: query,
      k: K,
      mode: 'vector',
    });
    expect(asContractor.strategy).toBe('exact');
    expect(asContractor.chunks).toHaveLength(K);
  }, 120_000);

  it('is read and run by administrators over GraphQL, and shown by explain', async () => {
    const fields = `corpusVersion path exactMaxReadable quantizedRerank hnswEfSearch hnswCandidates recallFull
      recallNarrow sampleSize merchantRows tookMs measuredAt outcome budgetAttempts retryAt`;
    const denied = await t.gql(`{ retrievalCalibration { path } }`, {}, ALICE);
    expect(errorCode(denied)).toBe('FORBIDDEN');
    const run = await t.gql<{ calibrateRetrieval: Record<string, unknown> }>(
      `mutation { calibrateRetrieval { ${fields} } }`,
      {},
      ADA_ADMIN,
    );
    expect(run.errors).toBeUndefined();
    expect(run.data!.calibrateRetrieval).toMatchObject({
      corpusVersion: 1,
      path: 'none',
      recallFull: 1,
      outcome: 'SMALL',
      budgetAttempts: 0,
      retryAt: null,
    });
    const read = await t.gql<{ retrievalCalibration: Record<string, unknown> }>(
      `{ retrievalCalibration { ${fields} } }`,
      {},
      ADA_ADMIN,
    );
    expect(read.data!.retrievalCalibration).toMatchObject({
      path: 'none',
      exactMaxReadable: 60,
      outcome: 'SMALL',
    });
    const explained = await t.gql<{ retrieveChunks: { debug: { plan: string[] } } }>(
      `{ retrieveChunks(input: { query: "refund", k: 3, explain: true }) { debug { plan } } }`,
      {},
      ADA_ADMIN,
    );
    expect(explained.data!.retrieveChunks.debug.plan[0]).toMatch(/^settings: \{"source":"calibration"/);
  });
});
