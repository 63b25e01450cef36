import {
  createTestMerchant,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const INGEST = `mutation Ingest($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount } }`;
const SET = `mutation Set($groups: [SynonymGroupInput!]!) { setSearchSynonyms(groups: $groups) { terms } }`;
const LIST = `query { searchSynonyms { terms } }`;
const RETRIEVE = `query R($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { documentId } } }`;
type Retrieved = { retrieveChunks: { chunks: { documentId: string }[] } };

/**
 * Per-merchant synonyms (migration 1765320000000, src/synonyms/): saved by a content manager over HTTP, applied by
 * the keyword side of the one search statement, for that merchant only.
 */
describe('search synonyms: a merchant’s groups expand its keyword queries', () => {
  let t: TestGateway;
  let admin: TestIdentity;
  let agent: TestIdentity;
  let otherAdmin: TestIdentity;
  let otherAgent: TestIdentity;

  beforeAll(async () => {
    t = await startTestGateway();
    const [m, other] = [await createTestMerchant(t), await createTestMerchant(t)];
    admin = { merchantId: m, userId: 'admin1', roles: ['admin'] };
    agent = { merchantId: m, userId: 'agent1', roles: ['agent'] };
    otherAdmin = { merchantId: other, userId: 'admin2', roles: ['admin'] };
    otherAgent = { merchantId: other, userId: 'agent2', roles: ['agent'] };
    for (const as of [admin, otherAdmin]) {
      for (const [id, title, text] of [
        ['deadlines', 'Return deadline', 'The deadline to return an item is 30 days after delivery.'],
        ['refunds', 'Refunds', 'Refunds reach your card within five business days.'],
        ['shipping', 'Shipping', 'Parcels leave the warehouse within two days of your order.'],
      ]) {
        const res = await t.gql(INGEST, { input: { id, title, text, acl: ['role:agent'] } }, as);
        expect(res.errors).toBeUndefined();
      }
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const keyword = async (query: string, as: TestIdentity) => {
    const res = await t.gql<Retrieved>(RETRIEVE, { input: { query, mode: 'KEYWORD', k: 5 } }, as);
    expect(res.errors).toBeUndefined();
    return res.data!.retrieveChunks.chunks.map((c) => c.documentId);
  };
  const set = (groups: string[][], as = admin) =>
    t.gql<{ setSearchSynonyms: { terms: string[] }[] }>(
      SET,
      { groups: groups.map((terms) => ({ terms })) },
      as,
    );

  it('finds a document through a synonym only after the merchant defines it, and only for that merchant', async () => {
    expect(await keyword('what is the cutoff date?', agent)).not.toContain('deadlines');
    expect(await keyword('money back', agent)).not.toContain('refunds');

    const res = await set([
      ['deadline', 'cutoff date'],
      ['  refund ', 'money   back'],
    ]);
    expect(res.errors).toBeUndefined();
    expect(res.data!.setSearchSynonyms).toEqual([
      { terms: ['deadline', 'cutoff date'] },
      { terms: ['refund', 'money back'] },
    ]);
    const listed = await t.gql<{ searchSynonyms: { terms: string[] }[] }>(LIST, {}, admin);
    expect(listed.data!.searchSynonyms).toEqual(res.data!.setSearchSynonyms);

    expect((await keyword('what is the cutoff date?', agent))[0]).toBe('deadlines');
    expect((await keyword('money back', agent))[0]).toBe('refunds');
    // A phrase is a phrase: "date" alone does not bring in the group.
    expect(await keyword('delivery date', agent)).toEqual(['deadlines']); // "delivery" is in its text anyway
    expect(await keyword('back', agent)).not.toContain('refunds');
    // The other merchant has the same documents and no synonyms.
    expect(await keyword('what is the cutoff date?', otherAgent)).not.toContain('deadlines');
    expect(await keyword('money back', otherAgent)).not.toContain('refunds');
    const others = await t.gql<{ searchSynonyms: unknown[] }>(LIST, {}, otherAdmin);
    expect(others.data!.searchSynonyms).toEqual([]);

    // Replacing the list with an empty one removes the expansion.
    expect((await set([])).data!.setSearchSynonyms).toEqual([]);
    expect(await keyword('money back', agent)).not.toContain('refunds');
  });

  it('refuses bad groups with BAD_USER_INPUT and a reason, keeping the stored list', async () => {
    expect((await set([['deadline', 'cutoff date']])).errors).toBeUndefined();
    const cases: [string[][], string, string][] = [
      [[['deadline']], 'SYNONYM_GROUP_SIZE', 'groups[0].terms'],
      [
        [['a1', 'b1'], Array.from({ length: 11 }, (_, i) => `w${i}`)],
        'SYNONYM_GROUP_SIZE',
        'groups[1].terms',
      ],
      [[['refund', 'Refund']], 'SYNONYM_DUPLICATE', 'groups[0].terms[1]'],
      [[['refund', 'one two three four five six seven']], 'SYNONYM_TOO_LONG', 'groups[0].terms[1]'],
      [[['refund', 'the']], 'SYNONYM_WITHOUT_WORDS', 'groups[0].terms[1]'],
      [[['refund', '   ']], '', 'groups[0].terms[1]'],
      [Array.from({ length: 501 }, (_, i) => [`a${i}`, `b${i}`]), 'TOO_MANY_SYNONYM_GROUPS', 'groups'],
    ];
    for (const [groups, reason, field] of cases) {
      const res = await set(groups);
      expect(res.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field,
        ...(reason ? { reason } : {}),
      });
    }
    const listed = await t.gql<{ searchSynonyms: { terms: string[] }[] }>(LIST, {}, admin);
    expect(listed.data!.searchSynonyms).toEqual([{ terms: ['deadline', 'cutoff date'] }]);
  });

  it('is for content managers only', async () => {
    for (const res of [await set([['refund', 'money back']], agent), await t.gql(LIST, {}, agent)]) {
      expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
  });
});
