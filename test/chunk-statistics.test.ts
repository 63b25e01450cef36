import { Client } from 'pg';
import { type DataSource, type EntityManager } from 'typeorm';
import { principalsFor } from '../src/auth/identity';
import { ChunkRepository } from '../src/chunks/chunk.repository';
import {
  analyzeChunks,
  ChunkStatisticsKeeper,
  chunkStatisticsDue,
  statisticsDue,
} from '../src/db/statistics';
import { startTestGateway, type TestGateway } from './support/test-gateway';
import { nativeTestUrl } from './support/test-env';

describe('planner statistics of document_chunks after bulk writes (npm run load)', () => {
  let t: TestGateway;
  /** A merchant written after the last ANALYZE (the write-path test creates it; the retrieval test reads it). */
  let predates: string | undefined;

  beforeAll(async () => {
    // A small exact threshold: the merchant below is answered by the gated quantized path, which joins back twice.
    t = await startTestGateway({ env: { RETRIEVAL_EXACT_SCAN_MAX_ROWS: '100' } });
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

  it('reads the rule from the catalog; ANALYZE resets it and skips the wide columns, on both backends', async () => {
    const chunks = await t.db.dataSource.query<{ n: string }[]>(`SELECT count(*) AS n FROM document_chunks`);
    expect(Number(chunks[0].n)).toBeGreaterThan(0); // the seeded merchants' chunks
    expect(typeof (await chunkStatisticsDue(t.db.dataSource))).toBe('boolean');
    const ms = await analyzeChunks(t.db.dataSource);
    expect(ms).toBeGreaterThanOrEqual(0);
    // An ANALYZE of the whole table resets the count of changed rows: no longer due (a column list left it due
    // forever). The wide columns are skipped by their statistics target, not by a column list.
    expect(await chunkStatisticsDue(t.db.dataSource)).toBe(false);
    const targets = await t.db.dataSource.query<{ attname: string; target: number | null }[]>(
      `SELECT attname, attstattarget AS target FROM pg_attribute
        WHERE attrelid = 'document_chunks'::regclass AND attnum > 0 AND NOT attisdropped`,
    );
    const skipped = targets.filter((a) => a.target === 0).map((a) => a.attname);
    expect(skipped.sort()).toEqual(['chunk_text', 'citation', 'embedding', 'embedding_bq', 'heading_path']);
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

  it('write-path lookups of a merchant the statistics predate descend their key index, not the merchant', async () => {
    const ds = t.db.dataSource;
    const merchant = `stats-predate-${Date.now().toString(36)}`;
    predates = merchant;
    await t.services.merchants.provision({ id: merchant, name: 'Onboarded after ANALYZE' });
    await analyzeChunks(ds); // the statistics know the seeded merchants, and this one as empty
    const paragraphs = (i: number) =>
      Array.from(
        { length: 6 },
        (_, k) => `## Part ${k}\n\nArticle ${i} part ${k}: returns, refunds and shipping ${i * 7 + k}.`,
      );
    await t.services.ingestion.writeDocuments(
      merchant,
      Array.from({ length: 60 }, (_, i) => ({
        id: `doc-${i}`,
        title: `Article ${i}`,
        text: `# Article ${i}\n\n${paragraphs(i).join('\n\n')}`,
        acl: ['role:agent'],
      })),
    );
    const [stored] = await ds.query<{ n: string; hash: string; version: number; model: string }[]>(
      `SELECT count(*) OVER () AS n, content_hash AS hash, corpus_version AS version, embedding_model AS model
         FROM document_chunks WHERE merchant_id = $1 LIMIT 1`,
      [merchant],
    );
    expect(Number(stored.n)).toBeGreaterThan(300);

    // The statements the repository sends, captured as sent, then run again under EXPLAIN ANALYZE.
    const sent: [string, unknown[]][] = [];
    const repo = new ChunkRepository();
    await ds.transaction(async (m: EntityManager) => {
      const query = m.query.bind(m);
      m.query = ((sql: string, params?: unknown[]) => {
        sent.push([sql, params ?? []]);
        return query(sql, params);
      }) as EntityManager['query'];
      const found = await repo.findVectorsByHash(
        m,
        merchant,
        { version: stored.version, embeddingModel: stored.model },
        [stored.hash, 'f'.repeat(64)],
      );
      expect([...found.keys()]).toEqual([stored.hash]);
      const listed = await repo.listChunksOfSources(
        m,
        merchant,
        'document',
        ['doc-3', 'doc-4'],
        [stored.version],
      );
      expect(listed.size).toBe(2);
    });
    expect(sent).toHaveLength(2);
    for (const [sql, params] of sent) {
      const [row] = await ds.query<{ 'QUERY PLAN': unknown }[]>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
        params,
      );
      const plan = (
        typeof row['QUERY PLAN'] === 'string' ? JSON.parse(row['QUERY PLAN']) : row['QUERY PLAN']
      ) as {
        Plan: PlanNode;
      }[];
      const scans = planNodes(plan[0].Plan).filter((n) => n['Relation Name'] === 'document_chunks');
      expect(scans.length).toBeGreaterThan(0);
      for (const scan of scans) {
        // Each lookup reads only its key's rows: an index condition on the key (an index scan's own, or a bitmap
        // heap scan's recheck with the key in each bitmap index scan under it, which the planner picks when the
        // table's statistics make a handful of rows look like many), nothing of the merchant filtered out.
        expect(scan['Node Type']).not.toBe('Seq Scan');
        expect(scan['Index Cond'] ?? scan['Recheck Cond'] ?? '').toMatch(/content_hash|document_id/);
        for (const bitmap of planNodes(scan).filter((n) => n['Node Type'] === 'Bitmap Index Scan')) {
          expect(bitmap['Index Cond'] ?? '').toMatch(/content_hash|document_id/);
        }
        expect(scan['Rows Removed by Filter'] ?? 0).toBe(0);
      }
    }
  });

  it('retrieval in a merchant the statistics predate probes each chunk it joins back by id, not the merchant', async () => {
    expect(predates).toBeDefined();
    const merchant = predates!;
    // The embedded database never analyzes on its own: there the statistics surely predate the merchant. A native
    // autovacuum may have analyzed since; the plan must be the same either way.
    const identity = {
      merchantId: merchant,
      userId: 'agent-1',
      roles: ['agent'],
      principals: principalsFor('agent-1', ['agent']),
    };
    const result = await t.services.retrieval.retrieve(t.services.sessions.open(identity), {
      query: 'refunds and shipping',
      k: 10,
      mode: 'hybrid',
      explain: true,
    });
    expect(result.strategy).toBe('hybrid:quantized+keyword');
    expect(result.chunks).toHaveLength(10);
    const plan = result.plan ?? [];
    const scans = plan
      // Index, index-only or bitmap heap scans (the planner picks by the table's other contents).
      .map((line) => / on document_chunks \S+ \(actual [^)]*rows=([\d.]+) loops=(\d+)\)/.exec(line))
      .flatMap((m) => (m ? [{ rows: Number(m[1]), loops: Number(m[2]) }] : []));
    // The shortlist's rows, then the final top k: each joined back by one probe (at most one row per loop). Before,
    // with the merchant estimated at one row, each loop rescanned the merchant's range: rows=250 loops=500 and
    // 5.2 s for a HYBRID retrieval in a 5,000-chunk merchant.
    const repeated = scans.filter((s) => s.loops > 1);
    expect(repeated.length).toBeGreaterThanOrEqual(2);
    for (const s of repeated) expect(s.rows).toBeLessThanOrEqual(1);
  });

  it('the keeper analyzes after writes when autovacuum’s rule says so: at once, after a burst, at close', async () => {
    const ds = t.db.dataSource;
    const merchant = predates!;
    const makeDue = (): Promise<void> => makeChunksDue(ds, merchant);
    const analyzed: number[] = [];
    const keeper = new ChunkStatisticsKeeper(ds, {
      enabled: true,
      recheckMs: 300,
      onAnalyzed: (ms) => analyzed.push(ms),
    });

    await analyzeChunks(ds);
    keeper.noteWrite(); // checked at once: not due, nothing analyzed
    await keeper.idle();
    expect(analyzed).toHaveLength(0);

    await makeDue();
    const off = new ChunkStatisticsKeeper(ds, { enabled: false, onAnalyzed: (ms) => analyzed.push(ms) });
    off.noteWrite(); // disabled (DB_AUTO_ANALYZE=false): nothing
    await off.close();
    await new Promise((r) => setTimeout(r, 350));
    keeper.noteWrite(); // the window has passed: checked at once, due, analyzed
    await keeper.idle();
    expect(analyzed).toHaveLength(1);
    expect(await chunkStatisticsDue(ds)).toBe(false);
    await keeper.close();

    // A burst within the window: checked once more when the window ends.
    const burst = new ChunkStatisticsKeeper(ds, {
      enabled: true,
      recheckMs: 5_000,
      onAnalyzed: (ms) => analyzed.push(ms),
    });
    burst.noteWrite(); // the first: checked at once, not due (just analyzed)
    await burst.idle();
    await makeDue();
    burst.noteWrite();
    burst.noteWrite();
    for (let waited = 0; analyzed.length < 2 && waited < 10_000; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
      await burst.idle();
    }
    expect(analyzed).toHaveLength(2);
    await burst.close();

    // A write within the window of a long one is owed a check; close() runs it (a command that wrote and exits).
    const slow = new ChunkStatisticsKeeper(ds, {
      enabled: true,
      recheckMs: 3_600_000,
      onAnalyzed: (ms) => analyzed.push(ms),
    });
    slow.noteWrite(); // the first: checked at once, not due
    await slow.idle();
    expect(analyzed).toHaveLength(2);
    await makeDue();
    slow.noteWrite(); // owed until the window ends in an hour
    await slow.idle();
    expect(analyzed).toHaveLength(2);
    await slow.close();
    expect(analyzed).toHaveLength(3);
    expect(await chunkStatisticsDue(ds)).toBe(false);
    slow.noteWrite(); // closed: no more checks
    await slow.idle();
    expect(analyzed).toHaveLength(3);
  }, 120_000);

  it('the keeper, unless autovacuum does it, decides by the server and only where the role may ANALYZE', async () => {
    const ds = t.db.dataSource;
    const merchant = predates!;
    const analyzed: number[] = [];
    const reasons: string[] = [];
    const keeper = (enabled: boolean | 'unless-autovacuum', source = ds): ChunkStatisticsKeeper =>
      new ChunkStatisticsKeeper(source, {
        enabled,
        onAnalyzed: (ms) => analyzed.push(ms),
        onDisabled: (r) => reasons.push(r),
      });
    const [{ autovacuum }] = await ds.query<{ autovacuum: string }[]>(`SHOW autovacuum`);
    try {
      // Autovacuum off for the table: the keeper analyzes.
      await ds.query(`ALTER TABLE document_chunks SET (autovacuum_enabled = false)`);
      await makeChunksDue(ds, merchant);
      const off = keeper('unless-autovacuum');
      off.noteWrite();
      await off.close();
      expect(analyzed).toHaveLength(1);
      expect(await chunkStatisticsDue(ds)).toBe(false);
      // The table's own setting reset: the server's decides (this machine's native server runs without it).
      await ds.query(`ALTER TABLE document_chunks RESET (autovacuum_enabled)`);
      await makeChunksDue(ds, merchant);
      const server = keeper('unless-autovacuum');
      server.noteWrite();
      await server.close();
      expect(analyzed).toHaveLength(autovacuum === 'on' ? 1 : 2);
      expect(reasons).toEqual([]);
    } finally {
      await ds.query(`ALTER TABLE document_chunks RESET (autovacuum_enabled)`);
    }
    // The request role (native tests: srg_gateway) may not ANALYZE a table it does not own; PostgreSQL would skip
    // it with a warning every time. The keeper says so once and stays off. Embedded, one superuser connection.
    const request = t.db.requestDataSource;
    const [{ owner }] = await request.query<{ owner: boolean }[]>(
      `SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
              OR pg_has_role(current_user, relowner, 'USAGE') AS owner
         FROM pg_class WHERE oid = 'document_chunks'::regclass`,
    );
    expect(owner).toBe(t.db.kind === 'embedded');
    await makeChunksDue(ds, merchant);
    const before = analyzed.length;
    const asRequest = keeper(true, request);
    asRequest.noteWrite();
    await asRequest.close();
    if (owner) {
      expect(analyzed).toHaveLength(before + 1);
    } else {
      expect(analyzed).toHaveLength(before);
      expect(reasons).toEqual([expect.stringContaining('may not ANALYZE document_chunks')]);
      expect(await chunkStatisticsDue(ds)).toBe(true);
      await analyzeChunks(ds);
    }
  }, 120_000);

  // Two more sessions: the index build and an old transaction it waits for. The embedded database has one.
  const withSessions = nativeTestUrl() ? it : it.skip;
  withSessions(
    'never queues behind an index build’s lock (a deadlock): skips, stays due, the keeper retries',
    async () => {
      const ds = t.db.dataSource;
      const url = nativeTestUrl()!;
      const old = new Client({ connectionString: url });
      const builder = new Client({ connectionString: url });
      await old.connect();
      await builder.connect();
      const index = 'chunk_statistics_test_cic_idx';
      try {
        await makeChunksDue(ds, predates!);
        // A transaction older than the build: CREATE INDEX CONCURRENTLY takes the table's ShareUpdateExclusiveLock
        // (ANALYZE's) and, before it finishes, waits for this snapshot to go away, holding the lock.
        await old.query(`BEGIN ISOLATION LEVEL REPEATABLE READ`);
        await old.query(`SELECT 1 FROM merchants LIMIT 1`);
        const [{ pid }] = (await builder.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows;
        const build = builder.query(
          `CREATE INDEX CONCURRENTLY ${index} ON document_chunks (merchant_id) WHERE merchant_id = 'none'`,
        );
        for (let waited = 0; ; waited += 50) {
          const rows = await ds.query<unknown[]>(
            `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock' AND wait_event = 'virtualxid'`,
            [pid],
          );
          if (rows.length > 0) break;
          if (waited > 15_000) throw new Error('the index build never waited for the old transaction');
          await new Promise((r) => setTimeout(r, 50));
        }
        // A plain ANALYZE would queue behind the build's lock and the build would then wait for it: PostgreSQL
        // kills one of them. Skipped at once instead, and the table stays due.
        const outcome = await Promise.race([
          analyzeChunks(ds),
          new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000)),
        ]);
        expect(outcome).toBeNull();
        expect(await chunkStatisticsDue(ds)).toBe(true);

        const analyzed: number[] = [];
        let skipped = 0;
        const keeper = new ChunkStatisticsKeeper(ds, {
          enabled: true,
          recheckMs: 200,
          onAnalyzed: (ms) => analyzed.push(ms),
          onSkipped: () => skipped++,
        });
        keeper.noteWrite();
        await keeper.idle();
        expect({ skipped, analyzed: analyzed.length }).toEqual({ skipped: 1, analyzed: 0 });

        // The build ends once the old transaction does, unharmed; the keeper's retry then analyzes.
        await old.query(`COMMIT`);
        await build;
        const [valid] = await ds.query<{ valid: boolean }[]>(
          `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = $1::regclass`,
          [index],
        );
        expect(valid.valid).toBe(true);
        for (let waited = 0; analyzed.length === 0 && waited < 10_000; waited += 100) {
          await new Promise((r) => setTimeout(r, 100));
          await keeper.idle();
        }
        expect(analyzed).toHaveLength(1);
        expect(await chunkStatisticsDue(ds)).toBe(false);
        await keeper.close();
      } finally {
        await old.query(`ROLLBACK`).catch(() => undefined);
        await builder.query(`DROP INDEX IF EXISTS ${index}`).catch(() => undefined);
        await old.end();
        await builder.end();
      }
    },
    120_000,
  );
});

/**
 * Makes document_chunks due for certain: more changed rows than 50 + 10% of the table (rewrites of one merchant's
 * chunks). The counters reach the catalog asynchronously on a native server: waits for them.
 */
async function makeChunksDue(ds: DataSource, merchant: string): Promise<void> {
  const [{ reltuples }] = await ds.query<{ reltuples: number }[]>(
    `SELECT reltuples FROM pg_class WHERE oid = 'document_chunks'::regclass`,
  );
  const [{ n }] = await ds.query<{ n: string }[]>(
    `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1`,
    [merchant],
  );
  const rounds = Math.ceil((51 + 0.1 * Math.max(Number(reltuples), 0)) / Number(n)) + 1;
  for (let i = 0; i < rounds; i++) {
    await ds.query(`UPDATE document_chunks SET metadata = metadata WHERE merchant_id = $1`, [merchant]);
  }
  for (let waited = 0; !(await chunkStatisticsDue(ds)); waited += 100) {
    if (waited > 15_000) throw new Error('the statistics counters never showed the updates');
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  'Recheck Cond'?: string;
  'Index Cond'?: string;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}
