import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  ApolloClient,
  type ApolloLink,
  gql,
  HttpLink,
  InMemoryCache,
  type DocumentNode,
} from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import Redis from 'ioredis';
import jwt from 'jsonwebtoken';
import { RetrieveChunksDocument } from '../generated/client/graphql';
import { createLogger } from '../src/ops/logger';
import { ADA_ADMIN, ALICE, startTestGateway, type TestGateway } from './support/test-gateway';

/** The manifest id GraphQL Code Generator embedded in the generated document. */
const RETRIEVE_HASH = (
  RetrieveChunksDocument as unknown as { __meta__: { hash: string } }
).__meta__.hash.replace(/^sha256:/, '');

const sha256 = (text: string): string => crypto.createHash('sha256').update(text).digest('hex');

/** What reached the server: each request body as sent, and the codes in each response. */
interface Exchange {
  body: { query?: string; extensions?: { persistedQuery?: { sha256Hash: string } } };
  status: number;
  codes: string[];
}

function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const text = await res.clone().text();
    const parsed = JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] };
    log.push({
      body: JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as Exchange['body'],
      status: res.status,
      codes: (parsed.errors ?? []).map((e) => e.extensions?.code ?? ''),
    });
    return res;
  };
}

function client(
  url: string,
  headers: Record<string, string>,
  log: Exchange[],
  pq?: ApolloLink,
): ApolloClient {
  const http = new HttpLink({ uri: url, headers, fetch: recordingFetch(log) });
  return new ApolloClient({
    link: pq ? pq.concat(http) : http,
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'no-cache' }, mutate: { fetchPolicy: 'no-cache' } },
  });
}

const frontendLink = () => new PersistedQueryLink({ sha256 });

/** A partner's link: the id of each operation comes from the generated document, never a hash of its text. */
const partnerLink = () =>
  new PersistedQueryLink({
    generateHash: (doc: DocumentNode) => {
      const meta = (doc as DocumentNode & { __meta__?: { hash?: string } }).__meta__;
      // Generated documents carry it; a hand-written document has none and must not be sent to the gateway.
      if (!meta?.hash) throw new Error('not a generated (persisted) document');
      return meta.hash.replace(/^sha256:/, '');
    },
  });

const DOCUMENTS = gql`
  query DocumentTitles($first: Int) {
    documents(first: $first) {
      nodes {
        id
        title
      }
    }
  }
`;

