/**
 * BM25 over the weighted `search_terms` of a merchant's corpus version, in SQL, from the term statistics that
 * triggers keep current on every write (migration 1765000000000):
 *
 *   score(chunk) = Σ over query lexemes t in the chunk of
 *                  idf(t) · tf(t) · (k1 + 1) / (tf(t) + k1 · (1 − b + b · len / avglen))
 *   idf(t)       = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))          (Lucene's form: never negative)
 *   tf(t)        = Σ over the lexeme's positions of its field weight: title (A) 3, heading path (B) 2, body 1
 *
 * N and df count the chunks of the merchant's version (all of them, whatever the reader's ACL); len is the
 * chunk's distinct lexemes. Field weights folded into tf are BM25F's simplification for short fields. Every chunk
 * matching any query lexeme (through the GIN index) is scored; only its own lexemes are unnested.
 * k1, b and the field weights were not tuned on the evaluation sets: Robertson's and Lucene's defaults, and the
 * usual title > heading > body ordering (docs/EVAL.md).
 *
 * Query expansion by the merchant's synonym groups (migration 1765320000000, src/synonyms/) happens here, in the
 * same statement: a group applies when the lexemes of one of its phrases all occur among the query's; each of its
 * phrases is then OR-ed into the match as a phrase query and its lexemes join the scored ones (with their own IDF).
 */
export const BM25 = { k1: 1.2, b: 0.75, weightA: 3, weightB: 2, weightC: 1, weightD: 1 } as const;

export interface KeywordRankingInput {
  /** Bound parameter references. */
  merchant: string;
  /** The merchant where the chunks are joined back by id (SQL: the bound value, or an InitPlan of it). */
  joinMerchant: string;
  version: string;
  /** Terms joined with ' or ', for websearch_to_tsquery (matching). */
  anyTerms: string;
  /** Terms joined with spaces, for to_tsvector (the query's lexemes). */
  allTerms: string;
  /** The shared WHERE clause (tenant scope, version, filters) and the vector-size predicate. */
  base: string;
  size: string;
  distance: string;
  k: string;
}

/** The CTEs of the keyword side; the last, `keyword_top`, yields (id, distance, rank) with rank in 0..1. */
export function keywordRankingCtes(i: KeywordRankingInput): string[] {
  const { k1, b, weightA, weightB, weightC, weightD } = BM25;
  return [
    `kw_query_lexemes AS MATERIALIZED (
       SELECT DISTINCT u.lexeme FROM unnest(tsvector_to_array(to_tsvector('english'::regconfig, ${i.allTerms}))) AS u (lexeme))`,
    // Synonyms: every phrase of each of the merchant's groups that has a phrase whose lexemes all occur in the query.
    `kw_synonyms AS MATERIALIZED (
       SELECT s.lexemes, s.query FROM search_synonyms s
        WHERE s.merchant_id = ${i.merchant} AND s.group_no IN (
          SELECT g.group_no FROM search_synonyms g
           WHERE g.merchant_id = ${i.merchant} AND g.lexemes <@ ARRAY(SELECT lexeme FROM kw_query_lexemes)))`,
    `kw_lexemes AS MATERIALIZED (
       SELECT lexeme FROM kw_query_lexemes UNION SELECT unnest(lexemes) FROM kw_synonyms)`,
    // The query's terms OR-ed with each synonym phrase (a phrase query: "cutoff date" matches those words in order).
    // tsquery's || is strict: without synonyms the concatenation is NULL and the terms alone are the query.
    `kw_query AS MATERIALIZED (
       SELECT coalesce(
                websearch_to_tsquery('english'::regconfig, ${i.anyTerms})
                  || (SELECT string_agg('(' || s.query::text || ')', ' | ')::tsquery FROM kw_synonyms s),
                websearch_to_tsquery('english'::regconfig, ${i.anyTerms})) AS q)`,
    `kw_corpus AS MATERIALIZED (
       SELECT greatest(coalesce(sum(s.chunk_count), 0), 1)::float8 AS n,
              greatest(coalesce(sum(s.length_sum), 0)::float8 / greatest(coalesce(sum(s.chunk_count), 0), 1), 1) AS avglen
         FROM search_corpus_statistics s WHERE s.merchant_id = ${i.merchant} AND s.corpus_version = ${i.version})`,
    `kw_idf AS MATERIALIZED (
       SELECT l.lexeme, ln(1 + (k.n - least(d.df, k.n) + 0.5) / (least(d.df, k.n) + 0.5)) AS idf
         FROM kw_lexemes l CROSS JOIN kw_corpus k
        CROSS JOIN LATERAL (
          SELECT coalesce(sum(t.chunk_count), 0)::float8 AS df FROM search_term_statistics t
           WHERE t.merchant_id = ${i.merchant} AND t.corpus_version = ${i.version} AND t.lexeme = l.lexeme) d)`,
    `kw_match AS MATERIALIZED (
       SELECT c.id, c.search_terms FROM document_chunks c
        WHERE c.search_terms @@ (SELECT q FROM kw_query) AND ${i.base})`,
    `kw_scored AS MATERIALIZED (
       SELECT m.id, sum(x.idf * tf.w * ${k1 + 1} / (tf.w + ${k1} * (1 - ${b} + ${b} * length(m.search_terms) / k.avglen))) AS score
         FROM kw_match m CROSS JOIN kw_corpus k
        CROSS JOIN LATERAL unnest(m.search_terms) AS u
         JOIN kw_idf x ON x.lexeme = u.lexeme
        CROSS JOIN LATERAL (
          SELECT sum(CASE wt WHEN 'A' THEN ${weightA} WHEN 'B' THEN ${weightB} WHEN 'C' THEN ${weightC} ELSE ${weightD} END)::float8 AS w
            FROM unnest(u.weights) AS wt) tf
        GROUP BY m.id)`,
    `keyword_top AS (
       SELECT c.id, ${i.distance} AS distance, s.score / (s.score + 1) AS rank
         FROM kw_scored s JOIN document_chunks c ON c.merchant_id = ${i.joinMerchant} AND c.id = s.id
        WHERE ${i.size}
        ORDER BY s.score DESC, c.id LIMIT ${i.k})`,
  ];
}
