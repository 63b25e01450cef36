import zlib from 'node:zlib';
import jwt from 'jsonwebtoken';
import { rawRequest, type RawResponse } from './support/http';
import { TEST_JWT_SECRET } from './support/test-env';
import {
  ADA_ADMIN,
  ALICE,
  createTestMerchant,
  errorCode,
  GLOBEX_AGENT,
  type GraphQLResponse,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

/**
 * Hostile requests, tried on purpose, over real HTTP against a running gateway with its default limits. Every
 * request gets a stable error code (or an honest empty result), the gateway keeps answering, and nothing is
 * written: a fingerprint of every row of every table (xmin and ctid change on any insert, update or delete) is the
 * same before and after each group.
 */

const TABLES = ['merchants', 'corpus_versions', 'support_documents', 'tickets', 'orders', 'document_chunks'];

const RETRIEVE = `query Retrieve($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { chunks { id documentId ticketId } }
}`;
type RetrieveData = {
  retrieveChunks: { chunks: { id: string; documentId: string | null; ticketId: string | null }[] };
};

/** What a hostile string argument may come back with. */
const ACCEPTABLE = new Set([undefined, 'BAD_USER_INPUT']);

/** SQL, JSON-path and jsonb operators, tsquery syntax, LIKE wildcards, NUL bytes and Unicode tricks. */
const PAYLOADS: string[] = [
  "' OR '1'='1",
  "'; DROP TABLE document_chunks; --",
  '") OR 1=1 --',
  "m02' UNION SELECT id, merchant_id, content FROM document_chunks --",
  '$1',
  '\\',
  "\\'; SELECT pg_sleep(5); --",
  '%',
  '_',
  '$.**',
  '$[*] ? (@ like_regex ".*")',
  '{"$ne": null}',
  "category') OR ('1'='1",
  "->> 'merchant_id'",
  "@> '{}'",
  '::text',
  'refund & !widget | (',
  "'a' <-> 'b'",
  'refund:*A',
  '!!!',
  '&&& ||| ::: ',
  '"unterminated',
  '-(',
  'a\u0000b',
  '\ud800',
  '\u202egnirts desrever',
  'zero\u200bwidth',
  'ｄ７', // fullwidth homoglyph of d7
  'e\u0301\u0301\u0301\u0301',
  '🔥'.repeat(10),
  'x'.repeat(2000),
];

describe('hostile requests', () => {
  let t: TestGateway;
  let aliceReadableChunks: Set<string>;

  beforeAll(async () => {
    // Rate limits off here: this suite sends hundreds of requests as one caller (limits.e2e tests them).
    t = await startTestGateway({
      env: {
        RATE_LIMIT_CALLER_PER_MINUTE: '0',
        RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
        RATE_LIMIT_ANONYMOUS_PER_MINUTE: '0',
      },
    });
    const rows = await t.db.dataSource.query<{ id: string }[]>(
      `SELECT id::text AS id FROM document_chunks WHERE merchant_id = 'm01' AND acl && $1::text[]`,
      [['u1', 'role:agent']],
    );
    aliceReadableChunks = new Set(rows.map((r) => r.id));
    expect(aliceReadableChunks.size).toBeGreaterThan(0);
  });
  afterAll(async () => {
    await t.close();
  });

  /**
   * Row count and a hash of (xmin, ctid) of every row: changes with any write. Sorted by the strings themselves,
   * not by ctid: on Citus every shard has its own ctids, and ties between shards would come back in any order.
   */
  async function fingerprint(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const table of TABLES) {
      const [row] = await t.db.dataSource.query<{ n: string; h: string | null }[]>(
        `SELECT count(*)::text AS n, md5(string_agg(v, ',' ORDER BY v)) AS h
           FROM (SELECT xmin::text || ctid::text AS v FROM ${table}) r`,
      );
      out[table] = `${row.n}:${row.h ?? ''}`;
    }
    return out;
  }

  /** The gateway still answers a normal request correctly. */
  async function expectAlive(): Promise<void> {
    const res = await t.gql<{ document: { title: string } | null }>(
      'query { document(id: "d7") { title } }',
      {},
      ALICE,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ document: { title: 'Refund Policy' } });
    expect((await fetch(t.url.replace('/graphql', '/healthz'))).status).toBe(200);
  }

  /** Runs a group of hostile requests and checks the gateway is up and nothing was written. */
  async function hostile(run: () => Promise<void>): Promise<void> {
    const before = await fingerprint();
    await run();
    await expectAlive();
    expect(await fingerprint()).toEqual(before);
  }

  const post = (
    body: string | Uint8Array,
    extra: Parameters<typeof rawRequest>[1] = {},
  ): Promise<RawResponse> => rawRequest(t.url, { body, token: t.token(ALICE), ...extra });

  describe('credentials', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const claims = { sub: 'u1', merchant_id: 'm01', roles: ['agent'] };
    // The identity work adds issuer/audience checks and asymmetric keys: add wrong-issuer, wrong-audience and
    // wrong-key cases to this table; every entry must be refused with 401 UNAUTHENTICATED.
    const TOKENS: [string, () => string][] = [
      [
        'signed with another secret',
        () => jwt.sign(claims, 'another-secret-that-is-long-enough-0123456789', { expiresIn: 600 }),
      ],
      ['alg none', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, exp: now() + 600 })}.`],
      [
        'HS256 header, signature stripped',
        () => jwt.sign(claims, TEST_JWT_SECRET, { expiresIn: 600 }).replace(/\.[^.]+$/, '.'),
      ],
      [
        'claims changed after signing',
        () => tamper(jwt.sign(claims, TEST_JWT_SECRET, { expiresIn: 600 }), { merchant_id: 'm02' }),
      ],
      ['expired an hour ago', () => jwt.sign({ ...claims, exp: now() - 3600 }, TEST_JWT_SECRET)],
      ['no expiry', () => jwt.sign(claims, TEST_JWT_SECRET)],
      [
        'not yet valid',
        () => jwt.sign({ ...claims, nbf: now() + 3600 }, TEST_JWT_SECRET, { expiresIn: 7200 }),
      ],
      [
        'merchant id with SQL',
        () => jwt.sign({ ...claims, merchant_id: "m01' OR '1'='1" }, TEST_JWT_SECRET, { expiresIn: 600 }),
      ],
      [
        'sub posing as a role',
        () => jwt.sign({ ...claims, sub: 'role:admin' }, TEST_JWT_SECRET, { expiresIn: 600 }),
      ],
      [
        'roles not a list',
        () => jwt.sign({ ...claims, roles: 'admin' }, TEST_JWT_SECRET, { expiresIn: 600 }),
      ],
      [
        'role with a NUL byte',
        () => jwt.sign({ ...claims, roles: ['agent\u0000'] }, TEST_JWT_SECRET, { expiresIn: 600 }),
      ],
      ['no merchant', () => jwt.sign({ sub: 'u1', roles: ['agent'] }, TEST_JWT_SECRET, { expiresIn: 600 })],
      ['three garbage segments', () => 'aaaa.bbbb.cccc'],
      [
        'RS256 header on an HMAC token',
        () => `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ ...claims, exp: now() + 600 })}.c2ln`,
      ],
    ];

    it.each(TOKENS)('refuses a token %s with 401 UNAUTHENTICATED', async (_name, make) => {
      await hostile(async () => {
        const res = await rawRequest(t.url, {
          body: JSON.stringify({ query: 'query { document(id: "d7") { id title } }' }),
          headers: { authorization: `Bearer ${make()}` },
        });
        expect(res.status).toBe(401);
        expect(res.code).toBe('UNAUTHENTICATED');
        expect(res.json).not.toHaveProperty('data.document');
      });
    });

    it('refuses malformed Authorization headers; a 64 KB header gets 431 HEADERS_TOO_LARGE', async () => {
      await hostile(async () => {
        for (const header of [
          'Basic dTE6cGFzcw==',
          'Bearer',
          'Bearer a b',
          'Bearer <script>',
          'bearer\ttoken\u00e9',
        ]) {
          const res = await rawRequest(t.url, {
            body: JSON.stringify({ query: '{ __typename }' }),
            headers: { authorization: header },
          }).catch(() => undefined); // fetch itself refuses some header values
          if (res) {
            expect(res.status).toBe(401);
            expect(res.code).toBe('UNAUTHENTICATED');
          }
        }
        const huge = await rawRequest(t.url, {
          body: JSON.stringify({ query: '{ __typename }' }),
          headers: { authorization: `Bearer ${'a'.repeat(64 * 1024)}` },
        });
        expect(huge.status).toBe(431);
        expect(huge.code).toBe('HEADERS_TOO_LARGE');
      });
    });
  });

  describe("one merchant's token with another merchant's ids", () => {
    // m02 (Globex) has g2, t2, G-1001 and customer c900; m01 (Acme) has none of them. Both have a d7 and a t1.
    it('reads return null or nothing, never the other merchant’s rows', async () => {
      await hostile(async () => {
        const res = await t.gql(
          `query { g2: document(id: "g2") { id } t2: ticket(id: "t2") { id } o: order(id: "G-1001") { id }
             d7: document(id: "d7") { title } t1: ticket(id: "t1") { customerId }
             tickets(filter: { customerId: "c900" }) { nodes { id } } }`,
          {},
          ADA_ADMIN, // orders take an ingest role; an admin also sees every document and ticket of m01
        );
        expect(res.errors).toBeUndefined();
        expect(res.data).toEqual({
          g2: null,
          t2: null,
          o: null,
          d7: { title: 'Refund Policy' }, // Acme's own d7, not Globex's
          t1: { customerId: 'u42' },
          tickets: { nodes: [] },
        });
        const globex = await t.gql<{ document: { title: string } }>(
          'query { document(id: "d7") { title } }',
          {},
          GLOBEX_AGENT,
        );
        expect(globex.data?.document.title).not.toBe('Refund Policy');
      });
    });

    it('retrieval filters and agentContext with Globex ids return only Acme’s readable chunks', async () => {
      await hostile(async () => {
        for (const filter of [
          { documentIds: ['g2'] },
          { ticketIds: ['t2'] },
          { customerId: 'c900' },
          { metadata: { category: 'warranty' } },
          { category: 'warranty' },
          { documentIds: ['g2', 'd7'], sourceType: 'DOCUMENT' },
        ]) {
          const res = await t.gql<RetrieveData>(
            RETRIEVE,
            { input: { query: 'warranty refund tent', k: 50, filter } },
            ALICE,
          );
          expect(res.errors).toBeUndefined();
          for (const c of res.data!.retrieveChunks.chunks) expect(aliceReadableChunks).toContain(c.id);
          expect(
            res.data!.retrieveChunks.chunks.every((c) => c.documentId !== 'g2' && c.ticketId !== 't2'),
          ).toBe(true);
        }
        const ctx = await t.gql<{
          agentContext: { tickets: unknown[]; orders: unknown[]; policies: { id: string }[] };
        }>(
          `query { agentContext(input: { customerId: "c900", question: "refund for my tent", k: 50, ticketLimit: 50 }) {
             tickets { id } orders { id } policies { id } } }`,
          {},
          ALICE,
        );
        expect(ctx.errors).toBeUndefined();
        expect(ctx.data!.agentContext.tickets).toEqual([]);
        expect(ctx.data!.agentContext.orders).toEqual([]);
        for (const p of ctx.data!.agentContext.policies) expect(aliceReadableChunks).toContain(p.id);
      });
    });

    it('writes to another merchant’s ids are NOT_FOUND (or false), and a merchant cannot be named in arguments', async () => {
      await hostile(async () => {
        const as = ADA_ADMIN; // m01's admin
        for (const [mutation, expected] of [
          ['mutation { updateDocumentAcl(id: "g2", acl: ["role:agent"]) { id } }', 'NOT_FOUND'],
          ['mutation { updateDocumentMetadata(id: "g2", metadata: { x: 1 }) { id } }', 'NOT_FOUND'],
          ['mutation { updateTicketStatus(id: "t2", status: CLOSED) { id } }', 'NOT_FOUND'],
          ['mutation { updateTicketAcl(id: "t2", acl: []) { id } }', 'NOT_FOUND'],
          ['mutation { updateTicketMetadata(id: "t2", metadata: {}) { id } }', 'NOT_FOUND'],
        ] as const) {
          expect(errorCode(await t.gql(mutation, {}, as))).toBe(expected);
        }
        expect((await t.gql('mutation { deleteDocument(id: "g2") }', {}, as)).data).toEqual({
          deleteDocument: false,
        });
        expect((await t.gql('mutation { deleteTicket(id: "t2") }', {}, as)).data).toEqual({
          deleteTicket: false,
        });
        const named = await t.gql(RETRIEVE, { input: { query: 'refund', merchantId: 'm02' } }, ALICE);
        expect(errorCode(named)).toBe('BAD_USER_INPUT'); // unknown input field: variable coercion refuses it
        const inline = await t.gql('query { documents(merchantId: "m02") { nodes { id } } }', {}, ALICE);
        expect(errorCode(inline)).toBe('GRAPHQL_VALIDATION_FAILED');
      });
    });
  });

  describe('deep, wide and aliased operations (default limits)', () => {
    it.each([
      ['nesting too deep to parse', `{${'a{'.repeat(6500)}b${'}'.repeat(6501)}`, 'QUERY_TOO_DEEP'],
      [
        '31 aliases',
        `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: document(id: "d7") { id }`).join(' ')} }`,
        'TOO_MANY_ALIASES',
      ],
      [
        'a fragment bomb',
        `{ document(id: "d7") { ...F0 } } ${Array.from({ length: 30 }, (_, i) => `fragment F${i} on SupportDocument { ...F${i + 1} ...F${i + 1} }`).join(' ')} fragment F30 on SupportDocument { x: id }`,
        'TOO_MANY_ALIASES',
      ],
      [
        'a fragment cycle',
        '{ document(id: "d7") { ...A } } fragment A on SupportDocument { ...B } fragment B on SupportDocument { ...A }',
        'GRAPHQL_VALIDATION_FAILED',
      ],
      [
        '7 retrievals of 50',
        `{ ${Array.from({ length: 7 }, (_, i) => `r${i}: retrieveChunks(input: { query: "refund", k: 50 }) { chunks { id document { id } ticket { id } } }`).join(' ')} }`,
        'QUERY_TOO_COMPLEX',
      ],
      ['6,000 repeated fields', `{ document(id: "d7") { ${'id '.repeat(6000)} } }`, 'TOO_MANY_SELECTIONS'],
      [
        'a 30,000-character operation',
        `{ document(id: "d7") { id } } ${'#'.repeat(30_000)}`,
        'QUERY_TOO_LARGE',
      ],
      [
        'introspection nested in a fragment',
        '{ ...Q } fragment Q on Query { __schema { types { name } } }',
        undefined,
      ],
    ])('%s', async (_name, query, code) => {
      await hostile(async () => {
        const started = performance.now();
        const res = await t.gql(query, {}, ALICE);
        expect(errorCode(res)).toBe(code);
        expect(performance.now() - started).toBeLessThan(5000);
      });
    });
  });

  describe('huge lists', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`);
    it.each([
      ['101 document ids', { query: 'refund', filter: { documentIds: ids(101) } }, 'BAD_USER_INPUT'],
      ['50,000 ticket ids', { query: 'refund', filter: { ticketIds: ids(50_000) } }, 'BAD_USER_INPUT'],
      [
        'a 1,537-dimension embedding',
        { query: '', mode: 'VECTOR', embedding: Array(1537).fill(0.1) },
        'BAD_USER_INPUT',
      ],
      [
        'a 100,000-dimension embedding',
        { query: '', mode: 'VECTOR', embedding: Array(100_000).fill(0.1) },
        'BAD_USER_INPUT',
      ],
      [
        'a 100,000-dimension embeddingBase64',
        {
          query: '',
          mode: 'VECTOR',
          embeddingBase64: Buffer.alloc(400_000, 1).toString('base64'),
        },
        'BAD_USER_INPUT',
      ],
      [
        'an embeddingBase64 with characters outside base64 (decoders skip them)',
        {
          query: '',
          mode: 'VECTOR',
          embeddingBase64: `${Buffer.from(new Float32Array(1536).fill(0.1).buffer).toString('base64')}!!!!`,
        },
        'BAD_USER_INPUT',
      ],
      [
        'an embedding of NaN-like huge values',
        { query: '', mode: 'VECTOR', embedding: Array(1536).fill(1e39) },
        'BAD_USER_INPUT',
      ],
      [
        '10,000 ticket statuses',
        { query: 'refund', filter: { ticketStatus: Array(10_000).fill('OPEN') } },
        undefined,
      ],
      [
        'metadata filter with 5,000 keys',
        { query: 'refund', filter: { metadata: Object.fromEntries(ids(5000).map((k) => [k, k])) } },
        'BAD_USER_INPUT',
      ],
      [
        'metadata filter 50 levels deep',
        { query: 'refund', filter: { metadata: nest(50) } },
        'BAD_USER_INPUT',
      ],
      ['k of a million', { query: 'refund', k: 1_000_000 }, 'BAD_USER_INPUT'],
      ['k of zero', { query: 'refund', k: 0 }, 'BAD_USER_INPUT'],
    ])('%s', async (_name, input, code) => {
      await hostile(async () => {
        const res = await t.gql(RETRIEVE, { input }, ALICE);
        expect(errorCode(res)).toBe(code);
        expect(JSON.stringify(res).length).toBeLessThan(20_000); // the submitted list is not echoed back
      });
    });

    it('ACL lists of 10,000 entries and batches of 101 documents are refused', async () => {
      await hostile(async () => {
        const acl = Array.from({ length: 10_000 }, (_, i) => `u${i}`);
        expect(
          errorCode(
            await t.gql(
              'mutation($acl: [String!]!) { updateDocumentAcl(id: "d7", acl: $acl) { id } }',
              { acl },
              ADA_ADMIN,
            ),
          ),
        ).toBe('BAD_USER_INPUT');
        const inputs = Array.from({ length: 101 }, (_, i) => ({
          id: `x${i}`,
          title: 't',
          text: 'text',
          acl: [],
        }));
        const res = await t.gql(
          'mutation($inputs: [IngestDocumentInput!]!) { ingestDocuments(inputs: $inputs) { results { unchanged } } }',
          { inputs },
          ADA_ADMIN,
        );
        expect(errorCode(res)).toBe('BAD_USER_INPUT');
      });
    });
  });

  describe('injection in every string argument and every metadata filter key and value', () => {
    /** Each reading argument, as a function from a payload to an operation and its variables. */
    const READS: [string, (p: string) => [string, Record<string, unknown>]][] = [
      ['retrieveChunks.query', (p) => [RETRIEVE, { input: { query: p, k: 50 } }]],
      ['retrieveChunks.query (KEYWORD)', (p) => [RETRIEVE, { input: { query: p, k: 50, mode: 'KEYWORD' } }]],
      ['filter.category', (p) => [RETRIEVE, { input: { query: 'refund', k: 50, filter: { category: p } } }]],
      [
        'filter.customerId',
        (p) => [RETRIEVE, { input: { query: 'refund', k: 50, filter: { customerId: p } } }],
      ],
      [
        'filter.documentIds',
        (p) => [RETRIEVE, { input: { query: 'refund', k: 50, filter: { documentIds: [p] } } }],
      ],
      [
        'filter.ticketIds',
        (p) => [RETRIEVE, { input: { query: 'refund', k: 50, filter: { ticketIds: [p] } } }],
      ],
      [
        'filter.metadata key',
        (p) => [RETRIEVE, { input: { query: 'refund', k: 50, filter: { metadata: { [p]: 'refund' } } } }],
      ],
      [
        'filter.metadata value',
        (p) => [RETRIEVE, { input: { query: 'refund', k: 50, filter: { metadata: { category: p } } } }],
      ],
      [
        'filter.metadata nested key',
        (p) => [
          RETRIEVE,
          {
            input: { query: 'refund', k: 50, filter: { metadata: { orders: [p], [`${p}`]: { [p]: [p] } } } },
          },
        ],
      ],
      ['document(id)', (p) => ['query($id: ID!) { document(id: $id) { id } }', { id: p }]],
      ['ticket(id)', (p) => ['query($id: ID!) { ticket(id: $id) { id } }', { id: p }]],
      ['order(id) (as admin)', (p) => ['query($id: ID!) { order(id: $id) { id } }', { id: p }]],
      ['documents(after)', (p) => ['query($a: String) { documents(after: $a) { nodes { id } } }', { a: p }]],
      [
        'documents(filter.category)',
        (p) => ['query($c: String) { documents(filter: { category: $c }) { nodes { id } } }', { c: p }],
      ],
      ['tickets(after)', (p) => ['query($a: String) { tickets(after: $a) { nodes { id } } }', { a: p }]],
      [
        'tickets(filter.customerId)',
        (p) => ['query($c: ID) { tickets(filter: { customerId: $c }) { nodes { id } } }', { c: p }],
      ],
      [
        'agentContext.customerId',
        (p) => [
          'query($c: ID!) { agentContext(input: { customerId: $c, question: "refund" }) { tickets { id } orders { id } } }',
          { c: p },
        ],
      ],
      [
        'agentContext.question',
        (p) => [
          'query($q: String!) { agentContext(input: { customerId: "u42", question: $q }) { policies { id } } }',
          { q: p },
        ],
      ],
    ];

    it.each(READS)('%s: an error code or an honest result, within the caller’s rows', async (_arg, build) => {
      await hostile(async () => {
        for (const payload of PAYLOADS) {
          const [query, variables] = build(payload);
          const res: GraphQLResponse = await t.gql(
            query,
            variables,
            _arg.includes('as admin') ? ADA_ADMIN : ALICE,
          );
          if (!ACCEPTABLE.has(errorCode(res)))
            throw new Error(`${JSON.stringify(payload)}: ${JSON.stringify(res.errors)}`);
          const text = JSON.stringify(res);
          expect(text).not.toMatch(/syntax error|SELECT|relation |column |stack|node_modules/i);
          const chunks = (res.data as Partial<RetrieveData> | null | undefined)?.retrieveChunks?.chunks ?? [];
          for (const c of chunks) expect(aliceReadableChunks).toContain(c.id);
          // Wildcards and operators are data: a category or metadata value made of them matches nothing.
          if (/filter\.(category|metadata)/.test(_arg) && errorCode(res) === undefined)
            expect(chunks).toEqual([]);
        }
      });
    });

    it('written strings are stored verbatim or refused; ids and ACL entries with payloads are refused', async () => {
      const merchant = await createTestMerchant(t, 'hostile');
      const admin: TestIdentity = { merchantId: merchant, userId: 'root', roles: ['admin'] };
      const others = await merchantFingerprint(['m01', 'm02']);
      const INGEST = `mutation($input: IngestDocumentInput!) { ingestDocument(input: $input) { document { id title metadata } } }`;
      let stored = 0;
      for (const [i, payload] of PAYLOADS.entries()) {
        const res = await t.gql<{
          ingestDocument: { document: { id: string; title: string; metadata: Record<string, unknown> } };
        }>(
          INGEST,
          {
            input: {
              id: `doc-${i}`,
              title: payload,
              text: `${payload} body`,
              acl: ['role:agent'],
              metadata: { [payload]: payload },
            },
          },
          admin,
        );
        if (errorCode(res) === undefined) {
          stored++;
          expect(res.data!.ingestDocument.document).toEqual({
            id: `doc-${i}`,
            title: payload.trim(), // titles are trimmed; nothing else changes
            metadata: { [payload]: payload },
          });
        } else {
          expect(errorCode(res)).toBe('BAD_USER_INPUT'); // NUL bytes, lone surrogates, blank text
        }
        const badId = await t.gql(INGEST, { input: { id: payload, title: 't', text: 'x', acl: [] } }, admin);
        const badAcl = await t.gql(
          INGEST,
          { input: { id: 'acl-doc', title: 't', text: 'x', acl: [payload] } },
          admin,
        );
        expect([errorCode(badId), errorCode(badAcl)]).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
      }
      expect(stored).toBeGreaterThan(PAYLOADS.length - 5);
      const [{ n }] = await t.db.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM support_documents WHERE merchant_id = $1',
        [merchant],
      );
      expect(n).toBe(stored);
      expect(await merchantFingerprint(['m01', 'm02'])).toEqual(others);
      await expectAlive();
    });

    async function merchantFingerprint(merchants: string[]): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      for (const table of TABLES.filter((x) => x !== 'merchants' && x !== 'corpus_versions')) {
        const [row] = await t.db.dataSource.query<{ h: string | null }[]>(
          `SELECT md5(string_agg(v, ',' ORDER BY v)) AS h
             FROM (SELECT xmin::text || ctid::text AS v FROM ${table} WHERE merchant_id = ANY($1)) r`,
          [merchants],
        );
        out[table] = row.h ?? '';
      }
      return out;
    }
  });

  describe('malformed HTTP requests', () => {
    it.each([
      ['truncated JSON', '{"query": "{ __typename }"', 400, 'BAD_REQUEST'],
      ['a JSON string', '"{ __typename }"', 400, 'BAD_REQUEST'],
      ['a JSON number', '42', 400, 'BAD_REQUEST'],
      ['JSON null', 'null', 400, 'BAD_REQUEST'],
      ['an empty body', '', 400, 'BAD_REQUEST'],
      ['an empty object', '{}', 400, 'BAD_REQUEST'],
      ['query as a number', '{"query": 5}', 400, 'BAD_REQUEST'],
      ['variables as a string', '{"query": "{ __typename }", "variables": "x"}', 400, 'BAD_REQUEST'],
      ['variables as an array', '{"query": "{ __typename }", "variables": [1]}', 400, 'BAD_REQUEST'],
      ['operationName as an object', '{"query": "{ __typename }", "operationName": {}}', 400, 'BAD_REQUEST'],
      [
        'an unknown operationName',
        '{"query": "query A { __typename }", "operationName": "B"}',
        400,
        'OPERATION_RESOLUTION_FAILURE',
      ],
      [
        'two operations, no name',
        '{"query": "query A { __typename } query B { __typename }"}',
        400,
        'OPERATION_RESOLUTION_FAILURE',
      ],
      ['a syntax error', '{"query": "{ document(id: "}', 400, 'GRAPHQL_PARSE_FAILED'],
      [
        'JSON nested 100,000 deep in an unused variable (parsed, then ignored)',
        `{"query": "{ __typename }", "variables": {"a": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
        200,
        undefined,
      ],
      [
        'a batch of 1,000 (batching off)',
        JSON.stringify(Array(1000).fill({ query: '{ __typename }' })),
        400,
        'BATCH_NOT_ALLOWED',
      ],
      ['an empty batch', '[]', 400, 'BATCH_NOT_ALLOWED'],
      [
        'a persisted-query hash that does not match',
        JSON.stringify({
          query: '{ __typename }',
          extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } },
        }),
        400,
        'BAD_REQUEST',
      ],
    ])('%s', async (_name, body, status, code) => {
      await hostile(async () => {
        const res = await post(body);
        expect([res.status, res.code]).toEqual([status, code]);
        expect(res.text).not.toMatch(/at \w+ \(|node_modules|<html/i);
      });
    });

    it.each([
      ['text/plain', 415],
      ['application/graphql', 415],
      ['application/xml', 415],
      ['application/x-www-form-urlencoded', 415],
      ['multipart/form-data; boundary=abc', 415],
      ['application/json; charset=latin1', 415],
    ])('Content-Type %s is refused', async (type, status) => {
      await hostile(async () => {
        const res = await post(JSON.stringify({ query: '{ __typename }' }), { contentType: type });
        expect([res.status, res.code]).toEqual([status, 'UNSUPPORTED_MEDIA_TYPE']);
      });
    });

    it('oversized bodies get 413 PAYLOAD_TOO_LARGE, compressed or not; unknown encodings 415', async () => {
      await hostile(async () => {
        const big = JSON.stringify({
          query: '{ __typename }',
          variables: { pad: 'x'.repeat(3 * 1024 * 1024) },
        });
        expect((await post(big)).code).toBe('PAYLOAD_TOO_LARGE');
        const bomb = zlib.gzipSync(Buffer.from(big)); // ~3 KB on the wire, 3 MB inflated
        expect(bomb.length).toBeLessThan(20_000);
        const inflated = await post(bomb, { headers: { 'content-encoding': 'gzip' } });
        expect([inflated.status, inflated.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
        const unknown = await post(zlib.brotliCompressSync(Buffer.from('{"query":"{ __typename }"}')), {
          headers: { 'content-encoding': 'x-unknown' },
        });
        expect([unknown.status, unknown.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
        const ok = await post(
          zlib.gzipSync(Buffer.from(JSON.stringify({ query: 'query { document(id: "d7") { id } }' }))),
          { headers: { 'content-encoding': 'gzip' } },
        );
        expect(ok.json).toEqual({ data: { document: { id: 'd7' } } });
      });
    });

    it('malformed compressed bodies get 400 BAD_REQUEST, never a 500', async () => {
      await hostile(async () => {
        const json = Buffer.from(JSON.stringify({ query: '{ __typename }' }));
        const gz = zlib.gzipSync(json);
        const cases: [string, Buffer][] = [
          ['gzip', Buffer.from('not gzip at all, just text')],
          ['deflate', Buffer.from('not deflate either')],
          ['br', Buffer.from('definitely not brotli \x00\xff')],
          ['gzip', gz.subarray(0, gz.length - 12)], // truncated
          ['gzip', Buffer.concat([gz.subarray(0, 20), Buffer.alloc(20, 0xff)])], // corrupted
          ['deflate', zlib.deflateSync(json).subarray(0, 6)],
        ];
        for (const [encoding, body] of cases) {
          const res = await post(body, { headers: { 'content-encoding': encoding } });
          expect({ encoding, status: res.status, code: res.code }).toEqual({
            encoding,
            status: 400,
            code: 'BAD_REQUEST',
          });
          expect(res.text).not.toMatch(/at \w+ \(|node_modules|zlib|Z_/i);
        }
      });
    });

    it('other methods and GET misuse get a code', async () => {
      await hostile(async () => {
        const put = await post(JSON.stringify({ query: '{ __typename }' }), { method: 'PUT' });
        expect([put.status, put.code]).toEqual([405, 'BAD_REQUEST']);
        const mutation = await rawRequest(
          `${t.url}?query=${encodeURIComponent('mutation { deleteDocument(id: "d7") }')}`,
          {
            method: 'GET',
            token: t.token(ADA_ADMIN),
            headers: { 'apollo-require-preflight': 'true' },
          },
        );
        expect([mutation.status, mutation.code]).toEqual([405, 'BAD_REQUEST']);
        const badVariables = await rawRequest(
          `${t.url}?query=${encodeURIComponent('{ __typename }')}&variables=%7Bnot-json`,
          {
            method: 'GET',
            token: t.token(ALICE),
            headers: { 'apollo-require-preflight': 'true' },
          },
        );
        expect([badVariables.status, badVariables.code]).toEqual([400, 'BAD_REQUEST']);
      });
    });
  });
});

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function tamper(token: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.');
  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  return [header, b64({ ...decoded, ...claims }), signature].join('.');
}

function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 'x' };
  for (let i = 0; i < levels; i++) value = { n: value };
  return value;
}