describe('persisted queries with Apollo Client over HTTP', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('APQ: a miss, the retry with the full query, then hashes only', async () => {
    const log: Exchange[] = [];
    const c = client(t.url, { authorization: `Bearer ${t.token(ALICE)}` }, log, frontendLink());
    const first = await c.query({ query: DOCUMENTS, variables: { first: 3 } });
    expect((first.data as { documents: { nodes: unknown[] } }).documents.nodes).toHaveLength(3);
    expect(log).toHaveLength(2);
    expect(log[0].body.query).toBeUndefined();
    expect(log[0].codes).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(log[1].body.query).toContain('query DocumentTitles');
    expect(log[1].body.extensions?.persistedQuery?.sha256Hash).toBe(sha256(log[1].body.query!));
    expect(log[1].codes).toEqual([]);

    // Hits afterwards, also from a second client (the cache is the server's, not the client's).
    const other = client(t.url, { authorization: `Bearer ${t.token(ADA_ADMIN)}` }, log, frontendLink());
    await c.query({ query: DOCUMENTS, variables: { first: 2 } });
    await other.query({ query: DOCUMENTS, variables: { first: 1 } });
    expect(log.slice(2).map((e) => [e.body.query, e.codes, e.status])).toEqual([
      [undefined, [], 200],
      [undefined, [], 200],
    ]);
  });

  it('anonymous requests do not register queries in the shared cache', async () => {
    const query = '{ documents(first: 1) { nodes { id } } }';
    const post = (body: object, headers: Record<string, string> = {}) =>
      fetch(t.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }).then(async (r) => (await r.json()) as { errors?: { extensions: { code: string } }[] });
    const persistedQuery = { version: 1, sha256Hash: sha256(query) };
    const anonymous = await post({ query, extensions: { persistedQuery } });
    expect(anonymous.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    const later = await post(
      { extensions: { persistedQuery } },
      { authorization: `Bearer ${t.token(ALICE)}` },
    );
    expect(later.errors?.[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('an unknown hash alone is PERSISTED_QUERY_NOT_FOUND for a frontend', async () => {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token(ALICE)}` },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
    });
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('a partner calls a manifest operation by id with its API key, and is refused anything else', async () => {
    const created = await t.services.apiKeys.create(
      'm01',
      { name: 'Helpdesk partner', principals: ['role:agent'], scopes: ['retrieve'] },
      'test',
    );
    const log: Exchange[] = [];
    const partner = client(t.url, { 'x-api-key': created.key }, log, partnerLink());
    const res = await partner.query({
      query: RetrieveChunksDocument,
      variables: { input: { query: 'refund', k: 3 } },
    });
    expect(res.data!.retrieveChunks.chunks.length).toBeGreaterThan(0);
    expect(log).toHaveLength(1); // no miss, no retry: the id is in the manifest
    expect(log[0].body.query).toBeUndefined();
    expect(log[0].body.extensions?.persistedQuery?.sha256Hash).toBe(RETRIEVE_HASH);

    // A query of its own by hash: refused, and the link does not fall back to sending the text.
    const refusedLog: Exchange[] = [];
    const adHoc = client(t.url, { 'x-api-key': created.key }, refusedLog, frontendLink());
    await expect(adHoc.query({ query: DOCUMENTS, variables: { first: 1 } })).rejects.toThrow(/safelist/);
    expect(refusedLog.map((e) => [e.status, e.codes, e.body.query])).toEqual([
      [403, ['OPERATION_NOT_ALLOWED'], undefined],
    ]);
    // And as full text, without the persisted-query link.
    const textLog: Exchange[] = [];
    const plain = client(t.url, { 'x-api-key': created.key }, textLog);
    await expect(plain.query({ query: DOCUMENTS, variables: { first: 1 } })).rejects.toThrow(
      /persisted operations/,
    );
    expect(textLog.map((e) => [e.status, e.codes])).toEqual([[403, ['OPERATION_NOT_ALLOWED']]]);
  });

  it('a partner cannot pair a safelisted documentId with the hash of another cached query (GET and POST)', async () => {
    const created = await t.services.apiKeys.create(
      'm01',
      { name: 'Smuggling partner', principals: ['role:agent'], scopes: ['retrieve'] },
      'test',
    );
    // Any token holder can put a query into the shared APQ cache.
    const smuggled = '{ documents(first: 5) { nodes { id title } } }';
    const smuggledHash = sha256(smuggled);
    const register = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token(ALICE)}` },
      body: JSON.stringify({
        query: smuggled,
        extensions: { persistedQuery: { version: 1, sha256Hash: smuggledHash } },
      }),
    });
    expect(register.status).toBe(200);
    const extensions = { persistedQuery: { version: 1, sha256Hash: smuggledHash } };
    const variables = { input: { query: 'refund', k: 1 } };
    const get = new URL(t.url);
    get.searchParams.set('documentId', `sha256:${RETRIEVE_HASH}`);
    get.searchParams.set('extensions', JSON.stringify(extensions));
    get.searchParams.set('variables', JSON.stringify(variables));
    const viaGet = await fetch(get, {
      headers: { 'x-api-key': created.key, 'apollo-require-preflight': 'true' },
    });
    const viaPost = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': created.key },
      body: JSON.stringify({ documentId: `sha256:${RETRIEVE_HASH}`, extensions, variables }),
    });
    for (const res of [viaGet, viaPost]) {
      const body = (await res.json()) as { data?: unknown; errors?: { extensions: { code: string } }[] };
      expect([res.status, body.errors?.[0]?.extensions.code, body.data]).toEqual([
        403,
        'OPERATION_NOT_ALLOWED',
        undefined,
      ]);
    }
    // The same id twice (documentId and the APQ hash agree) still runs the safelisted operation, over GET too.
    const same = new URL(t.url);
    same.searchParams.set('documentId', `sha256:${RETRIEVE_HASH}`);
    same.searchParams.set(
      'extensions',
      JSON.stringify({ persistedQuery: { version: 1, sha256Hash: RETRIEVE_HASH } }),
    );
    same.searchParams.set('variables', JSON.stringify(variables));
    const ok = await fetch(same, {
      headers: { 'x-api-key': created.key, 'apollo-require-preflight': 'true' },
    });
    const okBody = (await ok.json()) as {
      data?: { retrieveChunks: { chunks: unknown[] } };
      errors?: unknown;
    };
    expect([ok.status, okBody.errors]).toEqual([200, undefined]);
    expect(okBody.data!.retrieveChunks.chunks.length).toBeGreaterThan(0);
  });
});

