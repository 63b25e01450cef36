import {
  createTestMerchant,
  errorCode,
  type GraphQLResponse,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

// ---------------------------------------------------------------------------------------------------------------
// GraphQL operations
// ---------------------------------------------------------------------------------------------------------------

const DOC_FIELDS = 'id title acl metadata contentHash createdAt updatedAt';
const TICKET_FIELDS =
  'id customerId subject status acl metadata contentHash messages { author body sentAt } createdAt updatedAt';

const INGEST_DOCUMENT = `mutation IngestDocument($input: IngestDocumentInput!) {
  ingestDocument(input: $input) {
    chunkCount embeddedChunks reusedChunks deletedChunks unchanged warnings document { ${DOC_FIELDS} }
  }
}`;
const INGEST_DOCUMENTS = `mutation IngestDocuments($inputs: [IngestDocumentInput!]!) {
  ingestDocuments(inputs: $inputs) {
    results { chunkCount embeddedChunks reusedChunks deletedChunks unchanged warnings document { ${DOC_FIELDS} } }
  }
}`;
const INGEST_TICKET = `mutation IngestTicket($input: IngestTicketInput!) {
  ingestTicket(input: $input) {
    chunkCount embeddedChunks reusedChunks deletedChunks unchanged warnings ticket { ${TICKET_FIELDS} }
  }
}`;
const DOCUMENT = `query Document($id: ID!) { document(id: $id) { ${DOC_FIELDS} } }`;
const TICKET = `query Ticket($id: ID!) { ticket(id: $id) { ${TICKET_FIELDS} } }`;
const DOCUMENTS = `query Documents($first: Int, $after: String, $filter: DocumentFilter) {
  documents(first: $first, after: $after, filter: $filter) {
    nodes { id title acl metadata }
    pageInfo { hasNextPage endCursor }
  }
}`;
const TICKETS = `query Tickets($first: Int, $after: String, $filter: TicketFilter) {
  tickets(first: $first, after: $after, filter: $filter) {
    nodes { id status customerId }
    pageInfo { hasNextPage endCursor }
  }
}`;
const UPDATE_DOCUMENT_ACL = `mutation UpdateDocumentAcl($id: ID!, $acl: [String!]!) {
  updateDocumentAcl(id: $id, acl: $acl) { ${DOC_FIELDS} }
}`;
const UPDATE_DOCUMENT_METADATA = `mutation UpdateDocumentMetadata($id: ID!, $metadata: JSON!) {
  updateDocumentMetadata(id: $id, metadata: $metadata) { ${DOC_FIELDS} }
}`;
const UPDATE_TICKET_ACL = `mutation UpdateTicketAcl($id: ID!, $acl: [String!]!) {
  updateTicketAcl(id: $id, acl: $acl) { ${TICKET_FIELDS} }
}`;
const UPDATE_TICKET_METADATA = `mutation UpdateTicketMetadata($id: ID!, $metadata: JSON!) {
  updateTicketMetadata(id: $id, metadata: $metadata) { ${TICKET_FIELDS} }
}`;
const UPDATE_TICKET_STATUS = `mutation UpdateTicketStatus($id: ID!, $status: TicketStatus!) {
  updateTicketStatus(id: $id, status: $status) { ${TICKET_FIELDS} }
}`;
const DELETE_DOCUMENT = `mutation DeleteDocument($id: ID!) { deleteDocument(id: $id) }`;
const DELETE_TICKET = `mutation DeleteTicket($id: ID!) { deleteTicket(id: $id) }`;
const ORDER_FIELDS =
  'id customerId status currency subtotalCents taxCents shippingCents totalCents refundedCents placedAt createdAt updatedAt';
const UPSERT_ORDER = `mutation UpsertOrder($input: UpsertOrderInput!) { upsertOrder(input: $input) { ${ORDER_FIELDS} } }`;
const ORDER = `query Order($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;
const RETRIEVE = `query Retrieve($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) {
    chunks { id documentId ticketId sourceType citation metadata text }
  }
}`;
const RETRIEVE_WITH_SOURCES = `query RetrieveWithSources($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) {
    chunks {
      id documentId ticketId sourceType
      document { id title }
      ticket { id subject status }
    }
  }
}`;

// ---------------------------------------------------------------------------------------------------------------
// Types of the responses
// ---------------------------------------------------------------------------------------------------------------

interface Doc {
  id: string;
  title: string;
  acl: string[];
  metadata: Record<string, unknown>;
  contentHash: string;
  createdAt: string;
  updatedAt: string;
}
interface TicketMessage {
  author: 'CUSTOMER' | 'AGENT';
  body: string;
  sentAt: string | null;
}
interface Ticket {
  id: string;
  customerId: string;
  subject: string;
  status: 'OPEN' | 'PENDING' | 'RESOLVED' | 'CLOSED';
  acl: string[];
  metadata: Record<string, unknown>;
  contentHash: string;
  messages: TicketMessage[];
  createdAt: string;
  updatedAt: string;
}
interface IngestCounts {
  chunkCount: number;
  embeddedChunks: number;
  reusedChunks: number;
  deletedChunks: number;
  unchanged: boolean;
  warnings: string[];
}
type IngestDocumentData = { ingestDocument: IngestCounts & { document: Doc } };
type IngestDocumentsData = { ingestDocuments: { results: (IngestCounts & { document: Doc })[] } };
type IngestTicketData = { ingestTicket: IngestCounts & { ticket: Ticket } };
type Page<T> = { nodes: T[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
interface Order {
  id: string;
  customerId: string;
  status: string;
  currency: string;
  subtotalCents: number;
  taxCents: number;
  shippingCents: number;
  totalCents: number;
  refundedCents: number;
  placedAt: string;
}
interface RetrievedChunk {
  id: string;
  documentId: string | null;
  ticketId: string | null;
  sourceType: 'DOCUMENT' | 'TICKET';
  citation: string;
  metadata: Record<string, unknown>;
  text: string;
}
type RetrieveData = { retrieveChunks: { chunks: RetrievedChunk[] } };
type RetrieveWithSourcesData = {
  retrieveChunks: {
    chunks: {
      id: string;
      documentId: string | null;
      ticketId: string | null;
      sourceType: 'DOCUMENT' | 'TICKET';
      document: { id: string; title: string } | null;
      ticket: { id: string; subject: string; status: string } | null;
    }[];
  };
};

interface ChunkRow {
  id: string;
  chunk_index: number;
  chunk_text: string;
  citation: string;
  document_id: string | null;
  ticket_id: string | null;
  acl: string[];
  metadata: Record<string, unknown>;
  embedding: string;
  updated_at: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** Distinct sentences mentioning `tag`. */
const sentences = (tag: string, n: number, topic = 'the parcel'): string =>
  Array.from(
    { length: n },
    (_, i) => `Sentence ${i} from ${tag} describes ${topic} in some detail, item number ${i + 1}.`,
  ).join(' ');

/** A markdown document of `n` sections; with 64-token chunks every section is at least one chunk. */
const sectioned = (tag: string, n: number, topic = 'the refund policy'): string =>
  Array.from({ length: n }, (_, i) => `## Part ${i + 1}\n\n${sentences(`${tag}-${i}`, 2, topic)}`).join(
    '\n\n',
  );

function expectOk<T>(res: GraphQLResponse<T>): T {
  expect(res.errors).toBeUndefined();
  expect(res.data).toBeTruthy();
  return res.data!;
}

