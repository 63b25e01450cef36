import { analyzeChunks, chunkStatisticsDue, statisticsDue } from '../src/db/statistics';
import { startTestGateway, type TestGateway } from './support/test-gateway';

describe('planner statistics of document_chunks after bulk writes (npm run load)', () => {
  let t: TestGateway;

  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t.close();
  });

  it('is due when never analyzed, or when more than 50 + 10% of the rows changed since (autovacuum’s rule)', () => {
    expect(statisticsDue({ reltuples: -1, modifiedSinceAnalyze: 0 })).toBe(true);
    expect(statisticsDue({ reltuples: 0, modifiedSinceAnalyze: 50 })).toBe(false);
    expect(statisticsDue({ reltuples: 0, modifiedSinceAnalyze: 51 })).toBe(true);
    expect(statisticsDue({ reltuples: 1000, modifiedSinceAnalyze: 150 })).toBe(false);
    expect(statisticsDue({ reltuples: 1000, modifiedSinceAnalyze: 151 })).toBe(true);
  });

  it('reads the rule from the catalog and analyzes the columns plans depend on, on both backends', async () => {
    const chunks = await t.db.dataSource.query<{ n: string }[]>(`SELECT count(*) AS n FROM document_chunks`);
    expect(Number(chunks[0].n)).toBeGreaterThan(0); // the seeded merchants' chunks
    expect(typeof (await chunkStatisticsDue(t.db.dataSource))).toBe('boolean');
    const ms = await analyzeChunks(t.db.dataSource);
    expect(ms).toBeGreaterThanOrEqual(0);
    const stats = await t.db.dataSource.query<{ attname: string }[]>(
      `SELECT attname FROM pg_stats WHERE schemaname = 'public' AND tablename = 'document_chunks'`,
    );
    expect(stats.map((s) => s.attname)).toEqual(
      expect.arrayContaining(['merchant_id', 'corpus_version', 'content_hash', 'document_id', 'acl']),
    );
    const analyzed = await t.db.dataSource.query<{ reltuples: number }[]>(
      `SELECT reltuples FROM pg_class WHERE oid = 'document_chunks'::regclass`,
    );
    expect(Number(analyzed[0].reltuples)).toBeGreaterThan(0);
  });
});