describe("TOKEN_OPERATIONS=manifest, with an identity provider's JWKS", () => {
  let t: TestGateway;
  // The identity provider: an ES256 key whose public half is served as a JWKS over HTTP.
  const idp = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwksServer = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({ keys: [{ ...idp.publicKey.export({ format: 'jwk' }), kid: 'idp-1', alg: 'ES256' }] }),
    );
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const port = (jwksServer.address() as AddressInfo).port;
    t = await startTestGateway({
      env: {
        TOKEN_OPERATIONS: 'manifest',
        AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  });

  it("accepts the provider's ES256 tokens over HTTP (beside HS256) and refuses a forged one", async () => {
    const text = Object.values(
      JSON.parse(
        fs.readFileSync(path.join(__dirname, '../generated/client/persisted-documents.json'), 'utf8'),
      ) as Record<string, string>,
    ).find((q) => q.startsWith('query RetrieveChunks'))!;
    const forger = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const call = async (key: crypto.KeyObject) => {
      const token = jwt.sign({ merchant_id: 'm01', roles: ['agent'] }, key, {
        algorithm: 'ES256',
        keyid: 'idp-1',
        subject: 'u1',
        expiresIn: 60,
      });
      const res = await fetch(t.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: text, variables: { input: { query: 'refund', k: 1 } } }),
      });
      return {
        status: res.status,
        body: (await res.json()) as { errors?: { extensions: { code: string } }[] },
      };
    };
    const ok = await call(idp.privateKey);
    expect([ok.status, ok.body.errors]).toEqual([200, undefined]);
    const wrong = await call(forger.privateKey);
    expect([wrong.status, wrong.body.errors?.[0].extensions.code]).toEqual([401, 'UNAUTHENTICATED']);
  });

  it('staff tokens run safelisted operations (by id or exact text) and nothing else', async () => {
    const manifestText = (await import('../generated/client/persisted-documents.json')).default as Record<
      string,
      string
    >;
    const [id, text] = Object.entries(manifestText).find(([, q]) => q.startsWith('query RetrieveChunks'))!;
    const byText = await t.gql(text, { input: { query: 'refund', k: 1 } }, ALICE);
    expect(byText.errors).toBeUndefined();
    const log: Exchange[] = [];
    const c = client(t.url, { authorization: `Bearer ${t.token(ALICE)}` }, log, partnerLink());
    await c.query({ query: RetrieveChunksDocument, variables: { input: { query: 'refund', k: 1 } } });
    expect(log[0].body.extensions?.persistedQuery?.sha256Hash).toBe(id.replace('sha256:', ''));
    const other = await t.gql(`{ documents { nodes { id } } }`, {}, ALICE);
    expect([other.status, other.errors?.[0]?.extensions?.code]).toEqual([403, 'OPERATION_NOT_ALLOWED']);
  });
});

/** Redis on 127.0.0.1:6379 (CI has one); these tests skip only when it does not answer. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUp =
  spawnSync(
    process.execPath,
    [
      '-e',
      `const s=require('net').connect(${new URL(REDIS_URL).port || 6379},'${new URL(REDIS_URL).hostname}');` +
        `s.setTimeout(1000,()=>process.exit(1));s.on('error',()=>process.exit(1));` +
        `s.on('connect',()=>s.write('PING\\r\\n'));s.on('data',d=>process.exit(String(d).startsWith('+PONG')?0:1));`,
    ],
    { timeout: 3000 },
  ).status === 0;

(redisUp ? describe : describe.skip)('APQ in Redis, shared by two gateway instances', () => {
  const prefix = `srg-test-${crypto.randomBytes(4).toString('hex')}:`;
  let a: TestGateway;
  let b: TestGateway;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  beforeAll(async () => {
    const env = { REDIS_URL, REDIS_KEY_PREFIX: prefix };
    a = await startTestGateway({ env });
    b = await startTestGateway({ env });
    await redis.connect();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await a?.close();
    await b?.close();
  });

  it('a query registered on one instance is a hit on the other', async () => {
    const log: Exchange[] = [];
    const headers = { authorization: `Bearer ${a.token(ALICE)}` };
    await client(a.url, headers, log, frontendLink()).query({ query: DOCUMENTS, variables: { first: 1 } });
    expect(log.map((e) => e.codes)).toEqual([['PERSISTED_QUERY_NOT_FOUND'], []]);
    const hash = log[1].body.extensions!.persistedQuery!.sha256Hash;
    // Stored by Keyv, which wraps the value with its expiry.
    const stored = JSON.parse((await redis.get(`${prefix}apq:${hash}`)) ?? '{}') as { value?: string };
    expect(stored.value).toBe(log[1].body.query);
    expect(await redis.ttl(`${prefix}apq:${hash}`)).toBeGreaterThan(0);

    await client(b.url, headers, log, frontendLink()).query({ query: DOCUMENTS, variables: { first: 1 } });
    expect(log.slice(2).map((e) => [e.body.query, e.codes])).toEqual([[undefined, []]]);
  });
});

describe('APQ with REDIS_URL pointing at nothing', () => {
  let t: TestGateway;
  const lines: string[] = [];
  beforeAll(async () => {
    const sink = { write: (line: string) => void lines.push(line) };
    // Port 1 on localhost: nothing listens there, every connection is refused at once.
    t = await startTestGateway({
      env: { REDIS_URL: 'redis://127.0.0.1:1' },
      logger: createLogger('warn', sink),
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('degrades to misses: the full query is still served, quickly, and the outage is logged once', async () => {
    const log: Exchange[] = [];
    const c = client(t.url, { authorization: `Bearer ${t.token(ALICE)}` }, log, frontendLink());
    const started = Date.now();
    for (let i = 0; i < 3; i++) await c.query({ query: DOCUMENTS, variables: { first: 1 } });
    expect(Date.now() - started).toBeLessThan(5000);
    // Every hash is a miss, every retry with the full query succeeds.
    expect(log.map((e) => e.codes)).toEqual([
      ['PERSISTED_QUERY_NOT_FOUND'],
      [],
      ['PERSISTED_QUERY_NOT_FOUND'],
      [],
      ['PERSISTED_QUERY_NOT_FOUND'],
      [],
    ]);
    expect(lines.filter((l) => l.includes('APQ cache unavailable'))).toHaveLength(1);
  });
});
