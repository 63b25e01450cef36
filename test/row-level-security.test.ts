import { type EntityManager } from 'typeorm';
import { type Identity, principalsFor } from '../src/auth/identity';
import { inspectRequestRole } from '../src/db/database';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from '../src/db/session';
import { createTestMerchant, startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * The database's own wall: queries that forget every filter, run through the gateway's role with one caller's
 * settings, see only that caller's rows; with no settings, nothing; and the gateway role cannot switch the
 * policies off. On PGlite (one superuser session) the gateway enters the role with SET LOCAL ROLE per
 * transaction; on native PostgreSQL it logs in as srg_gateway.
 */
const TABLES = ['merchants', 'corpus_versions', 'support_documents', 'tickets', 'orders', 'document_chunks'];

interface Row {
  merchant_id: string;
  acl: string[] | null;
}

/** Every row of a table as (merchant, acl), in a uniform shape. */
const rowsOf = (table: string): string =>
  table === 'merchants'
    ? `SELECT id AS merchant_id, NULL::text[] AS acl FROM merchants`
    : table === 'corpus_versions' || table === 'orders'
      ? `SELECT merchant_id, NULL::text[] AS acl FROM ${table}`
      : `SELECT merchant_id, acl FROM ${table}`;

describe('row-level security through the gateway role', () => {
  let t: TestGateway;
  let a: string;
  let b: string;
  const identity = (merchantId: string, userId: string, roles: string[]): Identity => ({
    merchantId,
    userId,
    roles,
    principals: principalsFor(userId, roles),
  });

  beforeAll(async () => {
    t = await startTestGateway();
    a = await createTestMerchant(t, 'rls');
    b = await createTestMerchant(t, 'rls');
    for (const [m, tag] of [
      [a, 'A'],
      [b, 'B'],
    ]) {
      const docs: [string, string[]][] = [
        ['open', ['role:agent', 'role:contractor']],
        ['staff', ['role:agent']],
        ['personal', ['u7']],
        ['nobody', []],
      ];
      for (const [id, acl] of docs) {
        await t.services.ingestion.writeDocument(m, {
          id,
          title: `${id} ${tag}`,
          text: `Refund policy ${id} for merchant ${tag}.`,
          acl,
        });
      }
      await t.services.ingestion.writeTicket(m, {
        id: 't1',
        customerId: 'c1',
        subject: `Order #100 late (${tag})`,
        status: 'open' as never,
        messages: [{ author: 'customer' as never, body: 'Where is my order #100?' }],
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

  /** Ground truth from the owner's connection, with the rule written out in TypeScript. */
  async function expected(table: string, who: Identity, manager: boolean): Promise<Row[]> {
    const all: Row[] = await t.db.dataSource.query(rowsOf(table));
    return all.filter(
      (r) =>
        r.merchant_id === who.merchantId &&
        (r.acl === null || manager || r.acl.some((p) => who.principals.includes(p))),
    );
  }

  const sorted = (rows: Row[]) =>
    rows.map((r) => `${r.merchant_id}|${(r.acl ?? []).join(',')}`).sort((x, y) => x.localeCompare(y));

  it.each([
    ['an agent', () => identity(a, 'u1', ['agent']), false],
    ['a contractor', () => identity(a, 'u3', ['contractor']), false],
    ['a user with a personal grant', () => identity(b, 'u7', []), false],
    ['a content manager', () => identity(b, 'u0', ['admin']), true],
  ])(
    'an unfiltered SELECT * of every tenant table returns exactly what %s may read',
    async (_label, who, manager) => {
      const caller = who();
      const session = t.services.sessions.open(caller);
      expect(session.access.manageAll).toBe(manager);
      for (const table of TABLES) {
        const seen = await session.transaction((m) => m.query<Row[]>(rowsOf(table)));
        expect(sorted(seen)).toEqual(sorted(await expected(table, caller, manager)));
        // The table really holds other merchants' rows: the filter is the policy's doing.
        const total: { n: string }[] = await t.db.dataSource.query(`SELECT count(*) AS n FROM ${table}`);
        expect(Number(total[0].n)).toBeGreaterThan(seen.length);
      }
      // SELECT * (every column), not only the two columns above.
      const chunks = await session.transaction((m) =>
        m.query<{ merchant_id: string }[]>(`SELECT * FROM document_chunks`),
      );
      expect(chunks.every((c) => c.merchant_id === caller.merchantId)).toBe(true);
    },
  );

  it("reads only the caller's merchant's index range for a query with no filter at all (the policy's condition is an index condition)", async () => {
    const plan = await t.services.sessions.open(identity(a, 'u1', ['agent'])).transaction(async (m) => {
      // The test tables are tiny: without this the planner reads them sequentially whatever the conditions.
      await m.query(`SELECT set_config('enable_seqscan', 'off', true)`);
      const rows = await m.query<{ 'QUERY PLAN': string }[]>(
        `EXPLAIN (COSTS OFF) SELECT id FROM document_chunks`,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index Cond: \(merchant_id = /);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  /** A transaction in the gateway role with no caller settings, like a query that bypassed TenantSession. */
  const asGatewayWithoutSettings = <T>(work: (m: EntityManager) => Promise<T>, role = GATEWAY_ROLE) =>
    t.db.requestDataSource.transaction(async (m) => {
      await m.query(`SELECT set_config('role', $1, true)`, [role]);
      return work(m);
    });

  it('returns nothing from any tenant table when no caller is set, also right after a caller’s transaction', async () => {
    // A session's settings read '' (not NULL) after its transaction ends: still no rows.
    await t.services.sessions.open(identity(a, 'u0', ['admin'])).transaction((m) => m.query('SELECT 1'));
    for (const table of TABLES) {
      for (const role of [GATEWAY_ROLE, CONTENT_MANAGER_ROLE]) {
        const rows = await asGatewayWithoutSettings(
          (m) => m.query<unknown[]>(`SELECT * FROM ${table}`),
          role,
        );
        expect({ table, role, rows: rows.length }).toEqual({ table, role, rows: 0 });
      }
    }
    if (t.db.kind === 'native') {
      // Logged in as srg_gateway, a plain query outside any session sees nothing either (deny by default).
      for (const table of TABLES) {
        const rows = await t.db.requestDataSource.query<unknown[]>(`SELECT * FROM ${table}`);
        expect({ table, rows: rows.length }).toEqual({ table, rows: 0 });
      }
    }
  });

  it('keeps writes inside the merchant and away from readers', async () => {
    const reader = t.services.sessions.open(identity(a, 'u1', ['agent']));
    const manager = t.services.sessions.open(identity(a, 'u0', ['admin']));
    // A reader's transactions run as srg_gateway, which may not write at all.
    await expect(
      reader.transaction((m) => m.query(`UPDATE document_chunks SET acl = '{u1}'`)),
    ).rejects.toThrow(/permission denied/);
    await expect(reader.transaction((m) => m.query(`DELETE FROM support_documents`))).rejects.toThrow(
      /permission denied/,
    );
    // A manager cannot write a row for another merchant, nor move one there.
    await expect(
      manager.transaction((m) =>
        m.query(
          `INSERT INTO support_documents (merchant_id, id, title, body, content_hash) VALUES ($1, 'x', 'x', 'x', 'x')`,
          [b],
        ),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      manager.transaction((m) => m.query(`UPDATE orders SET merchant_id = $1 WHERE id = '100'`, [b])),
    ).rejects.toThrow(/row-level security|modifying the partition value/); // the latter: Citus, before RLS
    // Nor touch another merchant's rows at all: the UPDATE sees none of them.
    const other = await manager.transaction((m) =>
      m.query<unknown[][]>(`UPDATE tickets SET status = 'closed' WHERE merchant_id = $1 RETURNING id`, [b]),
    );
    expect(other[0]).toEqual([]);
    // Corpus versions and merchants are the owner's to write.
    await expect(
      manager.transaction((m) => m.query(`DELETE FROM corpus_versions WHERE merchant_id = $1`, [a])),
    ).rejects.toThrow(/permission denied/);
    const unchanged: { status: string }[] = await t.db.dataSource.query(
      `SELECT status FROM tickets WHERE merchant_id = $1 AND id = 't1'`,
      [b],
    );
    expect(unchanged[0].status).toBe('open');
  });

  it('gives the gateway role no way around the policies', async () => {
    const session = t.services.sessions.open(identity(a, 'u1', ['agent']));
    const who = await session.transaction((m) =>
      m.query<{ usr: string; super: boolean; bypass: boolean; inherit: boolean; owns: boolean }[]>(
        `SELECT current_user AS usr, rolsuper AS super, rolbypassrls AS bypass, rolinherit AS inherit,
                EXISTS (SELECT 1 FROM pg_tables WHERE tableowner = current_user AND schemaname = 'public') AS owns
           FROM pg_roles WHERE rolname = current_user`,
      ),
    );
    expect(who[0]).toEqual({ usr: GATEWAY_ROLE, super: false, bypass: false, inherit: false, owns: false });
    // A content manager's transactions run as srg_content_manager: no more powerful.
    const managerRole = await t.services.sessions.open(identity(a, 'u0', ['admin'])).transaction((m) =>
      m.query<{ usr: string; super: boolean; bypass: boolean; login: boolean; owns: boolean }[]>(
        `SELECT current_user AS usr, rolsuper AS super, rolbypassrls AS bypass, rolcanlogin AS login,
                EXISTS (SELECT 1 FROM pg_tables WHERE tableowner = current_user AND schemaname = 'public') AS owns
           FROM pg_roles WHERE rolname = current_user`,
      ),
    );
    // On Citus it must log in: Citus connects to the workers as the current role (scripts/db-roles.sql).
    const citus =
      (await t.db.dataSource.query<unknown[]>(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)).length >
      0;
    expect(managerRole[0]).toEqual({
      usr: CONTENT_MANAGER_ROLE,
      super: false,
      bypass: false,
      login: citus,
      owns: false,
    });
    // row_security = off does not turn the policies off: the query fails instead.
    await expect(
      session.transaction(async (m) => {
        await m.query(`SET LOCAL row_security = off`);
        return m.query<unknown[]>(`SELECT * FROM document_chunks`);
      }),
    ).rejects.toThrow(/row-level security/);
    await expect(
      session.transaction((m) => m.query(`ALTER TABLE document_chunks DISABLE ROW LEVEL SECURITY`)),
    ).rejects.toThrow(/must be owner/);
    await expect(
      session.transaction((m) => m.query(`ALTER TABLE document_chunks NO FORCE ROW LEVEL SECURITY`)),
    ).rejects.toThrow(/must be owner/);
    await expect(
      session.transaction((m) => m.query(`DROP POLICY document_chunks_read ON document_chunks`)),
    ).rejects.toThrow(/must be owner/);
    if (t.db.kind === 'native') {
      // What the gateway's start-up check sees (production refuses anything else).
      expect(await inspectRequestRole(t.db)).toEqual({
        user: GATEWAY_ROLE,
        superuser: false,
        bypassRls: false,
        ownsTables: false,
      });
      // Logged in as srg_gateway: it cannot become the owner or a superuser. (On PGlite the session user is the
      // superuser, so a RESET ROLE would escape; there the guarantee is that only TenantSession issues SQL.)
      const owner = (
        await t.db.dataSource.query<{ o: string }[]>(
          `SELECT tableowner AS o FROM pg_tables WHERE tablename = 'document_chunks'`,
        )
      )[0].o;
      for (const attempt of [
        `SET ROLE ${owner}`,
        `SET SESSION AUTHORIZATION ${owner}`,
        'SET ROLE postgres',
      ]) {
        await expect(t.db.requestDataSource.query(attempt)).rejects.toThrow(/permission denied/);
      }
    }
  });
});
