import { principalsFor } from '../src/auth/identity';
import { type IngestTicketCommand } from '../src/ingestion/ingestion.service';
import { TicketAuthor, TicketStatus } from '../src/tickets/ticket-status';
import { createTestMerchant, errorCode, startTestGateway, type TestGateway } from './support/test-gateway';

const INGEST_TICKET = `mutation IngestTicket($input: IngestTicketInput!) {
  ingestTicket(input: $input) { chunkCount embeddedChunks ticket { id subject } }
}`;

/**
 * Group commit of single-ticket writes (src/ingestion/ticket-group-commit.ts), on the real database. Which
 * tickets shared a transaction is read from the rows themselves: rows written by one transaction carry its xid in
 * `xmin`.
 */
describe('ingestTicket group commit: concurrent tickets of one merchant share a transaction', () => {
  let t: TestGateway;
  let merchant: string;

  beforeAll(async () => {
    t = await startTestGateway();
  });
  beforeEach(async () => {
    merchant = await createTestMerchant(t, 'tg');
  });
  afterAll(async () => {
    await t.close();
  });

  const manager = () =>
    t.services.sessions.open({
      merchantId: merchant,
      userId: 'admin1',
      roles: ['admin'],
      principals: principalsFor('admin1', ['admin']),
    });
  const ticket = (id: string, subject = `Parcel ${id} never arrived`): IngestTicketCommand => ({
    id,
    customerId: 'cust-1',
    subject,
    status: TicketStatus.OPEN,
    acl: ['role:agent'],
    messages: [
      { author: TicketAuthor.CUSTOMER, body: `${subject}: my parcel ${id} has not arrived after ten days.` },
      { author: TicketAuthor.AGENT, body: `We asked the carrier about parcel ${id}.` },
    ],
  });
  /** Ticket id → the transaction that last wrote its row, and the same for its chunks. */
  const writers = async () => {
    const rows = await t.db.dataSource.query<{ id: string; xid: string; chunk_xids: string[] }[]>(
      `SELECT t.id, t.xmin::text AS xid,
              ARRAY(SELECT DISTINCT c.xmin::text FROM document_chunks c
                     WHERE c.merchant_id = t.merchant_id AND c.ticket_id = t.id) AS chunk_xids
         FROM tickets t WHERE t.merchant_id = $1 ORDER BY t.id`,
      [merchant],
    );
    return new Map(rows.map((r) => [r.id, { xid: r.xid, chunkXids: r.chunk_xids }]));
  };

  it('writes a lone ticket at once, and the ones that arrive meanwhile together, each with its own outcome', async () => {
    const session = manager();
    const ids = ['g-1', 'g-2', 'g-3', 'g-4', 'g-5', 'g-6', 'g-7', 'g-8'];
    // All in one tick: the first finds nothing in flight and is written alone; the other seven wait for it.
    const outcomes = await Promise.all(
      ids.map((id) => t.services.ingestion.ingestTicket(session, ticket(id))),
    );
    expect(outcomes.map((o) => o.source.id)).toEqual(ids);
    for (const o of outcomes) {
      expect(o.created).toBe(true);
      expect(o.chunkCount).toBeGreaterThan(0);
      expect(o.embeddedChunks + o.reusedChunks).toBe(o.chunkCount);
    }
    const written = await writers();
    expect([...written.keys()]).toEqual(ids);
    // Each ticket's chunks were written in its row's transaction.
    for (const w of written.values()) expect(w.chunkXids).toEqual([w.xid]);
    const first = written.get('g-1')!.xid;
    const rest = new Set(ids.slice(1).map((id) => written.get(id)!.xid));
    expect(rest.size).toBe(1);
    expect(rest.has(first)).toBe(false);
    const [{ n }] = await t.db.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1`,
      [merchant],
    );
    expect(Number(n)).toBe(outcomes.reduce((s, o) => s + o.chunkCount, 0));
  });

  it('keeps the order of writes of one ticket: a second write of it waits for a later group', async () => {
    const session = manager();
    const calls = [
      ticket('d-1', 'first'),
      ticket('d-1', 'second'),
      ticket('d-2'),
      ticket('d-1', 'third'),
    ].map((cmd) => t.services.ingestion.ingestTicket(session, cmd));
    const outcomes = await Promise.all(calls);
    expect(outcomes.map((o) => [o.source.id, o.source.subject, o.created])).toEqual([
      ['d-1', 'first', true],
      ['d-1', 'second', false],
      ['d-2', 'Parcel d-2 never arrived', true],
      ['d-1', 'third', false],
    ]);
    const [{ subject }] = await t.db.dataSource.query<{ subject: string }[]>(
      `SELECT subject FROM tickets WHERE merchant_id = $1 AND id = 'd-1'`,
      [merchant],
    );
    expect(subject).toBe('third');
    // d-1 "first" alone; then d-1 "second" with d-2; then d-1 "third": d-2 shares no transaction with the last.
    const written = await writers();
    expect(written.get('d-1')!.xid).not.toBe(written.get('d-2')!.xid);
    expect(written.get('d-1')!.chunkXids).toEqual([written.get('d-1')!.xid]);
  });

  it('when a group fails, writes its tickets one by one: only the failing one fails, nothing of it is left', async () => {
    const session = manager();
    // A rule of the database's own that one ticket breaks (its row is refused by a CHECK constraint).
    await t.db.dataSource.query(
      `ALTER TABLE tickets ADD CONSTRAINT test_group_commit_poison CHECK (subject NOT LIKE '%poison%')`,
    );
    try {
      const cmds = [ticket('p-0'), ticket('p-1'), ticket('p-2', 'poison parcel'), ticket('p-3')];
      const settled = await Promise.allSettled(
        cmds.map((cmd) => t.services.ingestion.ingestTicket(session, cmd)),
      );
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      expect(String((settled[2] as PromiseRejectedResult).reason)).toMatch(/test_group_commit_poison/);
    } finally {
      await t.db.dataSource.query(`ALTER TABLE tickets DROP CONSTRAINT test_group_commit_poison`);
    }
    const written = await writers();
    expect([...written.keys()]).toEqual(['p-0', 'p-1', 'p-3']);
    for (const w of written.values()) expect(w.chunkXids).toEqual([w.xid]);
    const [{ n }] = await t.db.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1 AND ticket_id = 'p-2'`,
      [merchant],
    );
    expect(Number(n)).toBe(0);
  });

  it('never groups tickets of different merchants', async () => {
    const other = await createTestMerchant(t, 'tg');
    const otherSession = t.services.sessions.open({
      merchantId: other,
      userId: 'admin1',
      roles: ['admin'],
      principals: principalsFor('admin1', ['admin']),
    });
    const session = manager();
    await Promise.all([
      t.services.ingestion.ingestTicket(session, ticket('m-1')),
      t.services.ingestion.ingestTicket(otherSession, ticket('m-1')),
      t.services.ingestion.ingestTicket(session, ticket('m-2')),
      t.services.ingestion.ingestTicket(otherSession, ticket('m-2')),
    ]);
    const rows = await t.db.dataSource.query<{ merchant_id: string; xid: string }[]>(
      `SELECT merchant_id, xmin::text AS xid FROM tickets WHERE merchant_id = ANY($1)`,
      [[merchant, other]],
    );
    expect(rows).toHaveLength(4);
    const mine = new Set(rows.filter((r) => r.merchant_id === merchant).map((r) => r.xid));
    const theirs = new Set(rows.filter((r) => r.merchant_id === other).map((r) => r.xid));
    for (const x of mine) expect(theirs.has(x)).toBe(false);
  });

  it('over HTTP, a burst of concurrent ingestTicket requests all land, and invalid ones fail alone', async () => {
    const admin = { merchantId: merchant, userId: 'admin1', roles: ['admin'] };
    const inputs = Array.from({ length: 12 }, (_, i) => ({
      ...ticket(`h-${i}`),
      status: 'OPEN',
      messages: [{ author: 'CUSTOMER', body: `Parcel h-${i} is late.` }],
    }));
    inputs[5] = { ...inputs[5], messages: [] }; // refused before any write: BAD_USER_INPUT
    const res = await Promise.all(
      inputs.map((input) =>
        t.gql<{ ingestTicket: { chunkCount: number; embeddedChunks: number; ticket: { id: string } } }>(
          INGEST_TICKET,
          { input },
          admin,
        ),
      ),
    );
    res.forEach((r, i) => {
      if (i === 5) return expect(errorCode(r)).toBe('BAD_USER_INPUT');
      expect(r.errors).toBeUndefined();
      expect(r.data!.ingestTicket.ticket.id).toBe(`h-${i}`);
      expect(r.data!.ingestTicket.embeddedChunks).toBe(r.data!.ingestTicket.chunkCount);
    });
    expect(await writers().then((w) => w.size)).toBe(11);
  });
});
