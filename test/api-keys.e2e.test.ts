import fs from 'node:fs';
import path from 'node:path';
import {
  ADA_ADMIN,
  ALICE,
  BOB,
  errorCode,
  GLOBEX_AGENT,
  type GraphQLResponse,
  startTestGateway,
  type TestGateway,
} from './support/test-gateway';

const manifestJson = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../generated/client/persisted-documents.json'), 'utf8'),
) as Record<string, string>;
const RETRIEVE_ID = Object.keys(manifestJson).find((k) =>
  manifestJson[k].startsWith('query RetrieveChunks'),
)!;
const INGEST_ID = Object.keys(manifestJson).find((k) =>
  manifestJson[k].startsWith('mutation IngestDocument'),
)!;

const CREATE = `mutation Create($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { key apiKey { id name principals scopes createdBy expiresAt revokedAt lastUsedAt } }
}`;
const LIST = `query Keys($all: Boolean) { apiKeys(includeRevoked: $all) { id name revokedAt lastUsedAt } }`;
const REVOKE = `mutation Revoke($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;

interface Created {
  createApiKey: {
    key: string;
    apiKey: { id: string; principals: string[]; scopes: string[]; createdBy: string };
  };
}
type Retrieved = { retrieveChunks: { chunks: { documentId: string | null; ticketId: string | null }[] } };

describe('partner API keys', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A partner request: the key in x-api-key and whatever body the test chooses. */
  async function partner<T = Record<string, unknown>>(
    key: string,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<GraphQLResponse<T>> {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, ...((await res.json()) as Omit<GraphQLResponse<T>, 'status'>) };
  }
  const byId = (id: string, variables: Record<string, unknown>) => ({
    variables,
    extensions: { persistedQuery: { version: 1, sha256Hash: id.replace(/^sha256:/, '') } },
  });

  async function createKey(input: Record<string, unknown>, as = ADA_ADMIN) {
    const res = await t.gql<Created>(CREATE, { input: { name: 'Partner', ...input } }, as);
    expect(res.errors).toBeUndefined();
    return res.data!.createApiKey;
  }

  it('an admin creates a key shown once and stored hashed; the partner reads with its principals only', async () => {
    const created = await createKey({ principals: ['role:contractor'], scopes: ['RETRIEVE'] });
    expect(created.key).toMatch(/^srg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created.apiKey).toMatchObject({
      principals: ['role:contractor'],
      scopes: ['RETRIEVE'],
      createdBy: 'u0',
    });
    const secret = created.key.split('_').slice(2).join('_');
    const stored = await t.db.dataSource.query<{ row: string }[]>(
      `SELECT api_keys::text AS row FROM api_keys WHERE id = $1`,
      [created.apiKey.id],
    );
    expect(stored[0].row).not.toContain(secret);
    const listed = await t.gql<{ apiKeys: Record<string, unknown>[] }>(LIST, {}, ADA_ADMIN);
    expect(JSON.stringify(listed.data)).not.toContain(secret);
    expect(listed.data!.apiKeys.map((k) => k.id)).toContain(created.apiKey.id);

    const res = await partner<Retrieved>(
      created.key,
      byId(RETRIEVE_ID, { input: { query: 'refund policy', k: 20 } }),
    );
    expect(res.errors).toBeUndefined();
    const sources = res.data!.retrieveChunks.chunks.map((c) => c.documentId ?? `ticket:${c.ticketId}`);
    expect(sources.length).toBeGreaterThan(0);
    // The contractor role reads the refund content only (see README's demo identities): as Bob does.
    const bob = await t.gql<Retrieved>(
      manifestJson[RETRIEVE_ID],
      { input: { query: 'refund policy', k: 20 } },
      BOB,
    );
    expect(new Set(sources)).toEqual(
      new Set(bob.data!.retrieveChunks.chunks.map((c) => c.documentId ?? `ticket:${c.ticketId}`)),
    );
    // `documentId` (GraphQL Code Generator's form) works as well.
    const byDocumentId = await partner<Retrieved>(created.key, {
      documentId: RETRIEVE_ID,
      variables: { input: { query: 'refund policy', k: 3 } },
    });
    expect(byDocumentId.errors).toBeUndefined();
  });

  it('a partner may run only manifest operations, by id', async () => {
    const { key } = await createKey({ principals: ['role:agent'], scopes: ['RETRIEVE', 'INGEST'] });
    const text = manifestJson[RETRIEVE_ID];
    const variables = { input: { query: 'refund', k: 2 } };
    const attempts: Record<string, unknown>[] = [
      { query: text, variables }, // the manifest's own text, but not by id
      { query: '{ documents { nodes { id title } } }' },
      { query: '{ apiKeys { id } }' },
      byId('0'.repeat(64), variables),
      { documentId: 'sha256:' + 'f'.repeat(64), variables },
      { ...byId(RETRIEVE_ID, variables), query: '{ documents { nodes { id } } }' },
    ];
    for (const body of attempts) {
      const res = await partner(key, body);
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('OPERATION_NOT_ALLOWED');
      expect(res.data).toBeUndefined();
    }
    // A batch is refused too: by the request guards when batching is off (the default), else by the safelist.
    const batch = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify([byId(RETRIEVE_ID, variables)]),
    });
    const refusal = (await batch.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect([400, 403]).toContain(batch.status);
    expect(['BATCH_NOT_ALLOWED', 'OPERATION_NOT_ALLOWED']).toContain(refusal.errors?.[0]?.extensions?.code);
  });

  it('scopes: a RETRIEVE key cannot ingest; an INGEST key can, through the manifest mutation', async () => {
    const input = {
      id: 'partner-doc-1',
      title: 'From a partner',
      text: 'Partner text about refunds.',
      acl: ['role:agent'],
    };
    const readOnly = await createKey({ principals: ['role:agent'], scopes: ['RETRIEVE'] });
    const refused = await partner(readOnly.key, byId(INGEST_ID, { input }));
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(
      (await t.gql<{ document: unknown }>(`{ document(id: "partner-doc-1") { id } }`, {}, ALICE)).data!
        .document,
    ).toBeNull();

    const writer = await createKey({ principals: ['role:agent'], scopes: ['INGEST'] });
    const written = await partner<{ ingestDocument: { document: { id: string } } }>(
      writer.key,
      byId(INGEST_ID, { input }),
    );
    expect(written.errors).toBeUndefined();
    expect(written.data!.ingestDocument.document.id).toBe('partner-doc-1');
    // Even with both scopes a key gets no query plans (they describe our indexes, for admins only).
    const both = await createKey({ principals: ['role:agent'], scopes: ['RETRIEVE', 'INGEST'] });
    const explain = await partner(both.key, byId(RETRIEVE_ID, { input: { query: 'refund', explain: true } }));
    expect(errorCode(explain)).toBe('FORBIDDEN');
    // Without RETRIEVE it cannot query.
    const noRead = await partner(writer.key, byId(RETRIEVE_ID, { input: { query: 'refund' } }));
    expect(errorCode(noRead)).toBe('FORBIDDEN');
    await t.gql(`mutation { deleteDocument(id: "partner-doc-1") }`, {}, ADA_ADMIN);
  });

  it('only admins of the merchant manage keys; others see NOT_FOUND for foreign keys', async () => {
    const input = { name: 'x', principals: ['role:agent'], scopes: ['RETRIEVE'] };
    expect(errorCode(await t.gql(CREATE, { input }, ALICE))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(LIST, {}, BOB))).toBe('FORBIDDEN');
    const acme = await createKey({ principals: ['role:agent'], scopes: ['RETRIEVE'] });
    const globexAdmin = { ...GLOBEX_AGENT, roles: ['admin'] };
    expect(errorCode(await t.gql(REVOKE, { id: acme.apiKey.id }, globexAdmin))).toBe('NOT_FOUND');
    const globexKeys = await t.gql<{ apiKeys: { id: string }[] }>(LIST, {}, globexAdmin);
    expect(globexKeys.data!.apiKeys.map((k) => k.id)).not.toContain(acme.apiKey.id);
    // The key still works: the foreign revoke wrote nothing.
    expect(
      (await partner(acme.key, byId(RETRIEVE_ID, { input: { query: 'refund' } }))).errors,
    ).toBeUndefined();
  });

  it('bad input writes nothing', async () => {
    const before = await t.db.dataSource.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM api_keys`);
    const bad: Record<string, unknown>[] = [
      { principals: [], scopes: ['RETRIEVE'] },
      { principals: ['role:agent'], scopes: [] },
      { principals: ["x' OR 1=1 --"], scopes: ['RETRIEVE'] },
      { principals: ['role:agent'], scopes: ['RETRIEVE'], expiresAt: '2000-01-01T00:00:00Z' },
      { name: ' ', principals: ['role:agent'], scopes: ['RETRIEVE'] },
    ];
    for (const input of bad) {
      expect(errorCode(await t.gql(CREATE, { input: { name: 'Partner', ...input } }, ADA_ADMIN))).toBe(
        'BAD_USER_INPUT',
      );
    }
    expect(
      errorCode(
        await t.gql(CREATE, { input: { name: 'x', principals: ['a'], scopes: ['ADMIN'] } }, ADA_ADMIN),
      ),
    ).toBe('BAD_USER_INPUT');
    const after = await t.db.dataSource.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM api_keys`);
    expect(after[0].n).toBe(before[0].n);
  });

  it('revoked, expired, malformed and unknown keys are UNAUTHENTICATED; a key and a token together too', async () => {
    const { key, apiKey } = await createKey({ principals: ['role:agent'], scopes: ['RETRIEVE'] });
    const call = (k: string, headers: Record<string, string> = {}) =>
      partner(k, byId(RETRIEVE_ID, { input: { query: 'refund' } }), headers);
    expect((await call(key)).errors).toBeUndefined();
    const both = await call(key, { authorization: `Bearer ${t.token(ALICE)}` });
    expect([both.status, errorCode(both)]).toEqual([401, 'UNAUTHENTICATED']);

    const revoked = await t.gql<{ revokeApiKey: { revokedAt: string } }>(
      REVOKE,
      { id: apiKey.id },
      ADA_ADMIN,
    );
    expect(revoked.data!.revokeApiKey.revokedAt).toBeTruthy();
    const afterRevoke = await call(key);
    expect([afterRevoke.status, errorCode(afterRevoke)]).toEqual([401, 'UNAUTHENTICATED']);
    expect(afterRevoke.errors![0].message).toContain('revoked');

    const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const unknown = `srg_${'0'.repeat(16)}_${'A'.repeat(43)}`;
    for (const k of [tampered, unknown, 'srg_nonsense', "'; DROP TABLE api_keys; --"]) {
      const res = await call(k);
      expect([res.status, errorCode(res)]).toEqual([401, 'UNAUTHENTICATED']);
    }

    const soon = await createKey({
      principals: ['role:agent'],
      scopes: ['RETRIEVE'],
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await call(soon.key)).errors).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1600));
    const expired = await call(soon.key);
    expect(errorCode(expired)).toBe('UNAUTHENTICATED');
    expect(expired.errors![0].message).toContain('expired');
  });

  it('records last use at most once per interval', async () => {
    const { key, apiKey } = await createKey({ principals: ['role:agent'], scopes: ['RETRIEVE'] });
    const lastUsed = async () =>
      (
        await t.db.dataSource.query<{ last_used_at: Date | null }[]>(
          `SELECT last_used_at FROM api_keys WHERE id = $1`,
          [apiKey.id],
        )
      )[0].last_used_at;
    expect(await lastUsed()).toBeNull();
    await partner(key, byId(RETRIEVE_ID, { input: { query: 'refund' } }));
    let first: Date | null = null;
    for (let i = 0; i < 50 && first === null; i++) {
      first = await lastUsed(); // written after the response, without delaying it
      if (first === null) await new Promise((r) => setTimeout(r, 20));
    }
    expect(first).toBeInstanceOf(Date);
    for (let i = 0; i < 3; i++) await partner(key, byId(RETRIEVE_ID, { input: { query: 'refund' } }));
    await new Promise((r) => setTimeout(r, 100));
    expect((await lastUsed())!.getTime()).toBe(first!.getTime());
  });
});
