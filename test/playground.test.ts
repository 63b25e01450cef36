/**
 * The playground's server side without a browser: configuration rules, what each PLAYGROUND mode serves, the
 * admin-only introspection guard, and that the example operations are valid against the current schema.
 * (The browser test, playground.browser.test.ts, runs the real IDE.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import { ConfigError, loadConfig } from '../src/config/config';
import { exampleTabs } from '../src/playground/examples';
import { ADA_ADMIN, ALICE, errorCode, startTestGateway, type TestGateway } from './support/test-gateway';
import { TEST_JWT_SECRET } from './support/test-env';

const SECRET = TEST_JWT_SECRET;
const INTROSPECTION = '{ __schema { queryType { name } } }';

function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** A directory that looks like built assets, so these tests need no 7 s bundle. */
function fakeAssetsDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-playground-assets-'));
  fs.writeFileSync(path.join(dir, 'playground.js'), '/* test bundle */');
  return dir;
}

function playgroundUrl(t: TestGateway, pathname = '/playground'): string {
  return t.url.replace(/\/graphql$/, pathname);
}

describe('playground configuration', () => {
  it('is on outside production and off in production by default', () => {
    expect(loadConfig({}).playground).toMatchObject({ mode: 'on', devTokens: true });
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: SECRET }).playground).toMatchObject({
      mode: 'off',
      devTokens: false,
    });
    expect(
      loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: SECRET, PLAYGROUND: 'admin' }).playground.mode,
    ).toBe('admin');
  });

  it('names the variable and the problem for every bad value', () => {
    expect(configProblems({ PLAYGROUND: 'yes' })).toEqual(['PLAYGROUND="yes" must be one of on, admin, off']);
    expect(configProblems({ PLAYGROUND_DEV_TOKENS: 'maybe' })).toEqual([
      'PLAYGROUND_DEV_TOKENS="maybe" must be true or false',
    ]);
    const production = { NODE_ENV: 'production', AUTH_JWT_SECRET: SECRET };
    expect(configProblems({ ...production, PLAYGROUND: 'on' })).toEqual([
      expect.stringMatching(/^PLAYGROUND=on is not allowed when NODE_ENV=production: use admin .* or off$/),
    ]);
    expect(configProblems({ ...production, PLAYGROUND: 'admin', PLAYGROUND_DEV_TOKENS: 'true' })).toEqual([
      expect.stringMatching(/^PLAYGROUND_DEV_TOKENS must be false when NODE_ENV=production/),
    ]);
  });
});

