import { GraphQLError } from 'graphql';
import Redis from 'ioredis';
import { createFormatError } from '../src/common/errors/format-error';
import { QUERY_READ_TIMEOUT, withoutReadTimeout } from '../src/db/database';
import { nativeTestUrl } from './support/test-env';
import {
  ADA_ADMIN,
  ALICE,
  BOB,
  errorCode,
  GLOBEX_AGENT,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';
import { rawRequest, redisAvailable, REDIS_URL, uniquePrefix } from './support/http';

const RETRIEVE = `query Retrieve($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { chunks { id document { id } } }
}`;
const DOCS = `query Docs($first: Int) { documents(first: $first) { nodes { id } } }`;

describe('request limits over HTTP (low limits configured)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        GRAPHQL_MAX_DEPTH: '3',
        GRAPHQL_MAX_ALIASES: '5',
        GRAPHQL_MAX_COST: '300',
        GRAPHQL_MAX_OPERATION_CHARS: '4000',
        API_MAX_BODY_BYTES: '65536',
        GRAPHQL_MAX_BATCH_OPERATIONS: '3',
        CORS_ORIGINS: 'https://app.example.com,https://admin.example.com',
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('QUERY_TOO_DEEP above GRAPHQL_MAX_DEPTH, also through fragments; HTTP 400', async () => {
    const res = await t.gql(RETRIEVE, { input: { query: 'refund', k: 1 } });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('QUERY_TOO_DEEP');
    expect(res.errors![0].extensions).toMatchObject({ depth: 4, limit: 3 });
    const viaFragment = await t.gql(
      `query { retrieveChunks(input: { query: "refund" }) { ...C } }
       fragment C on RetrieveChunksResult { chunks { ...D } }
       fragment D on RetrievedChunk { ticket { id } }`,
    );
    expect(errorCode(viaFragment)).toBe('QUERY_TOO_DEEP');
    const ok = await t.gql(`query { retrieveChunks(input: { query: "refund", k: 1 }) { chunks { id } } }`);
    expect(ok.errors).toBeUndefined();
  });

  it('TOO_MANY_ALIASES above GRAPHQL_MAX_ALIASES, counting each spread of a fragment', async () => {
    const six = Array.from({ length: 6 }, (_, i) => `a${i}: document(id: "d7") { id }`).join(' ');
    const res = await t.gql(`query { ${six} }`);
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('TOO_MANY_ALIASES');
    const spread = await t.gql(
      `query { a: document(id: "d7") { ...F } b: document(id: "d1") { ...F } }
       fragment F on SupportDocument { x: id y: title }`,
    );
    expect(errorCode(spread)).toBe('TOO_MANY_ALIASES'); // 2 + 2 × 2 = 6
    const five = Array.from({ length: 5 }, (_, i) => `a${i}: document(id: "d7") { id }`).join(' ');
    expect((await t.gql(`query { ${five} }`)).errors).toBeUndefined();
  });

  it('QUERY_TOO_COMPLEX when page sizes multiply past GRAPHQL_MAX_COST, with variables read', async () => {
    // documents(first: 100) { nodes { id } } costs 1 + 100 × 1 = 101; three of them 303 > 300.
    const three = `query($n: Int) { a: documents(first: $n) { nodes { id } } b: documents(first: $n) { nodes { id } }
      c: documents(first: $n) { nodes { id } } }`;
    const res = await t.gql(three, { n: 100 });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('QUERY_TOO_COMPLEX');
    expect(res.errors![0].extensions).toMatchObject({ cost: 303, limit: 300 });
    expect((await t.gql(three, { n: 10 })).errors).toBeUndefined();
    // Out-of-range sizes count as 100, so the resolver's own message about `first` reaches the caller.
    const huge = await t.gql(DOCS, { first: 1_000_000 });
    expect(errorCode(huge)).toBe('BAD_USER_INPUT');
  });

  it('TOO_MANY_SELECTIONS before graphql-js validation, whose same-name field check is quadratic', async () => {
    // 600 repeated `id`s: graphql-js alone needs about a second to validate this; refused here in milliseconds.
    const started = performance.now();
    const res = await t.gql(`query { document(id: "d7") { ${'id '.repeat(600)} } }`);
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('TOO_MANY_SELECTIONS');
    expect(res.errors![0].extensions).toMatchObject({ selections: 601, limit: 150 });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('QUERY_TOO_DEEP for nesting too deep to parse', async () => {
    const res = await t.gql(`{${'a{'.repeat(900)}b${'}'.repeat(901)}`);
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('QUERY_TOO_DEEP');
  });

  it('QUERY_TOO_LARGE above GRAPHQL_MAX_OPERATION_CHARS, before parsing', async () => {
    const res = await t.gql(`query { document(id: "d7") { id } } ${'#'.repeat(4100)}`);
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('QUERY_TOO_LARGE');
  });

  it('PAYLOAD_TOO_LARGE (413) above API_MAX_BODY_BYTES', async () => {
    const res = await rawRequest(t.url, {
      body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(70_000) } }),
      token: t.token(ALICE),
    });
    expect(res.status).toBe(413);
    expect(res.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('BAD_REQUEST for malformed JSON, UNSUPPORTED_MEDIA_TYPE (415) for other content types', async () => {
    const broken = await rawRequest(t.url, { body: '{"query": "{ __typename }"', token: t.token(ALICE) });
    expect(broken.status).toBe(400);
    expect(broken.code).toBe('BAD_REQUEST');
    expect(broken.text).not.toMatch(/at \w+ \(|node_modules|SyntaxError/);
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await rawRequest(t.url, {
        body: 'query={ __typename }',
        contentType: type,
        token: t.token(ALICE),
      });
      expect(res.status).toBe(415);
      expect(res.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('introspection is on outside production (GRAPHQL_INTROSPECTION defaults to it)', async () => {
    const res = await t.gql('query { __schema { queryType { name } } }');
    expect(res.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('CORS answers only the configured origins', async () => {
    const preflight = (origin: string) =>
      fetch(t.url, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const other = await preflight('https://evil.example.net');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a GET mutation is refused (405), a GET query without a preflight header is refused by CSRF prevention', async () => {
    const q = encodeURIComponent('mutation { deleteDocument(id: "d7") }');
    const get = await fetch(`${t.url}?query=${q}`, {
      headers: { authorization: `Bearer ${t.token(ADA_ADMIN)}`, 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(405);
    expect(
      ((await get.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code,
    ).toBe('BAD_REQUEST');
    const csrf = await fetch(`${t.url}?query=${encodeURIComponent('{ document(id: "d7") { id } }')}`, {
      headers: { authorization: `Bearer ${t.token(ALICE)}` },
    });
    expect(csrf.status).toBe(400);
    expect(
      ((await csrf.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code,
    ).toBe('BAD_REQUEST');
    const doc = await t.gql(`query { document(id: "d7") { id } }`, {}, ADA_ADMIN);
    expect(doc.data).toEqual({ document: { id: 'd7' } });
  });

  it('runs up to GRAPHQL_MAX_BATCH_OPERATIONS operations and refuses more with BATCH_TOO_LARGE', async () => {
    const op = { query: 'query { document(id: "d7") { id } }' };
    const ok = await rawRequest(t.url, { body: JSON.stringify([op, op, op]), token: t.token(ALICE) });
    expect(ok.status).toBe(200);
    expect(ok.json).toHaveLength(3);
    const tooMany = await rawRequest(t.url, {
      body: JSON.stringify([op, op, op, op]),
      token: t.token(ALICE),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.code).toBe('BATCH_TOO_LARGE');
  });
});

describe('production hides the schema and internals', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      env: { NODE_ENV: 'production', SEED_ON_EMPTY: 'false', LOG_LEVEL: 'silent' },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('introspection is off, and suggestions do not leak field names', async () => {
    const res = await t.gql('query { __schema { types { name } } }');
    expect(errorCode(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    const typo = await t.gql('query { documentz { nodes { id } } }');
    expect(errorCode(typo)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(typo.errors![0].message).not.toMatch(/Did you mean/);
  });

  it('parse, validation and coercion errors carry a code and no stack trace', async () => {
    for (const [query, variables, code] of [
      ['query { document(id: ', {}, 'GRAPHQL_PARSE_FAILED'],
      ['query { document(id: 1.5) { id } }', {}, 'GRAPHQL_VALIDATION_FAILED'],
      [RETRIEVE.replace('document { id }', ''), { input: { query: 'x', k: 'five' } }, 'BAD_USER_INPUT'],
    ] as const) {
      const res = await t.gql(query, variables);
      expect(errorCode(res)).toBe(code);
      expect(JSON.stringify(res)).not.toMatch(/stacktrace|node_modules|at \w+ \(/);
    }
  });
});

describe('rate limits (in memory)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      env: {
        RATE_LIMIT_CALLER_PER_MINUTE: '1',
        RATE_LIMIT_CALLER_BURST: '3',
        RATE_LIMIT_MERCHANT_PER_MINUTE: '1',
        RATE_LIMIT_MERCHANT_BURST: '5',
        RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1',
        RATE_LIMIT_ANONYMOUS_BURST: '2',
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });
  const ping = (as: typeof ALICE | null) => t.gql('query { document(id: "d7") { id } }', {}, as);

  it('per caller, then per merchant; RATE_LIMITED with 429 and Retry-After; other merchants unaffected', async () => {
    for (let i = 0; i < 3; i++) expect((await ping(ALICE)).errors).toBeUndefined();
    const limited = await rawRequest(t.url, {
      body: JSON.stringify({ query: 'query { document(id: "d7") { id } }' }),
      token: t.token(ALICE),
    });
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.json).toMatchObject({ errors: [{ extensions: { limit: 'caller' } }] });
    // A burst of 3 at 1 per minute is a window of 3 minutes; the answer is when it restarts.
    const retryAfter = (limited.json as { errors: { extensions: { retryAfterSeconds: number } }[] }).errors[0]
      .extensions.retryAfterSeconds;
    expect(retryAfter).toBeGreaterThan(170);
    expect(retryAfter).toBeLessThanOrEqual(180);
    expect(limited.headers.get('retry-after')).toBe(String(retryAfter));
    // Bob has his own caller bucket but shares m01's: 2 more requests empty the merchant's 5.
    expect((await ping(BOB)).errors).toBeUndefined();
    expect((await ping(BOB)).errors).toBeUndefined();
    const merchantLimited = await ping(BOB);
    expect(errorCode(merchantLimited)).toBe('RATE_LIMITED');
    expect(merchantLimited.errors![0].extensions).toMatchObject({ limit: 'merchant' });
    expect((await ping(GLOBEX_AGENT)).errors).toBeUndefined();
  });

  it('requests without valid credentials draw from the per-address bucket', async () => {
    const forged = await rawRequest(t.url, {
      body: JSON.stringify({ query: '{ __typename }' }),
      headers: { authorization: 'Bearer not.a.token' },
    });
    expect(forged.code).toBe('UNAUTHENTICATED');
    expect((await ping(null)).status).toBe(200);
    const limited = await ping(null);
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
  });
});

const describeRedis = redisAvailable() ? describe : describe.skip;
describeRedis('rate limits shared through Redis by two gateway instances', () => {
  let a: TestGateway;
  let b: TestGateway;
  const prefix = uniquePrefix('i5-rl');
  beforeAll(async () => {
    const env = {
      REDIS_URL,
      RATE_LIMIT_REDIS_PREFIX: prefix,
      RATE_LIMIT_CALLER_PER_MINUTE: '1',
      RATE_LIMIT_CALLER_BURST: '4',
    };
    a = await startTestGateway({ env });
    b = await startTestGateway({ env });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('a caller gets its burst once across both instances, not once per instance', async () => {
    const q = 'query { document(id: "d7") { id } }';
    const codes: (string | undefined)[] = [];
    for (const g of [a, b, a, b, a, b]) codes.push(errorCode(await g.gql(q, {}, ALICE)));
    expect(codes).toEqual([undefined, undefined, undefined, undefined, 'RATE_LIMITED', 'RATE_LIMITED']);
    expect(errorCode(await b.gql(q, {}, GLOBEX_AGENT))).toBeUndefined();
  });
});

const describeNative = nativeTestUrl() ? describe : describe.skip;
describeNative('statement timeout (native PostgreSQL)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ env: { DB_STATEMENT_TIMEOUT_MS: '300' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('applies to every pooled connection and maps to QUERY_TIMEOUT', async () => {
    const rows = await t.db.dataSource.query<{ statement_timeout: string }[]>('SHOW statement_timeout');
    expect(rows[0].statement_timeout).toBe('300ms');
    const err: unknown = await t.db.dataSource.query('SELECT pg_sleep(2)').then(
      () => undefined,
      (e: unknown) => e,
    );
    const formatted = createFormatError({})(
      { message: 'x' },
      new GraphQLError('x', { originalError: err as Error, path: ['documents'] }),
    );
    expect(formatted.extensions?.code).toBe('QUERY_TIMEOUT');
    expect(formatted.message).not.toMatch(/pg_sleep|SELECT/);
  });

  it("lets a statement outlive the client's read timeout where the server's is lifted (an index build)", async () => {
    // pg gives up on the client 2 s after the statement timeout (2.3 s here), lifted on the server or not.
    const sleep = async (withoutClientTimeout: boolean) => {
      const runner = t.db.dataSource.createQueryRunner();
      await runner.connect();
      try {
        await runner.query('SET statement_timeout = 0');
        const run = () => runner.query('SELECT pg_sleep(2.6)');
        return await (withoutClientTimeout ? withoutReadTimeout(runner, run) : run()).then(
          () => 'done',
          (e: Error) => e.message,
        );
      } finally {
        // An abandoned connection refuses this; the pool drops it.
        await runner.query('RESET statement_timeout').catch(() => undefined);
        await runner.release();
      }
    };
    expect(await sleep(true)).toBe('done');
    // Without it (and on the connection given back, the pool's most recent): the client gives up.
    expect(await sleep(false)).toBe(QUERY_READ_TIMEOUT);
  }, 30_000);

  it('never hands a connection it abandoned to the next query', async () => {
    // The read timeout destroys the socket, but pg notices the close only on a later tick: released at once,
    // the connection looked queryable to the pool, which gave it to the next query ("Connection terminated").
    const runner = t.db.dataSource.createQueryRunner();
    await runner.connect();
    let pid = 0;
    let outcome = 'not run';
    try {
      pid = ((await runner.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[])[0].pid;
      await runner.query('SET statement_timeout = 0');
      outcome = await runner.query('SELECT pg_sleep(2.6)').then(
        () => 'done',
        (e: Error) => e.message,
      );
    } finally {
      // Given back at once, as a request does after its query failed; reset first only if the timeout never fired.
      if (outcome === 'done') await runner.query('RESET statement_timeout');
      await runner.release();
    }
    expect(outcome).toBe(QUERY_READ_TIMEOUT);
    const next = await t.db.dataSource.query<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
    expect(next[0].pid).not.toBe(pid);
  }, 30_000);
});