describe('content management over HTTP', () => {
  let t: TestGateway;
  let merchant: string;
  /**
   * Unique per test and short: texts carry it so that no two tests embed the same text (the embedding cache is
   * per gateway, shared by all merchants), and its token count does not vary the way a random id's would.
   */
  let tag: string;
  let seq = 0;
  let admin: TestIdentity;
  /** role:agent — on the ACL of most content below. */
  let agent: TestIdentity;
  /** role:support — a second reader. */
  let support: TestIdentity;

  beforeAll(async () => {
    // Small chunks without overlap, so a modest ticket or document has several chunks.
    t = await startTestGateway({ env: { CHUNK_TARGET_TOKENS: '64', CHUNK_OVERLAP_TOKENS: '0' } });
  });
  beforeEach(async () => {
    merchant = await createTestMerchant(t);
    tag = `r${++seq}`;
    admin = { merchantId: merchant, userId: 'admin1', roles: ['admin'] };
    agent = { merchantId: merchant, userId: 'agent1', roles: ['agent'] };
    support = { merchantId: merchant, userId: 'support1', roles: ['support'] };
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    await t.close();
  });

  // -- database helpers ------------------------------------------------------------------------------------------

  const chunkRows = (source: { documentId?: string; ticketId?: string }, merchantId = merchant) =>
    t.db.dataSource.query<ChunkRow[]>(
      `SELECT id::text AS id, chunk_index, chunk_text, citation, document_id, ticket_id, acl, metadata,
              embedding::text AS embedding, updated_at::text AS updated_at
         FROM document_chunks
        WHERE merchant_id = $1 AND ${source.documentId !== undefined ? 'document_id' : 'ticket_id'} = $2
        ORDER BY corpus_version, chunk_index`,
      [merchantId, source.documentId ?? source.ticketId],
    );

  const documentRow = async (id: string, merchantId = merchant) => {
    const rows = await t.db.dataSource.query<
      { id: string; title: string; acl: string[]; metadata: Record<string, unknown>; updated_at: string }[]
    >(
      `SELECT id, title, acl, metadata, updated_at::text AS updated_at FROM support_documents
        WHERE merchant_id = $1 AND id = $2`,
      [merchantId, id],
    );
    return rows.length > 0 ? rows[0] : null;
  };

  const ticketRow = async (id: string, merchantId = merchant) => {
    const rows = await t.db.dataSource.query<
      {
        id: string;
        status: string;
        acl: string[];
        metadata: Record<string, unknown>;
        messages: { author: string; body: string; sentAt: string | null }[];
        updated_at: string;
      }[]
    >(
      `SELECT id, status, acl, metadata, messages, updated_at::text AS updated_at FROM tickets
        WHERE merchant_id = $1 AND id = $2`,
      [merchantId, id],
    );
    return rows.length > 0 ? rows[0] : null;
  };

  const countRows = async (table: 'support_documents' | 'tickets' | 'document_chunks' | 'orders') => {
    const rows = await t.db.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM ${table} WHERE merchant_id = $1`,
      [merchant],
    );
    return Number(rows[0].n);
  };

  // -- GraphQL helpers -------------------------------------------------------------------------------------------

  const ingestDocument = async (input: Record<string, unknown>, as: TestIdentity = admin) =>
    expectOk(await t.gql<IngestDocumentData>(INGEST_DOCUMENT, { input }, as)).ingestDocument;

  const ingestTicket = async (input: Record<string, unknown>, as: TestIdentity = admin) =>
    expectOk(await t.gql<IngestTicketData>(INGEST_TICKET, { input }, as)).ingestTicket;

  const retrieve = async (input: Record<string, unknown>, as: TestIdentity) =>
    expectOk(await t.gql<RetrieveData>(RETRIEVE, { input }, as)).retrieveChunks.chunks;

  const getDocument = async (id: string, as: TestIdentity) =>
    expectOk(await t.gql<{ document: Doc | null }>(DOCUMENT, { id }, as)).document;

  const getTicket = async (id: string, as: TestIdentity) =>
    expectOk(await t.gql<{ ticket: Ticket | null }>(TICKET, { id }, as)).ticket;

  const listDocuments = async (variables: Record<string, unknown>, as: TestIdentity) =>
    expectOk(await t.gql<{ documents: Page<Doc> }>(DOCUMENTS, variables, as)).documents;

  const listTickets = async (variables: Record<string, unknown>, as: TestIdentity) =>
    expectOk(
      await t.gql<{ tickets: Page<Pick<Ticket, 'id' | 'status' | 'customerId'>> }>(TICKETS, variables, as),
    ).tickets;

  /** A ticket of four messages that chunks into several 64-token chunks. */
  const ticketInput = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    customerId: 'cust-1',
    subject: `Where is my parcel ${id}`,
    status: 'OPEN',
    acl: ['role:agent'],
    metadata: { channel: 'email' },
    messages: [
      {
        author: 'CUSTOMER',
        body: sentences(`${tag}-${id}-m1`, 3),
        sentAt: '2024-03-01T09:00:00.000Z',
      },
      { author: 'AGENT', body: sentences(`${tag}-${id}-m2`, 3), sentAt: '2024-03-01T10:30:00.000Z' },
      {
        author: 'CUSTOMER',
        body: sentences(`${tag}-${id}-m3`, 3),
        sentAt: '2024-03-02T08:15:00.000Z',
      },
      { author: 'AGENT', body: sentences(`${tag}-${id}-m4`, 3), sentAt: null },
    ],
    ...extra,
  });

  // =============================================================================================================
  // 1. ingestTicket
  // =============================================================================================================

  describe('ingestTicket', () => {
    it('creates the ticket and its chunks, cited "Ticket <id>", with messages in order', async () => {
      const input = ticketInput('tk-1');
      const res = await ingestTicket(input);
      expect(res.unchanged).toBe(false);
      expect(res.warnings).toEqual([]);
      expect(res.chunkCount).toBeGreaterThan(1);
      expect(res.embeddedChunks).toBe(res.chunkCount);
      expect(res.reusedChunks).toBe(0);
      expect(res.deletedChunks).toBe(0);
      expect(res.ticket).toMatchObject({
        id: 'tk-1',
        customerId: 'cust-1',
        subject: 'Where is my parcel tk-1',
        status: 'OPEN',
        acl: ['role:agent'],
        metadata: { channel: 'email' },
      });
      expect(res.ticket.contentHash).toMatch(/^[0-9a-f]{64}$/);

      const row = await ticketRow('tk-1');
      expect(row).not.toBeNull();
      expect(row!.status).toBe('open');
      expect(row!.messages.map((m) => [m.author, m.body])).toEqual(
        input.messages.map((m) => [m.author.toLowerCase(), m.body]),
      );

      const chunks = await chunkRows({ ticketId: 'tk-1' });
      expect(chunks).toHaveLength(res.chunkCount);
      expect(chunks.map((c) => c.chunk_index)).toEqual(chunks.map((_, i) => i));
      for (const c of chunks) {
        expect(c.citation).toBe('Ticket tk-1');
        expect(c.ticket_id).toBe('tk-1');
        expect(c.document_id).toBeNull();
        expect(c.acl).toEqual(['role:agent']);
        expect(c.metadata).toEqual({ channel: 'email' });
        expect(c.chunk_text.startsWith('Subject: Where is my parcel tk-1\n\n')).toBe(true);
      }
      expect(chunks[0].chunk_text).toContain(`Customer: Sentence 0 from ${tag}-tk-1-m1`);
      expect(chunks.some((c) => c.chunk_text.includes(`Agent: Sentence 0 from ${tag}-tk-1-m2`))).toBe(true);

      // ticket(id): the conversation, oldest first, with authors and sentAt.
      for (const reader of [admin, agent]) {
        const ticket = await getTicket('tk-1', reader);
        expect(ticket).not.toBeNull();
        expect(ticket!.status).toBe('OPEN');
        expect(ticket!.messages).toHaveLength(4);
        expect(ticket!.messages.map((m) => m.author)).toEqual(['CUSTOMER', 'AGENT', 'CUSTOMER', 'AGENT']);
        expect(ticket!.messages.map((m) => m.body)).toEqual(input.messages.map((m) => m.body));
        expect(
          ticket!.messages.map((m) => (m.sentAt === null ? null : new Date(m.sentAt).toISOString())),
        ).toEqual(input.messages.map((m) => m.sentAt));
      }
      // Not on the ACL: invisible.
      expect(await getTicket('tk-1', support)).toBeNull();

      const found = await retrieve({ query: `Sentence 1 from ${tag}-tk-1-m3`, k: 3 }, agent);
      expect(found[0]).toMatchObject({ ticketId: 'tk-1', documentId: null, sourceType: 'TICKET' });
      expect(found[0].citation).toBe('Ticket tk-1');
    });

    it('re-embeds only the changed chunk when a message is appended', async () => {
      const v1 = ticketInput('tk-2');
      const first = await ingestTicket(v1);
      const before = await chunkRows({ ticketId: 'tk-2' });
      expect(before.length).toBeGreaterThan(1);

      const v2 = {
        ...v1,
        messages: [
          ...v1.messages,
          { author: 'CUSTOMER', body: `Thanks, ${tag} got it.`, sentAt: '2024-03-03T12:00:00.000Z' },
        ],
      };
      const second = await ingestTicket(v2);
      expect(second.unchanged).toBe(false);
      expect(second.embeddedChunks).toBe(1);
      expect(second.reusedChunks).toBe(second.chunkCount - 1);
      expect(second.chunkCount).toBeGreaterThanOrEqual(first.chunkCount);
      expect(second.deletedChunks).toBe(second.chunkCount === first.chunkCount ? 1 : 0);
      expect(second.ticket.messages).toHaveLength(5);

      const after = await chunkRows({ ticketId: 'tk-2' });
      expect(after).toHaveLength(second.chunkCount);
      expect(after[after.length - 1].chunk_text).toContain(`Customer: Thanks, ${tag} got it.`);
      // All chunks but the last of v1 are the very same rows: same id, same vector, not touched.
      for (const b of before.slice(0, -1)) {
        expect(after.find((a) => a.chunk_index === b.chunk_index)).toEqual(b);
      }
      const newTexts = after.filter((a) => !before.some((b) => b.chunk_text === a.chunk_text));
      expect(newTexts).toHaveLength(1);
      expect((await ticketRow('tk-2'))!.messages).toHaveLength(5);
    });

    it('reports unchanged and embeds nothing when the identical ticket is ingested again', async () => {
      const input = ticketInput('tk-3');
      await ingestTicket(input);
      const chunksBefore = await chunkRows({ ticketId: 'tk-3' });
      const rowBefore = await ticketRow('tk-3');

      const again = await ingestTicket(input);
      expect(again.unchanged).toBe(true);
      expect(again.embeddedChunks).toBe(0);
      expect(again.reusedChunks).toBe(again.chunkCount);
      expect(again.deletedChunks).toBe(0);
      expect(await chunkRows({ ticketId: 'tk-3' })).toEqual(chunksBefore);
      expect(await ticketRow('tk-3')).toEqual(rowBefore);
    });

    it('embeds nothing when only the status changes, and stores the new status', async () => {
      const input = ticketInput('tk-4');
      await ingestTicket(input);
      const chunksBefore = await chunkRows({ ticketId: 'tk-4' });

      const res = await ingestTicket({ ...input, status: 'RESOLVED' });
      expect(res.embeddedChunks).toBe(0);
      expect(res.reusedChunks).toBe(res.chunkCount);
      expect(res.deletedChunks).toBe(0);
      expect(res.unchanged).toBe(false);
      expect(res.ticket.status).toBe('RESOLVED');
      expect((await ticketRow('tk-4'))!.status).toBe('resolved');
      expect(await chunkRows({ ticketId: 'tk-4' })).toEqual(chunksBefore);
      expect((await getTicket('tk-4', agent))!.status).toBe('RESOLVED');
    });
  });

  // =============================================================================================================
  // 2. updateTicketStatus
  // =============================================================================================================

  describe('updateTicketStatus', () => {
    it('changes the status without touching the chunk rows', async () => {
      await ingestTicket(ticketInput('st-1'));
      await ingestTicket(ticketInput('st-2'));
      const chunksBefore = await chunkRows({ ticketId: 'st-1' });
      expect(chunksBefore.length).toBeGreaterThan(0);

      const res = expectOk(
        await t.gql<{ updateTicketStatus: Ticket }>(
          UPDATE_TICKET_STATUS,
          { id: 'st-1', status: 'PENDING' },
          admin,
        ),
      );
      expect(res.updateTicketStatus).toMatchObject({ id: 'st-1', status: 'PENDING' });
      expect(res.updateTicketStatus.messages).toHaveLength(4);

      expect((await ticketRow('st-1'))!.status).toBe('pending');
      expect((await getTicket('st-1', agent))!.status).toBe('PENDING');
      const pending = await listTickets({ filter: { status: 'PENDING' } }, agent);
      expect(pending.nodes.map((n) => n.id)).toEqual(['st-1']);
      const open = await listTickets({ filter: { status: 'OPEN' } }, agent);
      expect(open.nodes.map((n) => n.id)).toEqual(['st-2']);

      expect(await chunkRows({ ticketId: 'st-1' })).toEqual(chunksBefore);
    });

    it('is FORBIDDEN for a non-admin and NOT_FOUND for an unknown id', async () => {
      await ingestTicket(ticketInput('st-3'));
      const forbidden = await t.gql(UPDATE_TICKET_STATUS, { id: 'st-3', status: 'CLOSED' }, agent);
      expect(errorCode(forbidden)).toBe('FORBIDDEN');
      expect((await ticketRow('st-3'))!.status).toBe('open');

      const missing = await t.gql(UPDATE_TICKET_STATUS, { id: 'no-such-ticket', status: 'CLOSED' }, admin);
      expect(errorCode(missing)).toBe('NOT_FOUND');
    });
  });

  // =============================================================================================================
  // 3. updateDocumentAcl / updateTicketAcl
  // =============================================================================================================

  describe('ACL updates', () => {
    it('updateDocumentAcl: a removed reader loses access at once; chunks get the new ACL; no re-embedding', async () => {
      const text = sectioned(`${tag}-acl`, 3, 'warranty claims for broken kettles');
      const ingested = await ingestDocument({
        id: 'acl-doc',
        title: 'Kettle warranty',
        text,
        acl: ['role:agent', 'role:support'],
        metadata: { category: 'warranty' },
      });
      expect(ingested.chunkCount).toBeGreaterThan(1);
      const query = 'warranty claims for broken kettles';
      const before = await chunkRows({ documentId: 'acl-doc' });
      expect((await retrieve({ query, k: 50 }, agent)).some((c) => c.documentId === 'acl-doc')).toBe(true);
      expect(await getDocument('acl-doc', agent)).not.toBeNull();

      const res = expectOk(
        await t.gql<{ updateDocumentAcl: Doc }>(
          UPDATE_DOCUMENT_ACL,
          { id: 'acl-doc', acl: ['role:support'] },
          admin,
        ),
      );
      expect(res.updateDocumentAcl).toMatchObject({ id: 'acl-doc', acl: ['role:support'] });

      // The removed reader: nothing, immediately.
      const agentHits = await retrieve({ query, k: 50 }, agent);
      expect(agentHits.filter((c) => c.documentId === 'acl-doc')).toEqual([]);
      expect(await getDocument('acl-doc', agent)).toBeNull();
      // The remaining reader still sees all of it.
      const supportHits = await retrieve({ query, k: 50 }, support);
      expect(supportHits.filter((c) => c.documentId === 'acl-doc')).toHaveLength(before.length);
      expect((await getDocument('acl-doc', support))!.acl).toEqual(['role:support']);

      expect((await documentRow('acl-doc'))!.acl).toEqual(['role:support']);
      const after = await chunkRows({ documentId: 'acl-doc' });
      expect(after).toHaveLength(before.length);
      for (const c of after) expect(c.acl).toEqual(['role:support']);
      // Same rows, byte-identical vectors: nothing was re-embedded.
      expect(after.map((c) => [c.id, c.chunk_index, c.chunk_text, c.embedding])).toEqual(
        before.map((c) => [c.id, c.chunk_index, c.chunk_text, c.embedding]),
      );
    });

    it('updateDocumentAcl: NOT_FOUND for an unknown id, FORBIDDEN for a non-admin (nothing changes)', async () => {
      await ingestDocument({
        id: 'acl-doc2',
        title: 'Doc',
        text: sectioned(`${tag}-acl2`, 2),
        acl: ['role:agent'],
      });
      const chunksBefore = await chunkRows({ documentId: 'acl-doc2' });
      const rowBefore = await documentRow('acl-doc2');

      const missing = await t.gql(UPDATE_DOCUMENT_ACL, { id: 'nope', acl: ['role:agent'] }, admin);
      expect(errorCode(missing)).toBe('NOT_FOUND');

      const forbidden = await t.gql(UPDATE_DOCUMENT_ACL, { id: 'acl-doc2', acl: ['agent1'] }, agent);
      expect(errorCode(forbidden)).toBe('FORBIDDEN');
      expect(await documentRow('acl-doc2')).toEqual(rowBefore);
      expect(await chunkRows({ documentId: 'acl-doc2' })).toEqual(chunksBefore);
      expect(await getDocument('acl-doc2', agent)).not.toBeNull();
    });

    it('updateTicketAcl: a removed reader loses access at once; chunks get the new ACL; no re-embedding', async () => {
      await ingestTicket(ticketInput('acl-tk', { acl: ['role:agent', 'role:support'] }));
      const before = await chunkRows({ ticketId: 'acl-tk' });
      expect(before.length).toBeGreaterThan(1);
      const query = `Sentence 2 from ${tag}-acl-tk-m2 describes the parcel`;
      expect((await retrieve({ query, k: 50 }, agent)).some((c) => c.ticketId === 'acl-tk')).toBe(true);

      const res = expectOk(
        await t.gql<{ updateTicketAcl: Ticket }>(
          UPDATE_TICKET_ACL,
          { id: 'acl-tk', acl: ['role:support'] },
          admin,
        ),
      );
      expect(res.updateTicketAcl).toMatchObject({ id: 'acl-tk', acl: ['role:support'], status: 'OPEN' });

      expect((await retrieve({ query, k: 50 }, agent)).filter((c) => c.ticketId === 'acl-tk')).toEqual([]);
      expect(await getTicket('acl-tk', agent)).toBeNull();
      expect((await retrieve({ query, k: 50 }, support)).filter((c) => c.ticketId === 'acl-tk')).toHaveLength(
        before.length,
      );
      expect(await getTicket('acl-tk', support)).not.toBeNull();

      expect((await ticketRow('acl-tk'))!.acl).toEqual(['role:support']);
      const after = await chunkRows({ ticketId: 'acl-tk' });
      for (const c of after) expect(c.acl).toEqual(['role:support']);
      expect(after.map((c) => [c.id, c.chunk_text, c.embedding])).toEqual(
        before.map((c) => [c.id, c.chunk_text, c.embedding]),
      );
    });

    it('updateTicketAcl: NOT_FOUND for an unknown id, FORBIDDEN for a non-admin (nothing changes)', async () => {
      await ingestTicket(ticketInput('acl-tk2'));
      const chunksBefore = await chunkRows({ ticketId: 'acl-tk2' });
      const rowBefore = await ticketRow('acl-tk2');

      expect(errorCode(await t.gql(UPDATE_TICKET_ACL, { id: 'nope', acl: ['role:agent'] }, admin))).toBe(
        'NOT_FOUND',
      );
      expect(errorCode(await t.gql(UPDATE_TICKET_ACL, { id: 'acl-tk2', acl: [] }, agent))).toBe('FORBIDDEN');
      expect(await ticketRow('acl-tk2')).toEqual(rowBefore);
      expect(await chunkRows({ ticketId: 'acl-tk2' })).toEqual(chunksBefore);
    });
  });

  // =============================================================================================================
  // 4. updateDocumentMetadata / updateTicketMetadata
  // =============================================================================================================

  describe('metadata updates', () => {
    it('updateDocumentMetadata: retrieval filters by the new value, not the old; no re-embedding', async () => {
      await ingestDocument({
        id: 'meta-doc',
        title: 'Shipping times',
        text: sectioned(`${tag}-meta`, 2, 'shipping times to remote islands'),
        acl: ['role:agent'],
        metadata: { category: 'old-cat', region: 'eu' },
      });
      const before = await chunkRows({ documentId: 'meta-doc' });
      const query = 'shipping times to remote islands';
      const byOld = await retrieve({ query, k: 50, filter: { metadata: { category: 'old-cat' } } }, agent);
      expect(byOld.filter((c) => c.documentId === 'meta-doc')).toHaveLength(before.length);

      const res = expectOk(
        await t.gql<{ updateDocumentMetadata: Doc }>(
          UPDATE_DOCUMENT_METADATA,
          { id: 'meta-doc', metadata: { category: 'new-cat', priority: 2 } },
          admin,
        ),
      );
      expect(res.updateDocumentMetadata.metadata).toEqual({ category: 'new-cat', priority: 2 });

      const byNew = await retrieve({ query, k: 50, filter: { metadata: { category: 'new-cat' } } }, agent);
      expect(byNew.map((c) => c.documentId)).toEqual(before.map(() => 'meta-doc'));
      for (const c of byNew) expect(c.metadata).toEqual({ category: 'new-cat', priority: 2 });
      expect(await retrieve({ query, k: 50, filter: { metadata: { category: 'old-cat' } } }, agent)).toEqual(
        [],
      );
      // Replaced, not merged: the old key is gone.
      expect(await retrieve({ query, k: 50, filter: { metadata: { region: 'eu' } } }, agent)).toEqual([]);

      expect((await documentRow('meta-doc'))!.metadata).toEqual({ category: 'new-cat', priority: 2 });
      expect((await getDocument('meta-doc', agent))!.metadata).toEqual({ category: 'new-cat', priority: 2 });
      const after = await chunkRows({ documentId: 'meta-doc' });
      for (const c of after) expect(c.metadata).toEqual({ category: 'new-cat', priority: 2 });
      expect(after.map((c) => [c.id, c.embedding])).toEqual(before.map((c) => [c.id, c.embedding]));
    });

    it('updateTicketMetadata: retrieval filters by the new value, not the old', async () => {
      await ingestTicket(ticketInput('meta-tk', { metadata: { queue: 'tier1' } }));
      const before = await chunkRows({ ticketId: 'meta-tk' });
      const query = `Sentence 0 from ${tag}-meta-tk-m1`;

      const res = expectOk(
        await t.gql<{ updateTicketMetadata: Ticket }>(
          UPDATE_TICKET_METADATA,
          { id: 'meta-tk', metadata: { queue: 'tier2' } },
          admin,
        ),
      );
      expect(res.updateTicketMetadata.metadata).toEqual({ queue: 'tier2' });

      const byNew = await retrieve({ query, k: 50, filter: { metadata: { queue: 'tier2' } } }, agent);
      expect(byNew.map((c) => c.ticketId)).toEqual(before.map(() => 'meta-tk'));
      expect(await retrieve({ query, k: 50, filter: { metadata: { queue: 'tier1' } } }, agent)).toEqual([]);
      expect((await ticketRow('meta-tk'))!.metadata).toEqual({ queue: 'tier2' });
      const after = await chunkRows({ ticketId: 'meta-tk' });
      for (const c of after) expect(c.metadata).toEqual({ queue: 'tier2' });
      expect(after.map((c) => [c.id, c.embedding])).toEqual(before.map((c) => [c.id, c.embedding]));
    });

    it('is FORBIDDEN for a non-admin, UNAUTHENTICATED without a token, NOT_FOUND for unknown ids', async () => {
      await ingestDocument({
        id: 'meta-own',
        title: 'Doc',
        text: `Body of ${tag}.`,
        acl: ['role:agent'],
        metadata: { category: 'keep' },
      });
      await ingestTicket(ticketInput('meta-own-tk', { metadata: { category: 'keep' } }));
      const metadata = { category: 'changed' };

      for (const [as, code] of [
        [agent, 'FORBIDDEN'],
        [null, 'UNAUTHENTICATED'],
      ] as const) {
        expect(errorCode(await t.gql(UPDATE_DOCUMENT_METADATA, { id: 'meta-own', metadata }, as))).toBe(code);
        expect(errorCode(await t.gql(UPDATE_TICKET_METADATA, { id: 'meta-own-tk', metadata }, as))).toBe(
          code,
        );
        expect(errorCode(await t.gql(DELETE_DOCUMENT, { id: 'meta-own' }, as))).toBe(code);
      }
      expect(errorCode(await t.gql(UPDATE_DOCUMENT_METADATA, { id: 'nope', metadata }, admin))).toBe(
        'NOT_FOUND',
      );
      expect(errorCode(await t.gql(UPDATE_TICKET_METADATA, { id: 'nope', metadata }, admin))).toBe(
        'NOT_FOUND',
      );

      expect((await documentRow('meta-own'))!.metadata).toEqual({ category: 'keep' });
      expect((await ticketRow('meta-own-tk'))!.metadata).toEqual({ category: 'keep' });
      for (const c of await chunkRows({ documentId: 'meta-own' }))
        expect(c.metadata).toEqual({ category: 'keep' });
      for (const c of await chunkRows({ ticketId: 'meta-own-tk' }))
        expect(c.metadata).toEqual({ category: 'keep' });
    });

    it.each([
      ['an array', [1, 2]],
      ['a string', 'category=refund'],
      ['a number', 42],
    ])('rejects metadata that is %s with BAD_USER_INPUT and changes nothing', async (_label, metadata) => {
      await ingestDocument({
        id: 'meta-bad',
        title: 'Doc',
        text: `Body of ${tag}.`,
        acl: ['role:agent'],
        metadata: { category: 'keep' },
      });
      await ingestTicket(ticketInput('meta-bad-tk', { metadata: { category: 'keep' } }));

      const doc = await t.gql(UPDATE_DOCUMENT_METADATA, { id: 'meta-bad', metadata }, admin);
      expect(errorCode(doc)).toBe('BAD_USER_INPUT');
      const tk = await t.gql(UPDATE_TICKET_METADATA, { id: 'meta-bad-tk', metadata }, admin);
      expect(errorCode(tk)).toBe('BAD_USER_INPUT');

      expect((await documentRow('meta-bad'))!.metadata).toEqual({ category: 'keep' });
      expect((await ticketRow('meta-bad-tk'))!.metadata).toEqual({ category: 'keep' });
      for (const c of await chunkRows({ documentId: 'meta-bad' }))
        expect(c.metadata).toEqual({ category: 'keep' });
      for (const c of await chunkRows({ ticketId: 'meta-bad-tk' }))
        expect(c.metadata).toEqual({ category: 'keep' });
    });
  });

  // =============================================================================================================
  // 5. deleteDocument / deleteTicket
  // =============================================================================================================

  describe('deletion', () => {
    it('deleteDocument removes the document and all its chunks; deleting again returns false', async () => {
      await ingestDocument({
        id: 'del-doc',
        title: 'Doomed',
        text: sectioned(`${tag}-del`, 3),
        acl: ['role:agent'],
      });
      await ingestDocument({
        id: 'del-keep',
        title: 'Kept',
        text: `Kept body ${tag}.`,
        acl: ['role:agent'],
      });
      expect((await chunkRows({ documentId: 'del-doc' })).length).toBeGreaterThan(1);

      // Non-admin first: FORBIDDEN and nothing deleted.
      expect(errorCode(await t.gql(DELETE_DOCUMENT, { id: 'del-doc' }, agent))).toBe('FORBIDDEN');
      expect(await documentRow('del-doc')).not.toBeNull();

      const res = expectOk(
        await t.gql<{ deleteDocument: boolean }>(DELETE_DOCUMENT, { id: 'del-doc' }, admin),
      );
      expect(res.deleteDocument).toBe(true);
      expect(await documentRow('del-doc')).toBeNull();
      expect(await chunkRows({ documentId: 'del-doc' })).toEqual([]);
      expect(await getDocument('del-doc', admin)).toBeNull();
      // The other document is untouched.
      expect(await documentRow('del-keep')).not.toBeNull();
      expect(await chunkRows({ documentId: 'del-keep' })).toHaveLength(1);

      const again = expectOk(
        await t.gql<{ deleteDocument: boolean }>(DELETE_DOCUMENT, { id: 'del-doc' }, admin),
      );
      expect(again.deleteDocument).toBe(false);
    });

    it('deleteTicket removes the ticket and all its chunks; deleting again returns false', async () => {
      await ingestTicket(ticketInput('del-tk'));
      expect((await chunkRows({ ticketId: 'del-tk' })).length).toBeGreaterThan(1);

      expect(errorCode(await t.gql(DELETE_TICKET, { id: 'del-tk' }, agent))).toBe('FORBIDDEN');
      expect(await ticketRow('del-tk')).not.toBeNull();

      const res = expectOk(await t.gql<{ deleteTicket: boolean }>(DELETE_TICKET, { id: 'del-tk' }, admin));
      expect(res.deleteTicket).toBe(true);
      expect(await ticketRow('del-tk')).toBeNull();
      expect(await chunkRows({ ticketId: 'del-tk' })).toEqual([]);
      expect(await getTicket('del-tk', admin)).toBeNull();

      const again = expectOk(await t.gql<{ deleteTicket: boolean }>(DELETE_TICKET, { id: 'del-tk' }, admin));
      expect(again.deleteTicket).toBe(false);
    });
  });

  // =============================================================================================================
  // 6. ingestDocuments (batch)
  // =============================================================================================================

  describe('ingestDocuments', () => {
    const batchInput = (id: string, n: number) => ({
      id,
      title: `Batch ${id}`,
      text: sectioned(`${tag}-${id}`, n),
      acl: ['role:agent'],
      metadata: { batch: true },
    });

    it('writes every document of the batch with its chunks, results in input order', async () => {
      const inputs = [batchInput('b-2', 1), batchInput('b-1', 2), batchInput('b-3', 3)];
      const res = expectOk(await t.gql<IngestDocumentsData>(INGEST_DOCUMENTS, { inputs }, admin));
      const results = res.ingestDocuments.results;
      expect(results.map((r) => r.document.id)).toEqual(['b-2', 'b-1', 'b-3']);
      for (const [i, r] of results.entries()) {
        expect(r.document).toMatchObject({
          title: inputs[i].title,
          acl: ['role:agent'],
          metadata: { batch: true },
        });
        expect(r.unchanged).toBe(false);
        expect(r.embeddedChunks).toBe(r.chunkCount);
        const rows = await chunkRows({ documentId: r.document.id });
        expect(rows).toHaveLength(r.chunkCount);
        expect(rows.map((c) => c.chunk_index)).toEqual(rows.map((_, j) => j));
      }
      expect(results.map((r) => r.chunkCount)).toEqual([1, 2, 3]);
      expect(await countRows('support_documents')).toBe(3);
    });

    it('rejects a batch with a duplicate id with BAD_USER_INPUT and writes nothing', async () => {
      const res = await t.gql(
        INGEST_DOCUMENTS,
        {
          inputs: [
            batchInput('dup-a', 1),
            batchInput('dup-b', 1),
            { ...batchInput('dup-a', 2), title: 'Again' },
          ],
        },
        admin,
      );
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0].message).toMatch(/dup-a/);
      expect(await countRows('support_documents')).toBe(0);
      expect(await countRows('document_chunks')).toBe(0);
    });

    it('rejects a batch with one invalid input with BAD_USER_INPUT and writes nothing, not even the valid ones', async () => {
      // An existing document that the batch would replace must keep its previous version.
      await ingestDocument({
        id: 'inv-a',
        title: 'Original',
        text: `Original ${tag}.`,
        acl: ['role:agent'],
      });
      const chunksBefore = await chunkRows({ documentId: 'inv-a' });
      const rowBefore = await documentRow('inv-a');

      const res = await t.gql(
        INGEST_DOCUMENTS,
        {
          inputs: [
            batchInput('inv-a', 2),
            { ...batchInput('inv-b', 1), text: '   ' },
            batchInput('inv-c', 1),
          ],
        },
        admin,
      );
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0].message).toMatch(/inputs\[1\]\.text/);
      expect(await documentRow('inv-b')).toBeNull();
      expect(await documentRow('inv-c')).toBeNull();
      expect(await documentRow('inv-a')).toEqual(rowBefore);
      expect(await chunkRows({ documentId: 'inv-a' })).toEqual(chunksBefore);
      expect(await countRows('support_documents')).toBe(1);
    });

    it('is FORBIDDEN for a non-admin', async () => {
      const res = await t.gql(INGEST_DOCUMENTS, { inputs: [batchInput('nf-1', 1)] }, agent);
      expect(errorCode(res)).toBe('FORBIDDEN');
      expect(await countRows('support_documents')).toBe(0);
    });
  });

  // =============================================================================================================
  // 7. documents / tickets listing
  // =============================================================================================================

  describe('documents and tickets listing', () => {
    const seedFive = async () => {
      // Ingested out of id order; d5 has an empty ACL (only content managers see it).
      const docs = [
        { id: 'd3', category: 'shipping', acl: ['role:agent'] },
        { id: 'd1', category: 'refund', acl: ['role:agent'] },
        { id: 'd5', category: 'refund', acl: [] as string[] },
        { id: 'd2', category: 'shipping', acl: ['role:agent'] },
        { id: 'd4', category: 'refund', acl: ['role:agent'] },
      ];
      for (const d of docs) {
        await ingestDocument({
          id: d.id,
          title: `Doc ${d.id}`,
          text: `Body of ${d.id} for ${tag}.`,
          acl: d.acl,
          metadata: { category: d.category },
        });
      }
    };

    it('pages through five documents two at a time, each id exactly once, in id order', async () => {
      await seedFive();
      const seen: string[] = [];
      const pages: Page<Doc>[] = [];
      let after: string | null = null;
      for (let i = 0; i < 3; i++) {
        const page = await listDocuments({ first: 2, after }, admin);
        pages.push(page);
        seen.push(...page.nodes.map((n) => n.id));
        after = page.pageInfo.endCursor;
      }
      expect(pages.map((p) => p.nodes.map((n) => n.id))).toEqual([['d1', 'd2'], ['d3', 'd4'], ['d5']]);
      expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
      expect(seen).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
      expect(new Set(seen).size).toBe(5);
      expect(pages[2].pageInfo.endCursor).not.toBeNull();
      // Past the end: empty.
      const beyond = await listDocuments({ first: 2, after }, admin);
      expect(beyond.nodes).toEqual([]);
      expect(beyond.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
    });

    it('filters by category; an admin sees the empty-ACL document, a reader does not', async () => {
      await seedFive();
      const adminAll = await listDocuments({}, admin);
      expect(adminAll.nodes.map((n) => n.id)).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
      expect(adminAll.nodes.find((n) => n.id === 'd5')!.acl).toEqual([]);
      const readerAll = await listDocuments({}, agent);
      expect(readerAll.nodes.map((n) => n.id)).toEqual(['d1', 'd2', 'd3', 'd4']);
      expect(readerAll.pageInfo.hasNextPage).toBe(false);
      // Another reader not on any ACL sees nothing.
      expect((await listDocuments({}, support)).nodes).toEqual([]);

      const refundAdmin = await listDocuments({ filter: { category: 'refund' } }, admin);
      expect(refundAdmin.nodes.map((n) => n.id)).toEqual(['d1', 'd4', 'd5']);
      const refundReader = await listDocuments({ filter: { category: 'refund' } }, agent);
      expect(refundReader.nodes.map((n) => n.id)).toEqual(['d1', 'd4']);
      const shipping = await listDocuments({ filter: { category: 'shipping' }, first: 1 }, agent);
      expect(shipping.nodes.map((n) => n.id)).toEqual(['d2']);
      expect(shipping.pageInfo.hasNextPage).toBe(true);
      const shipping2 = await listDocuments(
        { filter: { category: 'shipping' }, first: 1, after: shipping.pageInfo.endCursor },
        agent,
      );
      expect(shipping2.nodes.map((n) => n.id)).toEqual(['d3']);
      expect(shipping2.pageInfo.hasNextPage).toBe(false);
      expect((await listDocuments({ filter: { category: 'nothing' } }, admin)).nodes).toEqual([]);

      // document(id) agrees with the listing.
      expect(await getDocument('d5', admin)).toMatchObject({ id: 'd5', acl: [] });
      expect(await getDocument('d5', agent)).toBeNull();
    });

    it.each([
      ['a garbage cursor', { after: 'garbage' }],
      ['a cursor with characters outside base64url', { after: '!!not a cursor!!' }],
      ['an empty cursor', { after: '' }],
      ['first: 0', { first: 0 }],
      ['first: 101', { first: 101 }],
      ['first: -1', { first: -1 }],
    ])('rejects %s with BAD_USER_INPUT (documents and tickets)', async (_label, variables) => {
      const docs = await t.gql(DOCUMENTS, variables, admin);
      expect(errorCode(docs)).toBe('BAD_USER_INPUT');
      const tickets = await t.gql(TICKETS, variables, admin);
      expect(errorCode(tickets)).toBe('BAD_USER_INPUT');
    });

    it('accepts first: 1 and first: 100', async () => {
      await seedFive();
      expect((await listDocuments({ first: 1 }, admin)).nodes.map((n) => n.id)).toEqual(['d1']);
      expect((await listDocuments({ first: 100 }, admin)).nodes).toHaveLength(5);
    });

    it('tickets(filter: { status, customerId }) filters correctly', async () => {
      const specs = [
        { id: 'lt-1', status: 'OPEN', customerId: 'c1' },
        { id: 'lt-2', status: 'RESOLVED', customerId: 'c1' },
        { id: 'lt-3', status: 'OPEN', customerId: 'c2' },
        { id: 'lt-4', status: 'OPEN', customerId: 'c1' },
        { id: 'lt-5', status: 'CLOSED', customerId: 'c2' },
      ];
      for (const s of specs) {
        await ingestTicket({
          id: s.id,
          customerId: s.customerId,
          subject: `Subject ${s.id}`,
          status: s.status,
          acl: ['role:agent'],
          messages: [{ author: 'CUSTOMER', body: `Question ${s.id} from ${tag}.` }],
        });
      }
      const ids = async (filter: Record<string, unknown>, as: TestIdentity = agent) =>
        (await listTickets({ filter }, as)).nodes.map((n) => n.id);

      expect(await ids({})).toEqual(['lt-1', 'lt-2', 'lt-3', 'lt-4', 'lt-5']);
      expect(await ids({ status: 'OPEN' })).toEqual(['lt-1', 'lt-3', 'lt-4']);
      expect(await ids({ customerId: 'c1' })).toEqual(['lt-1', 'lt-2', 'lt-4']);
      expect(await ids({ status: 'OPEN', customerId: 'c1' })).toEqual(['lt-1', 'lt-4']);
      expect(await ids({ status: 'CLOSED', customerId: 'c1' })).toEqual([]);
      expect(await ids({ status: 'PENDING' })).toEqual([]);
      expect(await ids({ customerId: 'c2' }, admin)).toEqual(['lt-3', 'lt-5']);
      const open = await listTickets({ filter: { status: 'OPEN' } }, agent);
      for (const n of open.nodes) expect(n.status).toBe('OPEN');
      // A reader not on the ACL sees none.
      expect(await ids({}, support)).toEqual([]);

      // Pagination with a filter.
      const p1 = await listTickets({ first: 2, filter: { status: 'OPEN' } }, agent);
      expect(p1.nodes.map((n) => n.id)).toEqual(['lt-1', 'lt-3']);
      expect(p1.pageInfo.hasNextPage).toBe(true);
      const p2 = await listTickets(
        { first: 2, after: p1.pageInfo.endCursor, filter: { status: 'OPEN' } },
        agent,
      );
      expect(p2.nodes.map((n) => n.id)).toEqual(['lt-4']);
      expect(p2.pageInfo.hasNextPage).toBe(false);
    });
  });

  // =============================================================================================================
  // 8. Orders
  // =============================================================================================================

  describe('orders', () => {
    const orderInput = (extra: Record<string, unknown> = {}) => ({
      id: 'ord-1001',
      customerId: 'cust-7',
      status: 'PAID',
      currency: 'EUR',
      subtotalCents: 12_345,
      taxCents: 2_346,
      shippingCents: 499,
      placedAt: '2024-05-01T12:00:00.000Z',
      ...extra,
    });
    const orderRow = async (id: string) => {
      const rows = await t.db.dataSource.query<
        { status: string; currency: string; total_cents: string; refunded_cents: string }[]
      >(
        `SELECT status, currency, total_cents::text AS total_cents, refunded_cents::text AS refunded_cents
           FROM orders WHERE merchant_id = $1 AND id = $2`,
        [merchant, id],
      );
      return rows.length > 0 ? rows[0] : null;
    };

    it('upsertOrder then order(id) returns it with totalCents = subtotal + tax + shipping; status updates', async () => {
      const created = expectOk(
        await t.gql<{ upsertOrder: Order }>(UPSERT_ORDER, { input: orderInput() }, admin),
      );
      expect(created.upsertOrder).toMatchObject({
        id: 'ord-1001',
        customerId: 'cust-7',
        status: 'PAID',
        currency: 'EUR',
        subtotalCents: 12_345,
        taxCents: 2_346,
        shippingCents: 499,
        totalCents: 12_345 + 2_346 + 499,
        refundedCents: 0,
      });
      expect(new Date(created.upsertOrder.placedAt).toISOString()).toBe('2024-05-01T12:00:00.000Z');

      // Orders carry no ACL: looking one up by id is for content managers; agents get FORBIDDEN (they see order
      // status through agentContext, limited to tickets they may read).
      expect(errorCode(await t.gql(ORDER, { id: 'ord-1001' }, agent))).toBe('FORBIDDEN');
      const read = expectOk(await t.gql<{ order: Order | null }>(ORDER, { id: 'ord-1001' }, admin)).order;
      expect(read).toMatchObject({ id: 'ord-1001', status: 'PAID', totalCents: 15_190 });
      expect(await orderRow('ord-1001')).toEqual({
        status: 'paid',
        currency: 'EUR',
        total_cents: '15190',
        refunded_cents: '0',
      });

      const shipped = expectOk(
        await t.gql<{ upsertOrder: Order }>(
          UPSERT_ORDER,
          { input: orderInput({ status: 'REFUNDED', refundedCents: 15_190 }) },
          admin,
        ),
      );
      expect(shipped.upsertOrder).toMatchObject({
        status: 'REFUNDED',
        refundedCents: 15_190,
        totalCents: 15_190,
      });
      const reread = expectOk(await t.gql<{ order: Order | null }>(ORDER, { id: 'ord-1001' }, admin)).order;
      expect(reread).toMatchObject({ status: 'REFUNDED', refundedCents: 15_190 });
      expect((await orderRow('ord-1001'))!.status).toBe('refunded');
      expect(await countRows('orders')).toBe(1);

      // Defaults: tax, shipping and refunded are 0 when left out.
      const minimal = expectOk(
        await t.gql<{ upsertOrder: Order }>(
          UPSERT_ORDER,
          {
            input: {
              id: 'ord-1002',
              customerId: 'cust-7',
              status: 'PENDING',
              currency: 'USD',
              subtotalCents: 500,
              placedAt: '2024-05-02T00:00:00Z',
            },
          },
          admin,
        ),
      );
      expect(minimal.upsertOrder).toMatchObject({
        taxCents: 0,
        shippingCents: 0,
        refundedCents: 0,
        totalCents: 500,
      });

      expect(
        expectOk(await t.gql<{ order: Order | null }>(ORDER, { id: 'no-such-order' }, admin)).order,
      ).toBeNull();
    });

    it.each([
      ['a lower-case currency', { currency: 'eur' }],
      ['a two-letter currency', { currency: 'EU' }],
      ['a four-letter currency', { currency: 'EURO' }],
      ['a negative subtotal', { subtotalCents: -1 }],
      ['a negative tax', { taxCents: -5 }],
      ['a negative shipping', { shippingCents: -100 }],
      ['a negative refund', { refundedCents: -1 }],
      ['refundedCents above the total', { refundedCents: 15_191 }],
      ['an id with spaces', { id: 'ord 1' }],
    ])('rejects %s with BAD_USER_INPUT and writes nothing', async (_label, override) => {
      // An existing order must keep its values.
      expectOk(await t.gql(UPSERT_ORDER, { input: orderInput() }, admin));
      const res = await t.gql(UPSERT_ORDER, { input: orderInput(override) }, admin);
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(await orderRow('ord-1001')).toEqual({
        status: 'paid',
        currency: 'EUR',
        total_cents: '15190',
        refunded_cents: '0',
      });
      expect(await countRows('orders')).toBe(1);
    });

    it('is FORBIDDEN for a non-admin; another merchant gets null for the same id', async () => {
      const res = await t.gql(UPSERT_ORDER, { input: orderInput() }, agent);
      expect(errorCode(res)).toBe('FORBIDDEN');
      expect(await countRows('orders')).toBe(0);

      expectOk(await t.gql(UPSERT_ORDER, { input: orderInput() }, admin));
      const other = await createTestMerchant(t);
      const outsider = { merchantId: other, userId: 'x1', roles: ['admin'] };
      const read = expectOk(await t.gql<{ order: Order | null }>(ORDER, { id: 'ord-1001' }, outsider));
      expect(read.order).toBeNull();
      expect(errorCode(await t.gql(ORDER, { id: 'ord-1001' }, { ...outsider, roles: ['agent'] }))).toBe(
        'FORBIDDEN',
      );
    });
  });

  // =============================================================================================================
  // 9. Cross-merchant isolation
  // =============================================================================================================

  describe('cross-merchant isolation', () => {
    it("merchant B can neither read nor modify merchant A's documents and tickets with the same ids", async () => {
      await ingestDocument({
        id: 'shared-doc',
        title: 'A only',
        text: sectioned(`${tag}-xm`, 2),
        acl: ['role:agent', 'role:admin'],
        metadata: { category: 'secret' },
      });
      await ingestTicket(ticketInput('shared-tk', { acl: ['role:agent', 'role:admin'] }));
      const docBefore = await documentRow('shared-doc');
      const tkBefore = await ticketRow('shared-tk');
      const docChunks = await chunkRows({ documentId: 'shared-doc' });
      const tkChunks = await chunkRows({ ticketId: 'shared-tk' });

      const b = await createTestMerchant(t);
      const bAdmin = { merchantId: b, userId: 'admin1', roles: ['admin'] };
      const bAgent = { merchantId: b, userId: 'agent1', roles: ['agent'] };

      for (const who of [bAdmin, bAgent]) {
        expect(await getDocument('shared-doc', who)).toBeNull();
        expect(await getTicket('shared-tk', who)).toBeNull();
        expect((await listDocuments({}, who)).nodes).toEqual([]);
        expect((await listDocuments({ filter: { category: 'secret' } }, who)).nodes).toEqual([]);
        expect((await listTickets({}, who)).nodes).toEqual([]);
        expect((await listTickets({ filter: { customerId: 'cust-1' } }, who)).nodes).toEqual([]);
        expect(await retrieve({ query: `Sentence 0 from ${tag}-xm-0`, k: 50 }, who)).toEqual([]);
      }

      expect(
        errorCode(await t.gql(UPDATE_DOCUMENT_ACL, { id: 'shared-doc', acl: ['role:admin'] }, bAdmin)),
      ).toBe('NOT_FOUND');
      expect(
        errorCode(await t.gql(UPDATE_DOCUMENT_METADATA, { id: 'shared-doc', metadata: { x: 1 } }, bAdmin)),
      ).toBe('NOT_FOUND');
      expect(
        errorCode(await t.gql(UPDATE_TICKET_ACL, { id: 'shared-tk', acl: ['role:admin'] }, bAdmin)),
      ).toBe('NOT_FOUND');
      expect(
        errorCode(await t.gql(UPDATE_TICKET_STATUS, { id: 'shared-tk', status: 'CLOSED' }, bAdmin)),
      ).toBe('NOT_FOUND');
      expect(
        expectOk(await t.gql<{ deleteDocument: boolean }>(DELETE_DOCUMENT, { id: 'shared-doc' }, bAdmin)),
      ).toEqual({ deleteDocument: false });
      expect(
        expectOk(await t.gql<{ deleteTicket: boolean }>(DELETE_TICKET, { id: 'shared-tk' }, bAdmin)),
      ).toEqual({
        deleteTicket: false,
      });

      // A is untouched.
      expect(await documentRow('shared-doc')).toEqual(docBefore);
      expect(await ticketRow('shared-tk')).toEqual(tkBefore);
      expect(await chunkRows({ documentId: 'shared-doc' })).toEqual(docChunks);
      expect(await chunkRows({ ticketId: 'shared-tk' })).toEqual(tkChunks);
      expect(await getDocument('shared-doc', agent)).toMatchObject({ id: 'shared-doc', title: 'A only' });
      // And B's own document with the same id is B's alone.
      await ingestDocument(
        { id: 'shared-doc', title: 'B only', text: `B body ${b}.`, acl: ['role:agent'] },
        bAdmin,
      );
      expect(await getDocument('shared-doc', bAgent)).toMatchObject({ title: 'B only' });
      expect(await getDocument('shared-doc', agent)).toMatchObject({ title: 'A only' });
      expect((await documentRow('shared-doc'))!.title).toBe('A only');
    });
  });

  // =============================================================================================================
  // 10. Source resolution on retrieved chunks, batched
  // =============================================================================================================

  describe('retrieveChunks source fields', () => {
    it('resolves document and ticket per chunk with ONE repository call per type per request', async () => {
      const topic = 'late deliveries and lost parcels';
      for (const i of [1, 2, 3, 4]) {
        await ingestDocument({
          id: `src-d${i}`,
          title: `Delivery guide ${i}`,
          text: sectioned(`${tag}-src-d${i}`, 2, topic),
          acl: ['role:agent'],
        });
      }
      for (const [i, status] of [
        [1, 'OPEN'],
        [2, 'PENDING'],
        [3, 'RESOLVED'],
      ] as const) {
        await ingestTicket({
          id: `src-t${i}`,
          customerId: `cust-${i}`,
          subject: `Lost parcel ${i}`,
          status,
          acl: ['role:agent'],
          messages: [{ author: 'CUSTOMER', body: sentences(`${tag}-src-t${i}`, 2, topic) }],
        });
      }

      const documentsSpy = jest.spyOn(t.services.documents, 'getMany');
      const ticketsSpy = jest.spyOn(t.services.tickets, 'getMany');
      const res = expectOk(
        await t.gql<RetrieveWithSourcesData>(
          RETRIEVE_WITH_SOURCES,
          { input: { query: topic, k: 10 } },
          agent,
        ),
      );
      const chunks = res.retrieveChunks.chunks;
      expect(chunks).toHaveLength(10);
      const docChunks = chunks.filter((c) => c.sourceType === 'DOCUMENT');
      const tkChunks = chunks.filter((c) => c.sourceType === 'TICKET');
      expect(new Set(docChunks.map((c) => c.documentId)).size).toBeGreaterThan(1);
      expect(tkChunks.length).toBeGreaterThan(0);

      expect(documentsSpy).toHaveBeenCalledTimes(1);
      expect(ticketsSpy).toHaveBeenCalledTimes(1);
      // The one call asked for exactly the distinct ids of the page.
      const askedDocs = [...documentsSpy.mock.calls[0][1]].sort();
      expect(askedDocs).toEqual([...new Set(docChunks.map((c) => c.documentId!))].sort());
      const askedTickets = [...ticketsSpy.mock.calls[0][1]].sort();
      expect(askedTickets).toEqual([...new Set(tkChunks.map((c) => c.ticketId!))].sort());

      const statuses: Record<string, string> = {
        'src-t1': 'OPEN',
        'src-t2': 'PENDING',
        'src-t3': 'RESOLVED',
      };
      for (const c of docChunks) {
        expect(c.document).toEqual({ id: c.documentId, title: `Delivery guide ${c.documentId!.slice(-1)}` });
        expect(c.ticket).toBeNull();
        expect(c.ticketId).toBeNull();
      }
      for (const c of tkChunks) {
        expect(c.ticket).toEqual({
          id: c.ticketId,
          subject: `Lost parcel ${c.ticketId!.slice(-1)}`,
          status: statuses[c.ticketId!],
        });
        expect(c.document).toBeNull();
        expect(c.documentId).toBeNull();
      }
    });
  });
});
