import { type Identity, principalsFor } from '../src/auth/identity';
import {
  createTestMerchant,
  startTestGateway,
  type TestGateway,
  type TestIdentity,
} from './support/test-gateway';

const INGEST = `mutation Ingest($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount } }`;
const DELETE = `mutation Delete($id: ID!) { deleteDocument(id: $id) }`;
const RETRIEVE = `query R($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { chunks { documentId score } }
}`;
type Retrieved = { retrieveChunks: { chunks: { documentId: string; score: number }[] } };

/**
 * BM25 over weighted titles (migration 1765000000000, src/retrieval/keyword-ranking.sql.ts): the term statistics
 * follow every write made through the API, as a content manager under row-level security, and the ranking uses
 * them, the field weights and the query normalization.
 */
describe('keyword ranking: BM25 over weighted titles, statistics kept on write', () => {
  let t: TestGateway;
  let merchant: string;
  let other: string;
  let admin: TestIdentity;
  let agent: TestIdentity;

  beforeAll(async () => {
    t = await startTestGateway();
    merchant = await createTestMerchant(t);
    other = await createTestMerchant(t);
    admin = { merchantId: merchant, userId: 'admin1', roles: ['admin'] };
    agent = { merchantId: merchant, userId: 'agent1', roles: ['agent'] };
  });
  afterAll(async () => {
    await t.close();
  });

  const ingest = async (as: TestIdentity, id: string, title: string, text: string) => {
    const res = await t.gql(INGEST, { input: { id, title, text, acl: ['role:agent'] } }, as);
    expect(res.errors).toBeUndefined();
  };
  const keyword = async (query: string, as = agent) => {
    const res = await t.gql<Retrieved>(RETRIEVE, { input: { query, mode: 'KEYWORD', k: 10 } }, as);
    expect(res.errors).toBeUndefined();
    return res.data!.retrieveChunks.chunks.map((c) => c.documentId);
  };

  /** The stored statistics against a recount from the chunks themselves (summed over the writers' slots). */
  const statisticsMatchRecount = async (m: string) => {
    const drift: unknown[] = await t.db.dataSource.query(
      `WITH stored AS (
         SELECT lexeme, sum(chunk_count)::int AS n FROM search_term_statistics
          WHERE merchant_id = $1 GROUP BY lexeme HAVING sum(chunk_count) <> 0),
       recount AS (
         SELECT u.lexeme, count(*)::int AS n FROM document_chunks c, unnest(tsvector_to_array(c.search_terms)) u (lexeme)
          WHERE c.merchant_id = $1 GROUP BY u.lexeme)
       SELECT * FROM (SELECT * FROM stored EXCEPT SELECT * FROM recount) a
       UNION ALL SELECT * FROM (SELECT * FROM recount EXCEPT SELECT * FROM stored) b`,
      [m],
    );
    expect(drift).toEqual([]);
    const [corpus]: { chunks: number; recount: number; lengths: number; relength: number }[] =
      await t.db.dataSource.query(
        `SELECT (SELECT coalesce(sum(chunk_count), 0)::int FROM search_corpus_statistics WHERE merchant_id = $1) AS chunks,
                (SELECT count(*)::int FROM document_chunks WHERE merchant_id = $1) AS recount,
                (SELECT coalesce(sum(length_sum), 0)::int FROM search_corpus_statistics WHERE merchant_id = $1) AS lengths,
                (SELECT coalesce(sum(length(search_terms)), 0)::int FROM document_chunks WHERE merchant_id = $1) AS relength`,
        [m],
      );
    expect(corpus.chunks).toBe(corpus.recount);
    expect(corpus.lengths).toBe(corpus.relength);
  };

  it('keeps the statistics equal to a recount through ingest, re-ingest and delete', async () => {
    await ingest(admin, 'billing', 'Billing', 'Invoices are sent monthly. Your invoice lists every charge.');
    await ingest(admin, 'powerbi', 'PowerBI reports', 'Connect the PowerBI.com workspace to export reports.');
    await ingest(admin, 'refunds', 'Refunds', 'Refunds reach your card within five days.');
    await statisticsMatchRecount(merchant);
    await ingest(admin, 'refunds', 'Refunds', 'Refunds reach your card within ten business days, usually.');
    await statisticsMatchRecount(merchant);
    expect((await t.gql(DELETE, { id: 'billing' }, admin)).errors).toBeUndefined();
    await statisticsMatchRecount(merchant);
    const [{ n }]: { n: number }[] = await t.db.dataSource.query(
      `SELECT coalesce(sum(chunk_count), 0)::int AS n FROM search_term_statistics WHERE merchant_id = $1 AND lexeme = 'invoic'`,
      [merchant],
    );
    expect(n).toBe(0);
  });

  it('ranks a title match above a body mention, and splits or joins compounds', async () => {
    await ingest(admin, 'shipping', 'Shipping times', 'Orders leave the warehouse within a day.');
    await ingest(
      admin,
      'gifts',
      'Gift wrapping',
      'Wrapping is free. Shipping of wrapped gifts takes longer.',
    );
    expect((await keyword('shipping'))[0]).toBe('shipping');
    // "Power BI" meets PowerBI (camel-case parts in the index), "powerbi" meets PowerBI.com (host parts).
    expect((await keyword('Power BI'))[0]).toBe('powerbi');
    expect((await keyword('powerbi workspace'))[0]).toBe('powerbi');
  });

  it('keeps another merchant out of the statistics and out of the results', async () => {
    const otherAdmin = { merchantId: other, userId: 'admin2', roles: ['admin'] };
    await ingest(otherAdmin, 'o1', 'Shipping', 'Shipping shipping shipping everywhere.');
    await statisticsMatchRecount(other);
    expect(await keyword('shipping')).not.toContain('o1');
    const rows: { merchant_id: string }[] = await t.db.dataSource.query(
      `SELECT DISTINCT merchant_id FROM search_term_statistics WHERE merchant_id = ANY($1)`,
      [[merchant, other]],
    );
    expect(rows.map((r) => r.merchant_id).sort()).toEqual([merchant, other].sort());
  });

  it('puts the statistics under row-level security: own merchant only, writes only by its content managers', async () => {
    const as = (who: TestIdentity): Identity => ({
      ...who,
      principals: principalsFor(who.userId, who.roles),
    });
    const reader = t.services.sessions.open(as(agent));
    const manager = t.services.sessions.open(as(admin));
    for (const table of ['search_term_statistics', 'search_corpus_statistics']) {
      const seen = await reader.transaction((m) =>
        m.query<{ merchant_id: string }[]>(`SELECT merchant_id FROM ${table}`),
      );
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((r) => r.merchant_id === merchant)).toBe(true);
      await expect(reader.transaction((m) => m.query(`DELETE FROM ${table}`))).rejects.toThrow(
        /permission denied/,
      );
    }
    await expect(
      manager.transaction((m) =>
        m.query(
          `INSERT INTO search_term_statistics (merchant_id, corpus_version, lexeme, slot, chunk_count)
           VALUES ($1, 1, 'x', 0, 1)`,
          [other],
        ),
      ),
    ).rejects.toThrow(/row-level security|violates foreign key/);
  });
});
