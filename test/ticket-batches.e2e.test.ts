import {
  createTestMerchant,
  errorCode,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const INGEST_TICKETS = `mutation IngestTickets($inputs: [IngestTicketInput!]!) {
  ingestTickets(inputs: $inputs) {
    results { chunkCount embeddedChunks reusedChunks unchanged ticket { id status subject } }
  }
}`;
const RETRIEVE = `query Retrieve($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { chunks { ticketId citation } }
}`;

interface Result {
  chunkCount: number;
  embeddedChunks: number;
  reusedChunks: number;
  unchanged: boolean;
  ticket: { id: string; status: string; subject: string };
}

describe('ingestTickets (a batch of tickets in one transaction)', () => {
  let t: TestGateway;
  let merchant: string;
  let admin: TestIdentity;
  let agent: TestIdentity;
  let seq = 0;

  beforeAll(async () => {
    t = await startTestGateway();
  });
  beforeEach(async () => {
    merchant = await createTestMerchant(t);
    seq++;
    admin = { merchantId: merchant, userId: 'admin1', roles: ['admin'] };
    agent = { merchantId: merchant, userId: 'agent1', roles: ['agent'] };
  });
  afterAll(async () => {
    await t.close();
  });

  const ticket = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    customerId: 'cust-1',
    subject: `Parcel ${id} of batch ${seq} never arrived`,
    status: 'OPEN',
    acl: ['role:agent'],
    messages: [
      { author: 'CUSTOMER', body: `Ticket ${id} in batch ${seq}: my parcel has not arrived after ten days.` },
      { author: 'AGENT', body: `We asked the carrier about parcel ${id}.` },
    ],
    ...extra,
  });
  const count = async (table: 'tickets' | 'document_chunks') =>
    Number(
      (
        await t.db.dataSource.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM ${table} WHERE merchant_id = $1`,
          [merchant],
        )
      )[0].n,
    );

  it('writes every ticket with its chunks, results in input order, and they are retrievable', async () => {
    const inputs = ['tb-2', 'tb-1', 'tb-3'].map((id) => ticket(id));
    const res = await t.gql<{ ingestTickets: { results: Result[] } }>(INGEST_TICKETS, { inputs }, admin);
    expect(res.errors).toBeUndefined();
    const results = res.data!.ingestTickets.results;
    expect(results.map((r) => r.ticket.id)).toEqual(['tb-2', 'tb-1', 'tb-3']);
    for (const r of results) {
      expect(r.unchanged).toBe(false);
      expect(r.chunkCount).toBeGreaterThan(0);
      expect(r.embeddedChunks + r.reusedChunks).toBe(r.chunkCount);
      expect(r.ticket.status).toBe('OPEN');
    }
    expect(await count('tickets')).toBe(3);
    expect(await count('document_chunks')).toBe(results.reduce((n, r) => n + r.chunkCount, 0));
    // Same batch again: nothing changes.
    const again = await t.gql<{ ingestTickets: { results: Result[] } }>(INGEST_TICKETS, { inputs }, admin);
    expect(again.data!.ingestTickets.results.map((r) => r.unchanged)).toEqual([true, true, true]);
    const found = await t.gql<{ retrieveChunks: { chunks: { ticketId: string | null }[] } }>(
      RETRIEVE,
      { input: { query: `parcel tb-1 batch ${seq} carrier`, k: 10, mode: 'KEYWORD' } },
      agent,
    );
    expect(found.errors).toBeUndefined();
    expect(found.data!.retrieveChunks.chunks.map((c) => c.ticketId)).toContain('tb-1');
  });

  it('rejects a batch with one invalid ticket with BAD_USER_INPUT naming it, and writes none of them', async () => {
    const inputs = [ticket('ok-1'), ticket('bad-1', { messages: [] }), ticket('ok-2')];
    const res = await t.gql(INGEST_TICKETS, { inputs }, admin);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0].message).toMatch(/inputs\[1\]\.messages/);
    expect(await count('tickets')).toBe(0);
    expect(await count('document_chunks')).toBe(0);
  });

  it('rejects duplicate ids and more than 100 tickets with BAD_USER_INPUT', async () => {
    const dup = await t.gql(INGEST_TICKETS, { inputs: [ticket('d-1'), ticket('d-2'), ticket('d-1')] }, admin);
    expect(errorCode(dup)).toBe('BAD_USER_INPUT');
    expect(dup.errors![0].message).toMatch(/d-1/);
    const many = Array.from({ length: 101 }, (_, i) => ticket(`m-${i}`));
    const tooMany = await t.gql(INGEST_TICKETS, { inputs: many }, admin);
    expect(errorCode(tooMany)).toBe('BAD_USER_INPUT');
    expect(await count('tickets')).toBe(0);
  });

  it('is FORBIDDEN for a reader without an ingest role', async () => {
    const res = await t.gql(INGEST_TICKETS, { inputs: [ticket('f-1')] }, agent);
    expect(errorCode(res)).toBe('FORBIDDEN');
    expect(await count('tickets')).toBe(0);
  });
});
