import pg from 'pg';
import { principalsFor } from '../src/auth/identity';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE, signClaim, textArrayLiteral } from '../src/db/session';
import { nativeGatewayUrl, nativeTestUrl } from './support/test-env';
import { ALICE, createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * What someone holding the gateway's database login (a leaked DATABASE_URL) can do with it, connected directly:
 * forge the request settings, enter the content-manager role, replay claims. On native PostgreSQL the attacker
 * is a raw pg connection logged in as srg_gateway; on PGlite (one superuser session, no logins) a transaction
 * that enters srg_gateway itself, which checks the same policies. docs/SECURITY.md has the threat model.
 */
const TABLES = ['merchants', 'corpus_versions', 'support_documents', 'tickets', 'orders', 'document_chunks'];

interface Attacker {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
}

describe('a leaked srg_gateway password', () => {
  let t: TestGateway;
  let a: string;
  let b: string;

  beforeAll(async () => {
    t = await startTestGateway();
    a = await createTestMerchant(t, 'leak');
    b = await createTestMerchant(t, 'leak');
    for (const m of [a, b]) {
      await t.services.ingestion.writeDocument(m, {
        id: 'd1',
        title: 'Refunds',
        text: `Refund policy of ${m}.`,
        acl: ['role:agent'],
      });
      await t.services.ingestion.writeTicket(m, {
        id: 't1',
        customerId: 'c1',
        subject: 'Late order',
        status: 'open' as never,
        messages: [{ author: 'customer' as never, body: 'Where is my order?' }],
        acl: ['role:agent'],
      });
      await t.services.orders.write(m, {
        id: '100',
        customerId: 'c1',
        status: 'paid' as never,
        currency: 'EUR',
        subtotalCents: 1000,
        placedAt: new Date('2026-01-01T00:00:00Z'),
      });
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  /**
   * Runs `work` in one transaction as the attacker and rolls it back. Native: a fresh connection logged in as
   * srg_gateway. Embedded: the gateway's connection, entering srg_gateway first.
   */
  async function asAttacker<T>(work: (q: Attacker) => Promise<T>): Promise<T> {
    const url = nativeTestUrl();
    if (url) {
      const client = new pg.Client({ connectionString: nativeGatewayUrl(url) });
      await client.connect();
      try {
        await client.query('BEGIN');
        const q: Attacker = {
          query: async <R>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[],
        };
        return await work(q);
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end();
      }
    }
    let result: T | undefined;
    await t.db.requestDataSource
      .transaction(async (m) => {
        await m.query(`SET LOCAL ROLE ${GATEWAY_ROLE}`);
        // The query runner's structured result: EntityManager.query returns [rows, count] for UPDATE/DELETE.
        result = await work({
          query: async <R>(sql: string, params?: unknown[]) =>
            (await m.queryRunner!.query(sql, params, true)).records as R[],
        });
        throw new Rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });
    return result as T;
  }
  class Rollback extends Error {}

  /** The rows of every tenant table the attacker's transaction can see, per table. */
  const visible = async (q: Attacker): Promise<Record<string, number>> => {
    const seen: Record<string, number> = {};
    for (const table of TABLES) {
      seen[table] = (await q.query(`SELECT * FROM ${table}`)).length;
    }
    return seen;
  };
  const nothing = Object.fromEntries(TABLES.map((table) => [table, 0]));

  /**
   * The settings as the gateway makes them: SET LOCAL, which Citus also carries to the workers where the policies
   * run (set_config would stay on the coordinator, and the workers would deny for want of settings, not claims).
   */
  const setSettings = async (q: Attacker, merchant: string, principalsText: string, claim: string) => {
    await q.query(
      `SET LOCAL app.merchant_id = ${pg.escapeLiteral(merchant)}; SET LOCAL app.principals = ${pg.escapeLiteral(
        principalsText,
      )}; SET LOCAL app.claim = ${pg.escapeLiteral(claim)}`,
    );
  };
  const forge = async (q: Attacker, merchant: string, principals: string[], claim?: string) => {
    await setSettings(q, merchant, textArrayLiteral(principals), claim ?? '');
  };

  /** The active key, read over the owner's connection: what the attacker does NOT have. */
  let key: { id: number; secret: Buffer };
  beforeAll(async () => {
    const rows = await t.db.dataSource.query<{ id: number; secret: Buffer }[]>(
      `SELECT id, secret FROM tenant_claim_keys WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1`,
    );
    key = rows[0];
  });

  /** A claim for the attacker's own backend, signed with the real key (as only the gateway could). */
  const realClaim = async (
    q: Attacker,
    merchant: string,
    principals: string[],
    capability: 'r' | 'w',
    expiresInSeconds: number,
  ): Promise<string> => {
    const [facts] = await q.query<{ binding: string; now: number }>(
      `SELECT app_claim_binding() AS binding, extract(epoch FROM now())::float8 AS now`,
    );
    return signClaim(key.secret, {
      keyId: key.id,
      expires: Math.floor(facts.now) + expiresInSeconds,
      binding: facts.binding,
      capability,
      merchant,
      principals: textArrayLiteral(principals),
    });
  };

  it('forged merchant and principals, with no claim or a made-up one, see no row of any tenant table', async () => {
    const principals = principalsFor('u1', ['agent', 'admin']);
    for (const claim of [undefined, '1.9999999999.1.r.' + 'ab'.repeat(32), 'garbage', '1.2.3']) {
      const seen = await asAttacker(async (q) => {
        await forge(q, a, principals, claim);
        return visible(q);
      });
      expect({ claim, seen }).toEqual({ claim, seen: nothing });
    }
  });

  it('entering srg_content_manager with forged settings reads nothing and writes nothing', async () => {
    const outcome = await asAttacker(async (q) => {
      await q.query(`SET LOCAL ROLE ${CONTENT_MANAGER_ROLE}`);
      await forge(q, b, ['role:admin']);
      const seen = await visible(q);
      const updated = await q.query(
        `UPDATE tickets SET status = 'closed' WHERE merchant_id = $1 RETURNING id`,
        [b],
      );
      const deleted = await q.query(`DELETE FROM support_documents WHERE merchant_id = $1 RETURNING id`, [b]);
      let insert = 'allowed';
      try {
        await q.query(
          `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, acl)
           VALUES ($1, 'planted', 'x', 'x', 'x', '{role:agent}')`,
          [b],
        );
      } catch (err) {
        insert = (err as Error).message;
      }
      return { seen, updated: updated.length, deleted: deleted.length, insert };
    });
    expect(outcome.seen).toEqual(nothing);
    expect([outcome.updated, outcome.deleted]).toEqual([0, 0]);
    expect(outcome.insert).toMatch(/row-level security/);
    const still: unknown[] = await t.db.dataSource.query(
      `SELECT 1 FROM support_documents WHERE merchant_id = $1 AND id = 'd1'`,
      [b],
    );
    expect(still).toHaveLength(1);
  });

  it('an expired claim signed with the real key is refused; the same claim unexpired is honoured (control)', async () => {
    const principals = principalsFor('u1', ['agent']);
    const expired = await asAttacker(async (q) => {
      await forge(q, a, principals, await realClaim(q, a, principals, 'r', -1));
      return visible(q);
    });
    expect(expired).toEqual(nothing);
    // The control: this connection with a valid claim sees merchant a's rows, so the refusal above is the expiry's.
    const valid = await asAttacker(async (q) => {
      await forge(q, a, principals, await realClaim(q, a, principals, 'r', 60));
      return visible(q);
    });
    expect(valid).toMatchObject({ merchants: 1, support_documents: 1, tickets: 1, orders: 1 });
    expect(valid.document_chunks).toBeGreaterThan(0);
  });

  it('a signed claim edited after signing (other merchant, more principals, write capability) is refused', async () => {
    const principals = principalsFor('u1', ['agent']);
    const seen = await asAttacker(async (q) => {
      const claim = await realClaim(q, a, principals, 'r', 60);
      const results: Record<string, number>[] = [];
      await forge(q, b, principals, claim); // another merchant
      results.push(await visible(q));
      await forge(q, a, [...principals, 'role:admin'], claim); // more principals
      results.push(await visible(q));
      await q.query(`SET LOCAL ROLE ${CONTENT_MANAGER_ROLE}`);
      await forge(q, a, principals, claim.replace('.r.', '.w.')); // a write capability
      results.push(await visible(q));
      return results;
    });
    expect(seen).toEqual([nothing, nothing, nothing]);
  });

  it("a reader's valid claim gives srg_content_manager nothing to read or write", async () => {
    const principals = principalsFor('u1', ['agent']);
    const outcome = await asAttacker(async (q) => {
      const claim = await realClaim(q, a, principals, 'r', 60);
      await q.query(`SET LOCAL ROLE ${CONTENT_MANAGER_ROLE}`);
      await forge(q, a, principals, claim);
      const docs = await q.query(`SELECT id FROM support_documents`);
      const updated = await q.query(`UPDATE tickets SET status = 'closed' RETURNING id`);
      return { docs: docs.length, updated: updated.length };
    });
    expect(outcome).toEqual({ docs: 0, updated: 0 });
  });

  it('cannot read the key, mint one, or replace the functions the policies trust', async () => {
    for (const attempt of [
      `SELECT * FROM tenant_claim_keys`,
      `SELECT rotate_tenant_claim_key()`,
      `CREATE OR REPLACE FUNCTION app_claim_binding() RETURNS text LANGUAGE sql AS $$ SELECT '1' $$`,
      `CREATE OR REPLACE FUNCTION app_merchant_id() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$`,
      `ALTER FUNCTION app_verified_capability() SECURITY INVOKER`,
      `UPDATE tenant_claim_keys SET retired_at = NULL`,
    ]) {
      await expect(asAttacker((q) => q.query(attempt))).rejects.toThrow(/permission denied|must be owner/);
    }
  });

  (nativeTestUrl() ? it : it.skip)(
    "replays of the gateway's own live claims (as seen in pg_stat_activity) fail on any other connection",
    async () => {
      // A claim exactly as the gateway sets it, captured from inside one of its transactions.
      const captured = await t.services.sessions
        .open({ ...ALICE, merchantId: a, principals: principalsFor('u1', ['agent']) })
        .transaction((m) =>
          m.query<{ merchant: string; principals: string; claim: string }[]>(
            `SELECT current_setting('app.merchant_id') AS merchant, current_setting('app.principals') AS principals,
                    current_setting('app.claim') AS claim`,
          ),
        );
      const { merchant, principals, claim } = captured[0];
      expect(claim).toMatch(/^\d+\.\d+\.\d+\.r\.[0-9a-f]{64}$/);
      const seen = await asAttacker(async (q) => {
        await setSettings(q, merchant, principals, claim);
        return visible(q);
      });
      expect(seen).toEqual(nothing);
    },
  );

  // On Citus the binding is the global pid, which Citus hands to worker connections in their application_name; any
  // client can write such a name. On the coordinator the binding refuses a gpid that is not this backend's, and
  // Citus itself refuses every distributed query of a backend that calls itself internal.
  (process.env.TEST_CITUS === '1' ? it : it.skip)(
    'on Citus, a connection that claims the gateway backend’s global pid in its application_name gets nothing',
    async () => {
      const captured = await t.services.sessions
        .open({ ...ALICE, merchantId: a, principals: principalsFor('u1', ['agent']) })
        .transaction((m) =>
          m.query<{ merchant: string; principals: string; claim: string }[]>(
            `SELECT current_setting('app.merchant_id') AS merchant, current_setting('app.principals') AS principals,
                    current_setting('app.claim') AS claim`,
          ),
        );
      const { merchant, principals, claim } = captured[0];
      const gpid = claim.split('.')[2];
      const attempt = asAttacker(async (q) => {
        await q.query(`SET LOCAL application_name = ${pg.escapeLiteral(`citus_internal gpid=${gpid}`)}`);
        const [me] = await q.query<{ gpid: string; binding: string | null }>(
          `SELECT citus_backend_gpid()::text AS gpid, app_claim_binding() AS binding`,
        );
        expect(me.gpid).toBe(gpid); // the spoof took: Citus believes this backend has the gateway's gpid
        expect(me.binding).toBeNull(); // but the binding refuses it
        await setSettings(q, merchant, principals, claim);
        return visible(q);
      });
      await expect(attempt).rejects.toThrow(/cannot execute a distributed query/);
    },
  );

  it('the gateway itself still serves the merchant over HTTP', async () => {
    const res = await t.gql<{ documents: { nodes: { id: string }[] } }>(
      `{ documents(first: 5) { nodes { id } } }`,
      {},
      { merchantId: a, userId: 'u1', roles: ['agent'] },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.documents.nodes.map((d) => d.id)).toEqual(['d1']);
  });
});