describe('playground examples', () => {
  it('are valid operations against schema.graphql, one per demo identity', () => {
    const schema = buildSchema(fs.readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8'));
    const tabs = exampleTabs(SECRET);
    expect(tabs.map((tab) => /(query|mutation) (\w+)/.exec(tab.query)?.[2])).toEqual([
      'RetrieveAsAlice',
      'RetrieveAsBob',
      'IngestAsAda',
    ]);
    for (const tab of tabs) {
      expect(validate(schema, parse(tab.query))).toEqual([]);
      expect(() => JSON.parse(tab.variables) as unknown).not.toThrow();
      expect((JSON.parse(tab.headers) as { Authorization: string }).Authorization).toMatch(/^Bearer ey/);
    }
    // Without a secret the tabs say how to get a token instead of carrying one.
    for (const tab of exampleTabs(undefined)) {
      expect((JSON.parse(tab.headers) as { Authorization: string }).Authorization).toMatch(
        /^Bearer <token for \w+: npm run token -- --merchant m01 /,
      );
    }
  });
});

describe('PLAYGROUND=on (development default)', () => {
  let t: TestGateway;
  const assetsDir = fakeAssetsDir();
  beforeAll(async () => {
    t = await startTestGateway({ env: { PLAYGROUND_ASSETS_DIR: assetsDir } });
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(assetsDir, { recursive: true, force: true });
  });

  it('serves the page with demo tokens that the gateway accepts, under a same-origin CSP', async () => {
    const res = await fetch(playgroundUrl(t));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self';/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('<script src="/playground/assets/playground.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
    const bootstrap = /<script type="application\/json" id="playground-bootstrap">(.*)<\/script>/.exec(html);
    const data = JSON.parse(bootstrap![1]) as { devTokens: boolean; tabs: { headers: string }[] };
    expect(data.devTokens).toBe(true);
    const aliceHeader = (JSON.parse(data.tabs[0].headers) as { Authorization: string }).Authorization;
    const me = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: aliceHeader },
      body: JSON.stringify({
        query: '{ retrieveChunks(input: { query: "refund", k: 1 }) { chunks { citation } } }',
      }),
    });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { errors?: unknown }).errors).toBeUndefined();
    expect((await fetch(playgroundUrl(t, '/playground/assets/playground.js'))).status).toBe(200);
    expect((await fetch(playgroundUrl(t, '/playground/assets/nope.js'))).status).toBe(404);
  });

  it('sends a browser opening /graphql or / to the page, and leaves API GETs alone', async () => {
    for (const pathname of ['/graphql', '/']) {
      const res = await fetch(playgroundUrl(t, pathname), {
        headers: { accept: 'text/html' },
        redirect: 'manual',
      });
      expect([res.status, res.headers.get('location')]).toEqual([302, '/playground']);
    }
    const api = await fetch(`${t.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
      redirect: 'manual',
    });
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('answers introspection for anyone (development)', async () => {
    const res = await t.gql(INTROSPECTION, {}, null);
    expect(res.errors).toBeUndefined();
  });
});

describe('PLAYGROUND=admin in production', () => {
  let t: TestGateway;
  const assetsDir = fakeAssetsDir();
  beforeAll(async () => {
    t = await startTestGateway({
      env: { NODE_ENV: 'production', PLAYGROUND: 'admin', PLAYGROUND_ASSETS_DIR: assetsDir },
    });
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(assetsDir, { recursive: true, force: true });
  });

  it('serves the page without any token in it', async () => {
    const html = await (await fetch(playgroundUrl(t))).text();
    expect(html).toContain('"devTokens":false');
    expect(html).not.toContain('Bearer ey');
    expect(html).toContain('Bearer \\u003ctoken for Alice: npm run token');
  });

  it('answers introspection only for a content manager, and other operations as before', async () => {
    const anonymous = await t.gql(INTROSPECTION, {}, null);
    expect([anonymous.status, errorCode(anonymous)]).toEqual([401, 'UNAUTHENTICATED']);
    const agent = await t.gql(INTROSPECTION, {}, ALICE);
    expect([agent.status, errorCode(agent), agent.errors?.[0]?.message]).toEqual([
      403,
      'FORBIDDEN',
      'Introspection requires one of the roles: admin (PLAYGROUND=admin)',
    ]);
    const admin = await t.gql<{ __schema: { queryType: { name: string } } }>(INTROSPECTION, {}, ADA_ADMIN);
    expect(admin.errors).toBeUndefined();
    expect(admin.data?.__schema.queryType.name).toBe('Query');
    // A `__type` lookup hidden in a fragment is introspection too; `__typename` is not.
    const hidden = await t.gql('{ ...F } fragment F on Query { __type(name: "Query") { name } }', {}, ALICE);
    expect(errorCode(hidden)).toBe('FORBIDDEN');
    const typename = await t.gql<{ __typename: string }>('{ __typename }', {}, ALICE);
    expect(typename.data?.__typename).toBe('Query');
  });
});

describe('PLAYGROUND=off', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ env: { NODE_ENV: 'production', PLAYGROUND: 'off' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves no page, redirects nothing and answers no introspection (production)', async () => {
    expect((await fetch(playgroundUrl(t))).status).toBe(404);
    expect((await fetch(playgroundUrl(t, '/playground/assets/playground.js'))).status).toBe(404);
    const browser = await fetch(playgroundUrl(t, '/graphql'), {
      headers: { accept: 'text/html' },
      redirect: 'manual',
    });
    expect(browser.status).not.toBe(302);
    const res = await t.gql(INTROSPECTION, {}, ADA_ADMIN);
    expect(errorCode(res)).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
