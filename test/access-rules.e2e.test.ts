import {
  ADA_ADMIN,
  ALICE,
  createTestMerchant,
  errorCode,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';

/** Who may call what, over real HTTP: unprovisioned merchants, order(id), and /metrics. */
describe('access rules', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ env: { METRICS_TOKEN: 'scrape-token-0123456789' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("an unprovisioned merchant's valid token gets MERCHANT_NOT_PROVISIONED (403), not empty lists; once provisioned it works", async () => {
    const ghost = { merchantId: `ghost-${Date.now()}`, userId: 'u1', roles: ['agent'] };
    for (const query of [
      '{ documents(first: 5) { nodes { id } } }',
      '{ tickets(first: 5) { nodes { id } } }',
      '{ retrieveChunks(input: { query: "refund", k: 3 }) { chunks { id } } }',
    ]) {
      const res = await t.gql(query, {}, ghost);
      expect([res.status, errorCode(res)]).toEqual([403, 'MERCHANT_NOT_PROVISIONED']);
      expect(res.errors?.[0].message).toMatch(/not provisioned/);
      expect(res.data ?? undefined).toBeUndefined();
    }
    await t.services.merchants.provision({ id: ghost.merchantId, name: 'Ghost' });
    const now = await t.gql<{ documents: { nodes: unknown[] } }>(
      '{ documents(first: 5) { nodes { id } } }',
      {},
      ghost,
    );
    expect([now.status, now.errors, now.data?.documents.nodes]).toEqual([200, undefined, []]);
  });

  it('order(id) is for content managers: orders carry no ACL (agents see them through agentContext)', async () => {
    const merchant = await createTestMerchant(t, 'ord');
    await t.services.orders.write(merchant, {
      id: 'o-1',
      customerId: 'c1',
      status: 'paid' as never,
      currency: 'EUR',
      subtotalCents: 500,
      placedAt: new Date('2026-01-01T00:00:00Z'),
    });
    const ORDER = 'query($id: ID!) { order(id: $id) { id totalCents } }';
    const agent = await t.gql(ORDER, { id: 'o-1' }, { ...ALICE, merchantId: merchant });
    expect([errorCode(agent), agent.errors?.[0].message]).toEqual([
      'FORBIDDEN',
      expect.stringMatching(/roles: admin/),
    ]);
    const admin = await t.gql<{ order: { id: string; totalCents: number } }>(
      ORDER,
      { id: 'o-1' },
      { ...ADA_ADMIN, merchantId: merchant },
    );
    expect(admin.data?.order).toEqual({ id: 'o-1', totalCents: 500 });
    // The schema tells clients the rule.
    const schema = await t.gql<{ __type: { fields: { name: string; description: string }[] } }>(
      '{ __type(name: "Query") { fields { name description } } }',
      {},
      ADA_ADMIN,
    );
    const order = schema.data?.__type.fields.find((f) => f.name === 'order');
    expect(order?.description).toMatch(/ingest role/);
  });

  it('/metrics wants METRICS_TOKEN when one is set', async () => {
    const base = t.url.replace(/\/graphql$/, '');
    const get = (authorization?: string) =>
      fetch(`${base}/metrics`, { headers: authorization ? { authorization } : {} });
    const none = await get();
    expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="metrics"']);
    expect((await get('Bearer wrong-token-0123456789')).status).toBe(401);
    expect((await get('Basic c2NyYXBlOnRva2Vu')).status).toBe(401);
    const ok = await get('Bearer scrape-token-0123456789');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/^# HELP /m);
    // Health and readiness stay open (probes send no credentials).
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

describe('/metrics in production', () => {
  it('is closed without METRICS_TOKEN and served with it', async () => {
    for (const [env, status] of [
      [{ NODE_ENV: 'production' }, 403],
      [{ NODE_ENV: 'production', METRICS_TOKEN: 'scrape-token-0123456789' }, 200],
    ] as const) {
      const t = await startTestGateway({ env: { ...env, PLAYGROUND: 'off' } });
      try {
        const res = await fetch(`${t.url.replace(/\/graphql$/, '')}/metrics`, {
          headers: { authorization: 'Bearer scrape-token-0123456789' },
        });
        expect({ env, status: res.status }).toEqual({ env, status });
      } finally {
        await t.close();
      }
    }
  });
});
