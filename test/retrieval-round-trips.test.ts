import net from 'node:net';
import type pg from 'pg';
import { recordSql } from '../bench/load-harness';
import { principalsFor } from '../src/auth/identity';
import { RetrievalService, type RetrieveQuery } from '../src/retrieval/retrieval.service';
import { SearchStrategy } from '../src/retrieval/search-strategy';
import { literalOf, SearchRepository } from '../src/retrieval/search.repository';
import { statementSql } from '../src/retrieval/search-statement.sql';
import { isDistributed } from '../src/db/distributed';
import { pgSqlClient, preparedStatementName } from '../src/db/sql-client';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * A retrieval sends at most three statements whatever its strategy or mode: BEGIN with the tenant settings and
 * the merchant's facts, one search statement, COMMIT. Counted at the pg client, on the backend under test.
 */
describe('one round trip per retrieval', () => {
  let t: TestGateway;
  let big: string;
  let small: string;
  const reader = (merchantId: string, roles = ['agent']) => ({
    merchantId,
    userId: 'rt',
    roles,
    principals: principalsFor('rt', roles),
  });

  /**
   * Every statement any pg client sends while `fn` runs (tests run one at a time in this file), and the round
   * trips they took (the benchmark's recorder: a statement sent before any reply to the one before shares its trip).
   */
  async function statements<T>(
    fn: () => Promise<T>,
  ): Promise<{ result: T; sent: string[]; roundTrips: number }> {
    const { result, statements: recorded } = await recordSql(fn);
    return {
      result,
      sent: recorded.map((r) => r.text),
      roundTrips: new Set(recorded.map((r) => r.trip)).size,
    };
  }

  /** Runs `fn` with a calibration row stored for the merchant's version 1, removed afterwards. */
  async function withCalibration(
    merchant: string,
    row: { path: string; rerank: number; efSearch: number | null; candidates: number | null },
    fn: () => Promise<void>,
  ): Promise<void> {
    await t.db.dataSource.query(
      `INSERT INTO retrieval_calibrations (merchant_id, corpus_version, path, exact_max_readable, quantized_rerank,
         hnsw_ef_search, hnsw_candidates, sample_size, merchant_rows, took_ms)
       VALUES ($1, 1, $2, 0, $3, $4, $5, 0, 150, 0)`,
      [merchant, row.path, row.rerank, row.efSearch, row.candidates],
    );
    try {
      await fn();
    } finally {
      await t.db.dataSource.query(`DELETE FROM retrieval_calibrations WHERE merchant_id = $1`, [merchant]);
    }
  }

  async function load(merchant: string, docs: number): Promise<void> {
    for (let d = 0; d < docs; d++) {
      const topic = ['refund card money', 'parcel tracking courier', 'password login reset'][d % 3];
      const text = [0, 1, 2]
        .map((s) => `## Part ${s}\n\nDoc ${d} section ${s} is about ${topic} ${d}.`)
        .join('\n\n');
      await t.services.ingestion.writeDocument(merchant, {
        id: `d${d}`,
        title: `Doc ${d}`,
        text,
        acl: d % 10 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'],
      });
    }
  }

  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        RETRIEVAL_EXACT_SCAN_MAX_ROWS: '40',
        RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '100',
        RETRIEVAL_INDEX_AUTOBUILD: 'false',
        // One request connection: the prepared statements below are looked up on the connection that ran them.
        DB_POOL_SIZE: '1',
      },
    });
    big = await createTestMerchant(t, 'rtbig');
    small = await createTestMerchant(t, 'rtsmall');
    await load(big, 50); // 150 chunks: a dedicated index
    await load(small, 5); // 15 chunks: exact
    await t.services.indexes.maintain({ merchantId: big });
  }, 300_000);
  afterAll(async () => {
    await t.close();
  });

  const retrieve = (identity: ReturnType<typeof reader>, q: Partial<RetrieveQuery>) =>
    t.services.retrieval.retrieve(t.services.sessions.open(identity), { query: 'refund card', k: 5, ...q });

  it.each([
    ['exact, VECTOR', () => reader(small), { mode: 'vector' as const }, /^exact$/],
    ['exact, HYBRID', () => reader(small), { mode: 'hybrid' as const }, /^hybrid:exact\+keyword$/],
    ['KEYWORD', () => reader(small), { mode: 'keyword' as const }, /^keyword$/],
    ['HNSW, VECTOR', () => reader(big), { mode: 'vector' as const }, /^hnsw$/],
    [
      'HNSW, HYBRID (pool of 50)',
      () => reader(big),
      { mode: 'hybrid' as const },
      /^hybrid:exact\+keyword$|^hybrid:hnsw/,
    ],
    [
      'narrow reader of the large merchant',
      () => reader(big, ['contractor']),
      { mode: 'vector' as const },
      /^exact$/,
    ],
  ])('%s: at most 3 statements', async (_label, who, q, strategy) => {
    await retrieve(who(), q); // the process now knows the merchant's model
    const { result, sent, roundTrips } = await statements(() => retrieve(who(), q));
    expect(result.strategy).toMatch(strategy);
    expect(result.chunks.length).toBeGreaterThan(0);
    expect(sent).toHaveLength(3);
    // Sent ahead (one round trip) where the search statement is prepared, i.e. not on Citus.
    expect(roundTrips).toBe((await isDistributed(t.db.dataSource.manager)) ? 3 : 1);
    expect(sent[0]).toMatch(
      /^BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; (SET LOCAL ROLE |SET LOCAL citus.propagate_set_commands)/,
    );
    expect(sent[2]).toBe('COMMIT');
  });

  it('a precomputed embedding needs no knowledge of the model beforehand: 3 statements on a cold process too', async () => {
    const [qv] = await t.services.embedders.defaultEmbedder.embed(['parcel tracking']);
    const fresh = new RetrievalService(
      t.services.embedders,
      new SearchStrategy(new SearchRepository(), t.config),
      t.config,
    );
    const ask = () =>
      statements(() =>
        fresh.retrieve(t.services.sessions.open(reader(small)), {
          query: '',
          embedding: qv,
          k: 3,
          mode: 'vector',
        }),
      );
    const cold = await ask();
    expect(cold.result.chunks).toHaveLength(3);
    expect(cold.sent).toHaveLength(3);
    expect(cold.roundTrips).toBe(3);
    // Warm: the same three statements, the search and the COMMIT sent before the facts come back.
    const warm = await ask();
    expect(warm.sent).toHaveLength(3);
    expect(warm.roundTrips).toBe((await isDistributed(t.db.dataSource.manager)) ? 3 : 1);
    expect(warm.result.chunks).toEqual(cold.result.chunks);
    // RETRIEVAL_SEND_AHEAD=false: one statement at a time, warm or not.
    const config = { ...t.config, retrieval: { ...t.config.retrieval, sendAhead: false } };
    const stepwise = new RetrievalService(
      t.services.embedders,
      new SearchStrategy(new SearchRepository(), config),
      config,
    );
    for (let i = 0; i < 2; i++) {
      const { result, sent, roundTrips } = await statements(() =>
        stepwise.retrieve(t.services.sessions.open(reader(small)), {
          query: '',
          embedding: qv,
          k: 3,
          mode: 'vector',
        }),
      );
      expect([sent.length, roundTrips]).toEqual([3, 3]);
      expect(result.chunks).toEqual(cold.result.chunks);
    }
  });

  it('facts changed since the statement was sent ahead (a new calibration): its rows are not used, the facts read with it decide', async () => {
    const identity = reader(big);
    const q = { mode: 'vector' as const, query: 'parcel tracking courier', k: 7 };
    const before = await retrieve(identity, q); // this process knows the merchant without a calibration
    expect(before.strategy).toBe('hnsw');
    await withCalibration(
      big,
      { path: 'quantized', rerank: 100, efSearch: null, candidates: null },
      async () => {
        const changed = await statements(() => retrieve(identity, q));
        expect(changed.result.strategy).toBe('quantized');
        expect(changed.result.settings).not.toBe('defaults'); // the row's own (measured on no index: 'stale-')
        if (!(await isDistributed(t.db.dataSource.manager))) {
          // The HNSW statement went out ahead and was dropped; the quantized one, ahead of the new facts, answered.
          const searches = changed.sent.filter((text) => text.startsWith('WITH '));
          expect(searches).toHaveLength(2);
          expect(searches[0]).toContain('hnsw_graph');
          expect(searches[1]).not.toContain('hnsw_graph');
          expect(changed.sent).toHaveLength(6);
          expect(changed.roundTrips).toBe(2);
        }
        // What a process that never saw the merchant answers.
        const fresh = new RetrievalService(
          t.services.embedders,
          new SearchStrategy(new SearchRepository(), t.config),
          t.config,
        );
        const cold = await fresh.retrieve(t.services.sessions.open(identity), q);
        expect(cold.strategy).toBe('quantized');
        expect(changed.result.chunks).toEqual(cold.chunks);
        const next = await statements(() => retrieve(identity, q));
        expect(next.sent).toHaveLength(3);
        expect(next.result.chunks).toEqual(cold.chunks);
      },
    );
  });

  it('readAhead: a failed first statement is thrown and rolled back, a failed search is handed back; the connection stays usable', async () => {
    const session = t.services.sessions.open(reader(small));
    await expect(
      session.readAhead('SELECT 1/0 AS x', { text: 'SELECT $1::int AS y', values: [1], prepared: true }),
    ).rejects.toThrow(/division by zero/);
    const failed = await session.readAhead('SELECT 2 AS x', {
      text: 'SELECT 1/$1::int AS y',
      values: [0],
      prepared: true,
    });
    expect(failed.preludeRows).toEqual([{ x: 2 }]);
    expect('error' in failed && String(failed.error)).toMatch(/division by zero/);
    const ok = await session.readAhead('SELECT 3 AS x', {
      text: 'SELECT $1::int AS y',
      values: [4],
      prepared: false,
    });
    expect(ok).toEqual({ preludeRows: [{ x: 3 }], rows: [{ y: 4 }] });
    // Nothing left open on the pool's connection (one in this file): the next transaction begins with its own query
    // (a transaction left open would make its BEGIN a warning and now() older than the statement).
    const after = await session.read(
      `SELECT current_setting('app.merchant_id') AS m, now() = statement_timestamp() AS began_here`,
      (_c, rows) => Promise.resolve(rows),
    );
    expect(after).toEqual([{ m: small, began_here: true }]);
  });

  it('readAhead: its three queries leave in one socket write', async () => {
    const session = t.services.sessions.open(reader(small));
    type Chunk = Buffer | string;
    type Done = (err?: Error | null) => void;
    const proto = net.Socket.prototype as unknown as {
      _write: (this: net.Socket, chunk: Chunk, encoding: BufferEncoding, cb: Done) => void;
      _writev: (this: net.Socket, chunks: { chunk: Chunk }[], cb: Done) => void;
    };
    const { _write: write, _writev: writev } = proto;
    // Every socket write of the process while readAhead runs, as the bytes one call handed to the kernel.
    const writes: string[] = [];
    proto._write = function (chunk, encoding, cb) {
      writes.push(Buffer.from(chunk).toString('latin1'));
      write.call(this, chunk, encoding, cb);
    };
    proto._writev = function (chunks, cb) {
      writes.push(Buffer.concat(chunks.map((c) => Buffer.from(c.chunk))).toString('latin1'));
      writev.call(this, chunks, cb);
    };
    try {
      const out = await session.readAhead('SELECT 5 AS x', {
        text: 'SELECT $1::int AS one_write_marker',
        values: [6],
        prepared: true,
      });
      expect(out).toEqual({ preludeRows: [{ x: 5 }], rows: [{ one_write_marker: 6 }] });
    } finally {
      proto._write = write;
      proto._writev = writev;
    }
    // The statement's text travels only from client to server (PGlite's server answers on a socket of this process).
    const carrying = writes.filter((w) => w.includes('SELECT $1::int AS one_write_marker'));
    expect(carrying).toHaveLength(1);
    expect(carrying[0]).toContain('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    expect(carrying[0]).toContain('COMMIT');
  });

  it('the quantized fallback of a short HNSW scan is part of the same statement', async () => {
    const identity = reader(big);
    await retrieve(identity, { mode: 'vector' });
    await withCalibration(big, { path: 'hnsw', rerank: 400, efSearch: 1, candidates: 1 }, async () => {
      await retrieve(identity, { mode: 'vector' }); // the process sees the calibration
      // ef_search 1 with max_scan_tuples from the test config: the scan may come back short for a filter far
      // from the query; whichever path answered, it is one statement.
      const { result, sent } = await statements(() =>
        retrieve(identity, {
          mode: 'vector',
          k: 20,
          filter: { documentIds: ['d1', 'd4', 'd7', 'd10', 'd13'] },
        }),
      );
      expect(result.chunks).toHaveLength(15);
      expect(result.strategy).toMatch(/^hnsw/);
      expect(sent).toHaveLength(3);
    });
  });

  it('prepares the search statement once per connection and plans it once (a generic plan using the dedicated index)', async () => {
    const identity = reader(big);
    const queries = ['refund card', 'parcel tracking', 'password login reset', 'courier money'];
    const answers = [];
    const texts = new Set<string>();
    for (const query of queries) {
      const { result, sent } = await statements(() => retrieve(identity, { mode: 'vector', query }));
      answers.push(result);
      sent.filter((text) => text.startsWith('WITH ')).forEach((text) => texts.add(text));
    }
    expect(answers.map((a) => a.strategy)).toEqual(queries.map(() => 'hnsw'));
    // One text whatever the query.
    expect(texts.size).toBe(1);
    const [text] = texts;
    // Citus plans its router queries itself: the statement is sent unnamed, with the merchant bound.
    if (await isDistributed(t.db.dataSource.manager)) {
      expect(text).not.toContain(`'${big}'`);
      return;
    }
    // One node: the merchant is written into it (its index's predicate): this merchant's alone.
    expect(text).toContain(`c.merchant_id = '${big}'`);
    const prepared = await t.services.sessions
      .open(identity)
      .read('SELECT 1', (client) =>
        client.query<{ generic_plans: string; custom_plans: string }>(
          `SELECT generic_plans::text, custom_plans::text FROM pg_prepared_statements WHERE name = $1`,
          [preparedStatementName(text)],
        ),
      );
    expect(prepared).toHaveLength(1);
    expect(Number(prepared[0].generic_plans)).toBeGreaterThanOrEqual(queries.length);
    expect(Number(prepared[0].custom_plans)).toBe(0);
    // The plan explain shows is that prepared statement's, and it scans the merchant's own graph.
    const explained = await retrieve(identity, { mode: 'vector', query: 'refund card', explain: true });
    expect(explained.plan!.join('\n')).toMatch(
      /Index Scan using document_chunks_hnsw_\d+_\d+ on document_chunks/,
    );
    expect(explained.chunks.map((c) => c.id)).toEqual(answers[0].chunks.map((c) => c.id));
  });

  it('in the generic plan the query is quantized once, not for every row of the shortlist', async () => {
    const identity = reader(big);
    await withCalibration(
      big,
      { path: 'quantized', rerank: 100, efSearch: null, candidates: null },
      async () => {
        await retrieve(identity, { mode: 'vector' });
        const explained = await retrieve(identity, { mode: 'vector', explain: true });
        expect(explained.strategy).toBe('quantized');
        const plan = explained.plan!.join('\n');
        // A parameter is no constant: binary_quantize($1) in the sort key ran once per candidate (~3 µs each).
        // Citus: an unnamed statement planned for its values, the bits a constant folded at planning.
        if (await isDistributed(t.db.dataSource.manager)) {
          expect(plan).not.toMatch(/Sort Key:.*binary_quantize/);
          return;
        }
        // The shortlist ranks the distances its one scan of the readable entries computed (search-statement.sql.ts).
        expect(plan).toMatch(/Sort Key: r_\d+\.bits, r_\d+\.id/);
        expect(plan).not.toMatch(/Sort Key:.*binary_quantize/);
      },
    );
    if (await isDistributed(t.db.dataSource.manager)) return;
    // Where that scan computes them, in the same generic plan: against an InitPlan's output, `$11` (PostgreSQL 15)
    // or `(InitPlan 11).col1` (17, the embedded database), not binary_quantize($1) per entry. VERBOSE shows it.
    const [embedding] = await t.services.embedders.defaultEmbedder.embed(['refund card money']);
    const { sql, params } = statementSql(
      { merchantId: big, principals: principalsFor('rt', ['agent']) },
      {
        params: { embedding, corpus: { version: 1, dimensions: embedding.length }, k: 10, filter: {} },
        keyword: null,
        distributed: false,
        vector: {
          approximate: 'quantized',
          exactMaxReadable: 0,
          rerank: 100,
          hnswCandidates: 40,
          graphMaxId: null,
        },
      },
    );
    const verbose = await t.db.dataSource.transaction(async (m) => {
      await m.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      await m.query(`PREPARE srg_test_bits AS ${sql}`);
      try {
        const rows: { 'QUERY PLAN': string }[] = await m.query(
          `EXPLAIN (VERBOSE, COSTS OFF) EXECUTE srg_test_bits(${params.map(literalOf).join(', ')})`,
        );
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await m.query(`DEALLOCATE srg_test_bits`);
      }
    });
    expect(verbose).toMatch(
      /Output: c_\d+\.id, \(\(c_\d+\.embedding_bq\)::"bit" <~> (?:\$\d+|\(InitPlan \d+\)\.col1)\)/,
    );
    expect(verbose).not.toMatch(/<~> binary_quantize/);
  });

  it('calibration times the exact path in the gated form (ids first, a probe per id), with the same answers', async () => {
    const [embedding] = await t.services.embedders.defaultEmbedder.embed(['refund card money']);
    const repo = new SearchRepository();
    const scope = { merchantId: big, principals: principalsFor('rt', ['agent']) };
    const p = { embedding, corpus: { version: 1, dimensions: embedding.length }, k: 10, filter: {} };
    const sent: string[] = [];
    const run = (idsFirst: boolean) =>
      t.db.dataSource.transaction(async (m) => {
        const query = m.query.bind(m);
        m.query = ((sql: string, params?: unknown[]) => {
          sent.push(sql);
          return query(sql, params);
        }) as typeof m.query;
        return (await repo.searchExact(m, scope, p, { idsFirst })).map((h) => h.id);
      });
    const direct = await run(false);
    const idsFirst = await run(true);
    expect(direct).toHaveLength(10);
    expect(idsFirst).toEqual(direct);
    const [directSql, idsFirstSql] = sent.filter((sql) => sql.startsWith('WITH '));
    expect(directSql).not.toContain('readable_ids');
    // One node probes each id (LATERAL); Citus joins by (merchant, id), as its gated exact path does.
    expect(idsFirstSql).toMatch(
      /readable_ids AS MATERIALIZED[\s\S]*(?:CROSS JOIN LATERAL|FROM readable_ids r\s+JOIN document_chunks c)/,
    );
  });

  it('keeps at most its bound of prepared statements on a connection, the least recently used deallocated first', async () => {
    const pool = (t.db.dataSource.driver as unknown as { master: pg.Pool }).master;
    const connection = await pool.connect();
    try {
      const client = pgSqlClient(connection, 3);
      const texts = [0, 1, 2, 3, 4].map((i) => `SELECT $1::int + ${i} AS n`);
      for (const [i, text] of texts.entries())
        expect(await client.query(text, [10], { prepared: true })).toEqual([{ n: 10 + i }]);
      // The first was deallocated: asked again, it is prepared again (and the then oldest goes).
      expect(await client.query(texts[0], [1], { prepared: true })).toEqual([{ n: 1 }]);
      const held = await connection.query<{ name: string }>(
        `SELECT name FROM pg_prepared_statements WHERE name = ANY($1::text[])`,
        [texts.map(preparedStatementName)],
      );
      expect(held.rows.map((r) => r.name).sort()).toEqual(
        [texts[3], texts[4], texts[0]].map(preparedStatementName).sort(),
      );
    } finally {
      connection.release();
    }
  });

  it('a stale model in the process cannot return another version: it is read in the transaction, and the query embedded again', async () => {
    const merchant = await createTestMerchant(t, 'rtflip');
    await load(merchant, 4);
    const identity = reader(merchant);
    const before = await retrieve(identity, { mode: 'vector' }); // the process caches version 1's model
    expect(before.chunks.length).toBeGreaterThan(0);
    const report = await t.services.reembed.run(merchant, { model: 'local-hash-v2', dimensions: 384 });
    expect(report.status).toBe('flipped');
    const { result, sent } = await statements(() => retrieve(identity, { mode: 'vector' }));
    const versionOf = await t.db.dataSource.query<{ id: string; corpus_version: number }[]>(
      `SELECT id::text AS id, corpus_version FROM document_chunks WHERE id = ANY($1::bigint[])`,
      [result.chunks.map((c) => c.id)],
    );
    expect(result.chunks.length).toBeGreaterThan(0);
    expect(versionOf.map((r) => Number(r.corpus_version))).toEqual(result.chunks.map(() => report.toVersion));
    // The first transaction, sent ahead from the old facts, saw the new model: nothing it searched is used. The
    // second searched with the query embedded by the new model. Citus sends no search ahead (2 statements, then 3).
    const distributed = await isDistributed(t.db.dataSource.manager);
    expect(sent).toHaveLength(distributed ? 5 : 6);
    expect(sent.filter((s) => s.startsWith('WITH '))).toHaveLength(distributed ? 1 : 2);
    const after = await statements(() => retrieve(identity, { mode: 'vector' }));
    expect(after.sent).toHaveLength(3);
    expect(after.result.chunks.map((c) => c.id)).toEqual(result.chunks.map((c) => c.id));
  });
});
