import { type EntityManager } from 'typeorm';

/** A phrase that text search reduces to no word (only stopwords or punctuation), with its group and position. */
export interface EmptyPhrase {
  group: number;
  term: number;
}

/**
 * The merchant's synonym groups (table search_synonyms, migration 1765320000000): one row per phrase, with its
 * english lexemes and phrase query computed here by PostgreSQL, with the same configuration as the index.
 * Keyword search reads the table inside its own statement (src/retrieval/keyword-ranking.sql.ts), not through here.
 */
export class SynonymRepository {
  /** Replaces every group of the merchant; returns the phrases that have no lexeme (then the caller rolls back). */
  async replace(
    manager: EntityManager,
    merchantId: string,
    groups: readonly (readonly string[])[],
  ): Promise<EmptyPhrase[]> {
    await manager.query(`DELETE FROM search_synonyms WHERE merchant_id = $1`, [merchantId]);
    const groupNos: number[] = [];
    const phrases: string[] = [];
    const positions: number[] = [];
    groups.forEach((terms, g) =>
      terms.forEach((t, i) => {
        groupNos.push(g + 1);
        phrases.push(t);
        positions.push(i);
      }),
    );
    if (phrases.length === 0) return [];
    const parsed: { group_no: number; position: number; lexemes: string[] }[] = await manager.query(
      `SELECT p.group_no, p.position,
                tsvector_to_array(to_tsvector('english'::regconfig, p.phrase)) AS lexemes
           FROM unnest($1::int[], $2::text[], $3::int[]) AS p (group_no, phrase, position)`,
      [groupNos, phrases, positions],
    );
    const empty = parsed.filter((r) => r.lexemes.length === 0);
    if (empty.length > 0) return empty.map((r) => ({ group: r.group_no - 1, term: r.position }));
    // Citus runs a multi-row VALUES INSERT as a router statement (INSERT … SELECT FROM unnest is COPied to the
    // shard, which row-level security refuses): one VALUES row per phrase, all bound.
    const values: string[] = [];
    const params: unknown[] = [merchantId];
    for (const [i, phrase] of phrases.entries()) {
      params.push(groupNos[i], positions[i], phrase);
      const [g, o, p] = [params.length - 2, params.length - 1, params.length];
      values.push(
        `($1, $${g}::int, $${o}::smallint, $${p}::text, tsvector_to_array(to_tsvector('english'::regconfig, $${p}::text)), phraseto_tsquery('english'::regconfig, $${p}::text))`,
      );
    }
    await manager.query(
      `INSERT INTO search_synonyms (merchant_id, group_no, position, phrase, lexemes, query) VALUES ${values.join(', ')}`,
      params,
    );
    return [];
  }

  /** The merchant's groups in order, each phrase as saved. */
  async list(manager: EntityManager, merchantId: string): Promise<string[][]> {
    const rows: { group_no: number; phrases: string[] }[] = await manager.query(
      `SELECT group_no, array_agg(phrase ORDER BY position) AS phrases
         FROM search_synonyms WHERE merchant_id = $1
        GROUP BY group_no ORDER BY group_no`,
      [merchantId],
    );
    return rows.map((r) => r.phrases);
  }
}
