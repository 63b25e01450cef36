import pg from 'pg';
import { type TenantScope } from '../auth/identity';
import { type JsonObject } from '../common/graphql-scalars';
import { type Row } from '../db/sql-client';
import { vectorParam } from '../db/vector-binary';
import { checkedChunkId, checkedDimensions } from '../vector-index/vector-index.repository';
import { keywordRankingCtes } from './keyword-ranking.sql';
import { queryTerms } from './query-terms';
import { filterSql } from './search-filter.sql';
import { type ChunkHit, type SearchPlan, SHORTLIST_OPERATORS, type VectorStrategy } from './search.types';

/** A row of the search statement: one hit of the vector side ('v') or of the full-text side ('k'). */
export interface HitRow extends Row {
  side: 'v' | 'k';
  strategy: VectorStrategy | 'keyword';
  id: string;
  document_id: string | null;
  ticket_id: string | null;
  chunk_index: number;
  chunk_text: string;
  heading_path: string[];
  citation: string;
  metadata: JsonObject;
  distance: number | string;
  rank: number | string | null;
}

/**
 * One statement for the whole search. `(plan as {only}).only` marks a single-path statement (no readable count,
 * no fallback): what the comparisons between paths run.
 */
export function statementSql(scope: TenantScope, plan: SearchPlan): { sql: string; params: unknown[] } {
  const p = plan.params;
  const n = checkedDimensions(p.corpus.dimensions);
  const params: unknown[] = [vectorParam(p.embedding)];
  const bind = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const f = filterSql(scope, p, params);
  // Joins back to document_chunks by id repeat the merchant: on Citus a join by id alone is planned across every
  // shard, and there the merchant must be the bound value (a router query on its shard). On one node it is an
  // InitPlan: compared with a value, a merchant the planner statistics predate (onboarded since the last ANALYZE;
  // the embedded database never analyzes on its own) is estimated at one row, and the planner then rescans the
  // merchant's whole range for every row it joins back instead of probing its id: a HYBRID retrieval in a
  // 5,000-chunk merchant took 5.2 s instead of 61 ms (docs/RETRIEVAL.md, "Planner statistics").
  const merchantValue = bind(scope.merchantId);
  const merchant = plan.distributed ? merchantValue : `(SELECT ${merchantValue}::text)`;
  const distance = `(c.embedding::vector(${n})) <=> $1::vector(${n})`;
  const k = bind(p.k);
  const ctes: string[] = [];
  const parts: string[] = [];
  const v = plan.vector;
  if (v !== null) {
    const only = (plan as { only?: boolean }).only === true;
    const gated = v.approximate !== 'none' && !only;
    const exactGate = gated ? ` AND (SELECT n FROM readable) <= ${bind(v.exactMaxReadable)}` : '';
    const approxGate = gated ? ` AND (SELECT n FROM readable) > $${params.length}` : '';
    // Gated (a merchant big enough to have an approximate path), the readable ids come first, from the covering
    // merchant index alone (it carries the ACL: an index-only scan, and the same ids are the capped count), then
    // the rows for their vectors. A direct scan reads the heap row of every chunk of the merchant to test its ACL,
    // readable or not: one page per row with vectors in line, 1.4x slower for a reader of 1,000 of 3,800 chunks.
    // Not gated (a merchant answered exactly), the direct scan: the extra probe per readable row cost a reader of
    // everything in a 600-chunk merchant 1.6x (docs/RETRIEVAL.md, "Vector strategies").
    const idsFirst = gated || (only && v.approximate === 'none' && v.idsFirst === true);
    // The quantized path reads every readable entry of the same index for its shortlist anyway: one scan, uncapped,
    // that also computes each entry's bit distance, gives the count, the exact path's ids and the shortlist. Read
    // twice (a count capped at the threshold, then the shortlist's scan), a reader of 3,777 of 3,800 chunks spent
    // 2.6 of its 12.7 ms on the first read (EXPLAIN ANALYZE, small preset). The HNSW path keeps the cap: its
    // merchants are the large ones, and only its fallback reads them whole.
    const oneScan = gated && v.approximate === 'quantized';
    const queryBits = `(SELECT binary_quantize($1::vector))`;
    // From a fixed map, never from input: the operator is part of the statement's text.
    const metric = v.shortlistMetric ?? 'hamming';
    if (!Object.hasOwn(SHORTLIST_OPERATORS, metric))
      throw new Error(`unknown shortlist metric ${String(metric)}`);
    const bitDistance = SHORTLIST_OPERATORS[metric];
    if (idsFirst) {
      const cap = gated && !oneScan ? ` LIMIT ${bind(v.exactMaxReadable + 1)}` : '';
      const bits = oneScan ? `, c.embedding_bq ${bitDistance} ${queryBits} AS bits` : '';
      ctes.push(`readable_ids AS MATERIALIZED (
         SELECT c.id${bits} FROM document_chunks c WHERE ${f.base}${cap})`);
    }
    if (gated) ctes.push(`readable AS (SELECT count(*) AS n FROM readable_ids)`);
    if (v.approximate === 'none' || gated) {
      // MATERIALIZED and without ORDER BY: the HNSW index cannot be chosen, and only ids and distances are kept
      // until the top k is known.
      ctes.push(
        idsFirst && !plan.distributed
          ? // One probe per readable id (see quantized_top below): joined, the planner could hash every row of the
            // merchant (3,800 with their vectors, spilled to disk, for a reader of 1,000 of them, without RLS).
            `exact_all AS MATERIALIZED (
         SELECT r.id, x.distance FROM readable_ids r CROSS JOIN LATERAL (
           SELECT ${distance} AS distance FROM document_chunks c
            WHERE c.merchant_id = ${merchant} AND c.id = r.id AND ${f.size} LIMIT 1) x
          WHERE true${exactGate})`
          : idsFirst
            ? `exact_all AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM readable_ids r
           JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = r.id
          WHERE ${f.size}${exactGate})`
            : `exact_all AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM document_chunks c WHERE ${f.base} AND ${f.size})`,
      );
      ctes.push(`exact_top AS (SELECT id, distance FROM exact_all ORDER BY distance, id LIMIT ${k})`);
      parts.push(`SELECT id, distance, 'exact' AS strategy FROM exact_top`);
    }
    const quantized = (gate: string, label: VectorStrategy): void => {
      // The shortlist reads the covering (merchant_id, corpus_version) INCLUDE (acl, embedding_bq, id) index: no
      // vector, and no size predicate (it would detoast every row; the trigger keeps a version's sizes equal). The
      // query's bits are an InitPlan, computed once: in a generic plan (prepared, search.repository.ts)
      // binary_quantize($1) is no constant and was computed again for every row, ~3 µs each (15 ms for 4,400 rows).
      const size = bind(Math.max(v.rerank, p.k));
      ctes.push(
        oneScan
          ? `shortlist AS MATERIALIZED (
         SELECT r.id FROM readable_ids r WHERE true${gate} ORDER BY r.bits, r.id LIMIT ${size})`
          : `shortlist AS MATERIALIZED (
         SELECT c.id FROM document_chunks c WHERE ${f.base}${gate}
          ORDER BY c.embedding_bq ${bitDistance} ${queryBits}, c.id LIMIT ${size})`,
      );
      // One probe of (merchant_id, id) per candidate, whatever the planner estimates: as a plain join it could hash
      // the merchant's every row, vectors included, to re-rank a few hundred. Seen without row-level security (a
      // superuser, as the benchmark calibrates): 3,800 rows and 8 MB spilled to disk to re-rank 800 of a 3,600-chunk
      // merchant, and 0.83 s a query at a re-rank of 400 in a 60,000-chunk one (0.06 s at 200), so calibration timed
      // another plan than the gateway's. The LIMIT keeps the planner from flattening the subquery back into the
      // join. On Citus the merchant is the bound value, its statistics are right, and the router query stays a join.
      ctes.push(
        plan.distributed
          ? `quantized_top AS (
         SELECT c.id, ${distance} AS distance FROM shortlist s JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = s.id
          ORDER BY distance, c.id LIMIT ${k})`
          : `quantized_top AS (
         SELECT s.id, r.distance FROM shortlist s CROSS JOIN LATERAL (
           SELECT ${distance} AS distance FROM document_chunks c WHERE c.merchant_id = ${merchant} AND c.id = s.id LIMIT 1) r
          ORDER BY r.distance, s.id LIMIT ${k})`,
      );
      parts.push(`SELECT id, distance, '${label}' AS strategy FROM quantized_top`);
    };
    if (v.approximate === 'quantized') quantized(approxGate, 'quantized');
    if (v.approximate === 'hnsw') {
      // The graph: ORDER BY the distance expression with a LIMIT, the size predicate and the bound matching the
      // partial index: the merchant's own HNSW index (an index with a larger bound matches too, so a search holding
      // the bound of an index being replaced still finds one). relaxed_order may yield rows slightly out of
      // order: re-sorted outside. The tail (chunks newer than the bound, not in the graph): every readable one,
      // exactly, found through (merchant_id, id). The two are disjoint; their merged top k is exact over the tail.
      const bound = v.graphMaxId === null ? null : checkedChunkId(v.graphMaxId);
      const graphCut = bound === null ? '' : ` AND c.id <= ${bound}`;
      // The merchant written as a constant too: a generic plan (prepared, search.repository.ts) knows only that
      // `merchant_id = $n`, which proves no index predicate; `= 'm01'` proves the merchant's own. The value is the
      // verified caller's merchant, quoted as a literal (as in the prelude); on Citus the bound value is enough.
      const indexMerchant = plan.distributed
        ? ''
        : ` AND c.merchant_id = ${pg.escapeLiteral(scope.merchantId)}`;
      ctes.push(`hnsw_graph AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM document_chunks c
          WHERE ${f.base}${indexMerchant} AND ${f.size}${graphCut}${approxGate}
          ORDER BY ${distance} LIMIT ${bind(Math.max(p.k, v.hnswCandidates))})`);
      if (bound !== null) {
        // ORDER BY id (sorts are disabled): only an index led by (merchant_id, id) serves it without a sort, so
        // the planner walks the merchant's newest ids even when its statistics predate the tail.
        ctes.push(`hnsw_tail AS MATERIALIZED (
         SELECT c.id, ${distance} AS distance FROM document_chunks c
          WHERE ${f.base} AND c.id > ${bound} AND ${f.size}${approxGate} ORDER BY c.id)`);
      }
      const merged =
        bound === null ? 'hnsw_graph' : '(SELECT * FROM hnsw_graph UNION ALL SELECT * FROM hnsw_tail) g';
      ctes.push(
        `hnsw_top AS MATERIALIZED (SELECT id, distance FROM ${merged} ORDER BY distance, id LIMIT ${k})`,
      );
      if (only) parts.push(`SELECT id, distance, 'hnsw' AS strategy FROM hnsw_top`);
      else {
        // A graph scan that came back with fewer than k rows may have stopped early (max_scan_tuples under a
        // narrow filter): the quantized scan over every readable row answers instead.
        const graphFull = `(SELECT count(*) FROM hnsw_graph) >= ${k}`;
        parts.push(`SELECT id, distance, 'hnsw' AS strategy FROM hnsw_top WHERE ${graphFull}`);
        quantized(`${approxGate} AND NOT (${graphFull})`, 'hnsw+quantized_fallback');
      }
    }
    ctes.push(`vector_top AS (${parts.join(' UNION ALL ')})`);
  }
  const terms = plan.keyword === null ? [] : queryTerms(plan.keyword);
  if (plan.keyword !== null && terms.length > 0) {
    ctes.push(
      ...keywordRankingCtes({
        merchant: merchantValue,
        joinMerchant: merchant,
        version: bind(p.corpus.version),
        anyTerms: bind(terms.join(' or ')),
        allTerms: bind(terms.join(' ')),
        base: f.base,
        size: f.size,
        distance,
        k,
      }),
    );
  }
  const sides: string[] = [];
  if (v !== null)
    sides.push(`SELECT 'v' AS side, strategy, id, distance, NULL::real AS rank FROM vector_top`);
  if (plan.keyword !== null && terms.length > 0)
    sides.push(`SELECT 'k' AS side, 'keyword' AS strategy, id, distance, rank FROM keyword_top`);
  const sql = `WITH ${ctes.join(',\n       ')}
    SELECT t.side, t.strategy, c.id::text AS id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text,
           c.heading_path, c.citation, c.metadata, t.distance, t.rank
      FROM (${sides.join(' UNION ALL ')}) t (side, strategy, id, distance, rank)
      JOIN document_chunks c ON c.merchant_id = ${merchant} AND c.id = t.id
     ORDER BY t.side DESC, CASE WHEN t.side = 'v' THEN t.distance ELSE -t.rank END, t.id`;
  return { sql, params };
}

export function toHit(r: HitRow): ChunkHit {
  return {
    id: String(r.id),
    documentId: r.document_id,
    ticketId: r.ticket_id,
    chunkIndex: r.chunk_index,
    text: r.chunk_text,
    headingPath: r.heading_path,
    citation: r.citation,
    metadata: r.metadata,
    distance: Number(r.distance),
  };
}
