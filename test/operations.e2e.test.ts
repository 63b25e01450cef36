import { Writable } from 'node:stream';
import { Client } from 'pg';
import { createGateway } from '../src/app';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { createLogger } from '../src/ops/logger';
import { knownMigrationNames } from '../src/ops/readiness';
import { nameTransaction } from '../src/ops/request-context';
import { nativeTestUrl, TEST_JWT_SECRET } from './support/test-env';
import {
  ADA_ADMIN,
  ALICE,
  createTestMerchant,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const RETRIEVE = `query OpsRetrieve($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { strategy chunks { id } }
}`;
const INGEST = `mutation OpsIngest($input: IngestDocumentInput!) {
  ingestDocument(input: $input) { chunkCount document { id } }
}`;
const SECRET_TEXT = 'the-confidential-refund-phrase-zq81';

interface ReadyBody {
  status: string;
  checks: {
    database: { ok: boolean };
    migrations: { ok: boolean; applied: number; pending: string[] };
    embedder: { ok: boolean; model: string; dimensions: number };
  };
}

/** Collects the gateway's JSON log lines. */
class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  raw = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.raw += chunk.toString();
    for (const line of chunk.toString().split('\n').filter(Boolean))
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
}

async function post(
  t: TestGateway,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; requestId: string | null; json: Record<string, unknown> }> {
  const res = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    requestId: res.headers.get('x-request-id'),
    json: (await res.json()) as Record<string, unknown>,
  };
}

