import { startTestGateway, type TestGateway } from './support/test-gateway';

/**
 * search_terms_of is PL/pgSQL since migration 1765440000000 (it was SQL, and re-planned its nested
 * search_split_compounds calls on every call). The stored keyword index must not notice: the function is compared
 * with the SQL version, recreated here in a rolled-back transaction, on inputs that exercise every branch, and the
 * seeded tickets' stored search_terms (written by the trigger) with what the SQL version computes for them.
 */
const SQL_REFERENCE = `
  CREATE FUNCTION search_terms_of_sql_reference(title text, headings text[], body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT setweight(to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || search_split_compounds(coalesce(title, ''))), 'A')
        || setweight(to_tsvector('english'::regconfig, array_to_string(headings, ' ') || ' ' || search_split_compounds(array_to_string(headings, ' '))), 'B')
        || setweight(to_tsvector('english'::regconfig, body || ' ' || search_split_compounds(body)), 'D')
  $fn$`;

const INPUTS: [string | null, (string | null)[] | null, string | null][] = [
  [null, [], 'Refunds are granted within 30 days of delivery.'],
  [
    'Refund Policy',
    ['Returns', 'Damaged items'],
    'Items damaged in transit: refunds, replacements and store credit.',
  ],
  [
    'PowerBI.com connector',
    ['getUserName', 'API v2.1'],
    'Call getUserName() at https://api.example.com/v2/users.',
  ],
  ['', [''], ''],
  [null, null, 'a heading path that is NULL makes the whole vector NULL'],
  ['Title', ['a', null, 'c'], null],
  ['the and of', ['to be or not'], 'it is what it is'],
  [
    'Café déjà vu',
    ['日本語の見出し'],
    'Emoji 🎉 and ＦＵＬＬＷＩＤＴＨ text, user_id@example.org, C# and C++.',
  ],
  [
    'Subject: Order 123',
    ['Order 123'],
    'Customer: where is my order #123?\n\nAgent: it ships on 2026-12-07.',
  ],
];

describe('search_terms_of (PL/pgSQL) computes what the SQL version computed', () => {
  let t: TestGateway;

  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t.close();
  });

  it('is PL/pgSQL after the migrations', async () => {
    const rows = await t.db.dataSource.query<{ lang: string }[]>(
      `SELECT l.lanname AS lang FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = 'search_terms_of'`,
    );
    expect(rows).toEqual([{ lang: 'plpgsql' }]);
  });

  it('gives the same tsvector on every input, and the stored ticket chunks hold it', async () => {
    const runner = t.db.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query(SQL_REFERENCE);
      const compared = (await runner.query(
        `SELECT search_terms_of(i.title, i.headings, i.body) IS NOT DISTINCT FROM
                search_terms_of_sql_reference(i.title, i.headings, i.body) AS same,
                search_terms_of(i.title, i.headings, i.body)::text AS now,
                search_terms_of_sql_reference(i.title, i.headings, i.body)::text AS before
           FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e (input, n),
                jsonb_to_record(e.input) AS i (title text, headings text[], body text)
          ORDER BY e.n`,
        [JSON.stringify(INPUTS.map(([title, headings, body]) => ({ title, headings, body })))],
      )) as { same: boolean; now: string | null; before: string | null }[];
      expect(compared).toHaveLength(INPUTS.length);
      for (const c of compared) expect(c.now).toBe(c.before);
      expect(compared.every((c) => c.same)).toBe(true);
      // Weights and positions are compared too: the title's host at A, the heading's compound parts at B.
      expect(compared[2].now).toContain("'powerbi.com':1A");
      expect(compared[2].now).toContain("'getusernam':8B,11B,20,25");
      expect(compared[4].now).toBeNull();

      const stored = (await runner.query(
        `SELECT count(*) AS n,
                count(*) FILTER (WHERE c.search_terms IS DISTINCT FROM
                                       search_terms_of_sql_reference(NULL, c.heading_path, c.chunk_text)) AS differing
           FROM document_chunks c WHERE c.ticket_id IS NOT NULL`,
      )) as { n: string; differing: string }[];
      expect(Number(stored[0].n)).toBeGreaterThan(0); // the seeded tickets
      expect(Number(stored[0].differing)).toBe(0);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });
});