/** Prometheus text format → value of one series, by exact label set. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of metrics.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort();
    if (have.length === wanted.length && have.every((l, i) => l === wanted[i])) return Number(m[3]);
  }
  return undefined;
}

describe('operations endpoints, metrics and logs over real HTTP', () => {
  let t: TestGateway;
  const logs = new LogLines();
  let base: string;

  beforeAll(async () => {
    t = await startTestGateway({ logger: createLogger('debug', logs) });
    base = t.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => {
    await t.close();
  });

  it('/healthz says the process is up', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it('/readyz checks the database, the migrations and the embedder', async () => {
    const res = await fetch(`${base}/readyz`);
    const body = (await res.json()) as ReadyBody;
    expect(res.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.database.ok).toBe(true);
    expect(body.checks.migrations).toMatchObject({ ok: true, pending: [] });
    expect(body.checks.migrations.applied).toBeGreaterThanOrEqual(2);
    expect(body.checks.embedder).toMatchObject({ ok: true, model: 'local-hash-v1', dimensions: 1536 });
  });

  it('/readyz answers 503 naming the migration while one is not applied', async () => {
    const ds = t.db.dataSource;
    const [latest]: { id: number; timestamp: string; name: string }[] = await ds.query(
      'SELECT id, timestamp, name FROM schema_migrations ORDER BY id DESC LIMIT 1',
    );
    await ds.query('DELETE FROM schema_migrations WHERE id = $1', [latest.id]);
    try {
      const res = await fetch(`${base}/readyz`);
      const body = (await res.json()) as ReadyBody;
      expect(res.status).toBe(503);
      expect(body.status).toBe('not_ready');
      expect(body.checks.database.ok).toBe(true);
      expect(body.checks.migrations).toMatchObject({ ok: false, pending: [latest.name] });
    } finally {
      await ds.query('INSERT INTO schema_migrations (id, timestamp, name) VALUES ($1, $2, $3)', [
        latest.id,
        latest.timestamp,
        latest.name,
      ]);
    }
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('returns the caller’s sane x-request-id, replaces an unsafe one, and logs one line per request', async () => {
    const ok = await post(
      t,
      { query: RETRIEVE, variables: { input: { query: SECRET_TEXT, k: 2 } } },
      { authorization: `Bearer ${t.token(ALICE)}`, 'x-request-id': 'ops-test-req-1' },
    );
    expect(ok.status).toBe(200);
    expect(ok.requestId).toBe('ops-test-req-1');

    const unsafe = await post(
      t,
      { query: RETRIEVE, variables: { input: { query: 'refund', k: 2 } } },
      { 'x-request-id': 'has spaces\tand "quotes"' },
    );
    expect(unsafe.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const line = logs.lines.find((l) => l.requestId === 'ops-test-req-1' && l.msg === 'request');
    expect(line).toMatchObject({
      level: 'info',
      service: 'support-rag-gateway',
      method: 'POST',
      path: '/graphql',
      status: 200,
      operation: 'OpsRetrieve',
      outcome: 'ok',
      merchantId: 'm01',
    });
    expect(typeof line!.durationMs).toBe('number');
    expect(typeof line!.time).toBe('string');
    expect(logs.lines.find((l) => l.requestId === unsafe.requestId)).toMatchObject({
      outcome: 'UNAUTHENTICATED',
      operation: 'OpsRetrieve',
    });
    // Neither the query text nor the token reaches the log.
    expect(logs.raw).not.toContain(SECRET_TEXT);
    expect(logs.raw).not.toContain(t.token(ALICE));
  });

  it('counts requests by operation and outcome, retrieval strategies, embeddings, cache hits and ingestion', async () => {
    const merchant = await createTestMerchant(t, 'ops');
    const admin: TestIdentity = { ...ADA_ADMIN, merchantId: merchant };
    const ingested = await t.gql(
      INGEST,
      {
        input: {
          id: 'ops-doc',
          title: 'Refunds',
          text: '# Refunds\n\nRefunds take 30 days.',
          acl: ['role:agent'],
        },
      },
      admin,
    );
    expect(ingested.errors).toBeUndefined();
    const asAgent: TestIdentity = { ...ALICE, merchantId: merchant };
    for (let i = 0; i < 2; i++) {
      const r = await t.gql<{ retrieveChunks: { strategy: string } }>(
        RETRIEVE,
        { input: { query: 'how long do refunds take', k: 1, mode: 'VECTOR' } },
        asAgent,
      );
      expect(r.data?.retrieveChunks.strategy).toBe('exact');
    }
    const denied = await t.gql(
      INGEST,
      { input: { title: 'Not mine', text: 'Agents may not ingest.', acl: ['role:agent'] } },
      asAgent,
    );
    expect(denied.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    const badToken = await post(t, { query: RETRIEVE }, { authorization: 'Bearer not-a-token' });
    expect(badToken.status).toBe(401);

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const m = await res.text();
    expect(sample(m, 'srg_graphql_requests_total', { operation: 'OpsIngest', outcome: 'ok' })).toBe(1);
    expect(sample(m, 'srg_graphql_requests_total', { operation: 'OpsIngest', outcome: 'FORBIDDEN' })).toBe(1);
    expect(
      sample(m, 'srg_graphql_requests_total', { operation: 'OpsRetrieve', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      sample(m, 'srg_graphql_requests_total', { operation: 'anonymous', outcome: 'UNAUTHENTICATED' }),
    ).toBe(1);
    expect(
      sample(m, 'srg_graphql_request_duration_seconds_count', { operation: 'OpsIngest', outcome: 'ok' }),
    ).toBe(1);
    expect(sample(m, 'srg_retrievals_total', { mode: 'vector', strategy: 'exact' })).toBe(2);
    expect(sample(m, 'srg_ingested_sources_total', { kind: 'document', result: 'created' })).toBe(1);
    expect(sample(m, 'srg_ingested_chunks_total', { kind: 'document', how: 'embedded' })).toBe(1);
    expect(
      sample(m, 'srg_embedding_calls_total', { model: 'local-hash-v1', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(2);
    // The second identical query is answered from the in-memory cache.
    expect(sample(m, 'srg_embedding_cache_hits_total', { model: 'local-hash-v1' })).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'srg_db_pool_connections', { state: 'max' })).toBe(nativeTestUrl() ? 4 : 1);
    expect(sample(m, 'srg_db_pool_connections', { state: 'waiting' })).toBe(0);
    expect(sample(m, 'srg_http_requests_in_flight')).toBe(1); // this scrape
    expect(m).toContain('process_resident_memory_bytes');
  });

  it('tags a request’s transactions with its request id, transaction-locally', async () => {
    const merchant = await createTestMerchant(t, 'opstag');
    const identity = {
      merchantId: merchant,
      userId: 'u1',
      roles: ['agent'],
      principals: ['u1', 'role:agent'],
    };
    const session = t.services.sessions.open(identity, 'ops-tag-1');
    const NAME = "SELECT current_setting('application_name') AS name";
    // Both ways a request's session opens a transaction: TypeORM's (writes, lists) and the hot read path's.
    const written: { name: string }[] = await session.transaction((m) => m.query(NAME));
    expect(written[0].name).toBe('srg:ops-tag-1');
    const read = await session.read(NAME, (_client, rows) => Promise.resolve(rows));
    expect(read[0].name).toBe('srg:ops-tag-1');
    // A session without a request (a command-line tool) keeps the pool's name.
    const untagged: { name: string }[] = await t.services.sessions
      .open(identity)
      .transaction((m) => m.query(NAME));
    expect(untagged[0].name).not.toContain('srg:');
    // An owner's transaction a request opens (creating an API key) is named by its first statement.
    const ds = t.db.dataSource;
    const owner: { name: string }[] = await ds.transaction(async (m) => {
      await nameTransaction(m, 'ops-tag-2');
      return m.query(NAME);
    });
    expect(owner[0].name).toBe('srg:ops-tag-2');
    // Reverted at commit: the next user of the (on PGlite: only) session sees the pool's own name.
    const after: { name: string }[] = await ds.query(NAME);
    expect(after[0].name).not.toMatch(/ops-tag-[12]/);
  });

  it('logs an internal error with the id of the request it happened in, and sends only a masked error', async () => {
    // After provisioning, the embedder claims and returns 1535 dimensions: validation passes and PostgreSQL's
    // trigger rejects the chunk INSERT (the corpus version is 1536-d), an error no rule of ours expects.
    const good = new LocalHashEmbedder(1536);
    const short = new LocalHashEmbedder(1535);
    let short1535 = false;
    const broken = await startTestGateway({
      logger: createLogger('debug', logs),
      embedder: {
        model: good.model,
        get dimensions() {
          return short1535 ? 1535 : 1536;
        },
        embed: (texts) => (short1535 ? short : good).embed(texts),
      },
    });
    try {
      const merchant = await createTestMerchant(broken, 'opsboom');
      short1535 = true;
      const res = await post(
        broken,
        { query: INGEST, variables: { input: { title: 'T', text: 'Some text.', acl: ['role:agent'] } } },
        {
          authorization: `Bearer ${broken.token({ ...ADA_ADMIN, merchantId: merchant })}`,
          'x-request-id': 'ops-boom-1',
        },
      );
      const errors = res.json.errors as { extensions: { code: string }; message: string }[];
      expect(errors[0]).toMatchObject({
        message: 'Internal server error',
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
      const line = logs.lines.find((l) => l.msg === 'internal error' && l.requestId === 'ops-boom-1');
      expect(line?.level).toBe('error');
      // safeError's form of a database error: its SQLSTATE, never its message (which can quote customers' text).
      expect((line?.error as { sqlState?: unknown } | undefined)?.sqlState).toMatch(/^[0-9A-Z]{5}$/);
      expect(logs.lines.find((l) => l.msg === 'request' && l.requestId === 'ops-boom-1')).toMatchObject({
        outcome: 'INTERNAL_SERVER_ERROR',
      });
    } finally {
      await broken.close();
    }
  });
});

const native = nativeTestUrl();
(native ? describe : describe.skip)('request id in PostgreSQL (native)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t.close();
  });

  // Both kinds of transaction a request opens: its tenant session's (an ingestion), and a TypeORM transaction on
  // the owner's connection (an API key's creation, whose insert checks the merchant's row for its foreign key).
  it.each([
    {
      kind: 'tenant session',
      requestId: 'ops-lock-req-7',
      body: {
        query: INGEST,
        variables: { input: { title: 'Locked', text: 'Waits for the lock.', acl: ['role:agent'] } },
      },
    },
    {
      kind: 'owner transaction',
      requestId: 'ops-lock-key-8',
      body: {
        query: `mutation K($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } } }`,
        variables: { input: { name: 'Locked', principals: ['role:agent'], scopes: ['RETRIEVE'] } },
      },
    },
  ])(
    'a request blocked on a lock shows up in pg_stat_activity under its request id ($kind)',
    async ({ requestId, body }) => {
      const merchant = await createTestMerchant(t, 'opslock');
      const locker = new Client({ connectionString: native });
      const watcher = new Client({ connectionString: native });
      await locker.connect();
      await watcher.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('SELECT 1 FROM merchants WHERE id = $1 FOR UPDATE', [merchant]);
        const pending = post(t, body, {
          authorization: `Bearer ${t.token({ ...ADA_ADMIN, merchantId: merchant })}`,
          'x-request-id': requestId,
        });
        let seen: { application_name: string; wait_event_type: string | null }[] = [];
        for (let i = 0; i < 100 && seen.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
          ({ rows: seen } = await watcher.query(
            `SELECT application_name, wait_event_type FROM pg_stat_activity
            WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [`srg:${requestId}`],
          ));
        }
        expect(seen).toHaveLength(1);
        await locker.query('COMMIT');
        const done = await pending;
        expect(done.status).toBe(200);
        expect(done.json.errors).toBeUndefined();
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        await locker.end();
        await watcher.end();
      }
    },
  );
});

(native ? describe : describe.skip)('several gateways starting at once (native)', () => {
  it('migrate a fresh database once, the others waiting on the advisory lock; /readyz fails once it is gone', async () => {
    const name = `srg_migrate_race_${process.pid}`;
    const admin = new Client({ connectionString: native });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(native!);
    url.pathname = `/${name}`;
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url.toString() });
    try {
      const dbs = await Promise.all(
        [1, 2, 3].map(() => openDatabase(config, { migrate: true, poolSize: 1 })),
      );
      const rows: { n: string }[] = await dbs[0].dataSource.query(
        'SELECT count(*) AS n FROM schema_migrations',
      );
      expect(Number(rows[0].n)).toBe(knownMigrationNames().length);

      // And /readyz follows the database: ready, then 503 naming the error once the database is gone.
      const gateway = await createGateway({
        config,
        db: dbs[0],
        embedder: createEmbedder(config),
        jwtSecret: TEST_JWT_SECRET,
      });
      const readyz = (await gateway.listen(0, '127.0.0.1')).replace(/\/graphql$/, '/readyz');
      expect((await fetch(readyz)).status).toBe(200);
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      const down = await fetch(readyz);
      const body = (await down.json()) as { checks: { database: { ok: boolean; error?: string } } };
      expect(down.status).toBe(503);
      expect(body.checks.database.ok).toBe(false);
      expect(body.checks.database.error).toMatch(/57P01|3D000|terminat|does not exist/);
      await gateway.stop();
      await Promise.all(dbs.map((db) => db.close().catch(() => undefined)));
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
