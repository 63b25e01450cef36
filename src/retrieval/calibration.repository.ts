import { fromSql } from 'pgvector';
import { type EntityManager } from 'typeorm';
import { type ApproximatePath } from './search.types';
import { type CalibrationChoice, type CalibrationOutcome, calibrationOf } from './search-strategy';

export interface CalibrationRow {
  merchantId: string;
  corpusVersion: number;
  path: ApproximatePath;
  exactMaxReadable: number;
  quantizedRerank: number | null;
  hnswEfSearch: number | null;
  hnswCandidates: number | null;
  recallFull: number | null;
  recallNarrow: number | null;
  narrowShare: number | null;
  sampleSize: number;
  /** The dedicated index measured (null: none): a rebuilt graph has another name (measuredOnCurrentIndex). */
  measuredIndex: string | null;
  merchantRows: number;
  tookMs: number;
  outcome: CalibrationOutcome;
}

/** retrieval_calibrations, and the reads a calibration samples from. Every method takes the merchant explicitly. */
export class CalibrationRepository {
  async find(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    version: number,
  ): Promise<(CalibrationChoice & { narrowShare: number | null }) | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT * FROM retrieval_calibrations WHERE merchant_id = $1 AND corpus_version = $2`,
      [merchantId, version],
    );
    if (rows.length === 0) return null;
    return {
      ...calibrationOf(rows[0]),
      narrowShare: rows[0].narrow_share === null ? null : Number(rows[0].narrow_share),
    };
  }

  /**
   * Stores a calibration; returns how many calibrations of this version in a row ran out of their budget (0 unless
   * this one did): counted in the same statement, so two processes cannot both count from the same row.
   */
  async save(manager: Pick<EntityManager, 'query'>, r: CalibrationRow): Promise<{ budgetAttempts: number }> {
    const rows: { budget_attempts: number }[] = await manager.query(
      `INSERT INTO retrieval_calibrations (merchant_id, corpus_version, path, exact_max_readable, quantized_rerank,
         hnsw_ef_search, hnsw_candidates, recall_full, recall_narrow, narrow_share, sample_size, had_index,
         measured_index, merchant_rows, took_ms, measured_at, outcome, budget_attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text IS NOT NULL, $12::text, $13, $14, now(), $15,
               CASE WHEN $15 = 'budget' THEN 1 ELSE 0 END)
       ON CONFLICT (merchant_id, corpus_version) DO UPDATE SET
         path = EXCLUDED.path, exact_max_readable = EXCLUDED.exact_max_readable,
         quantized_rerank = EXCLUDED.quantized_rerank, hnsw_ef_search = EXCLUDED.hnsw_ef_search,
         hnsw_candidates = EXCLUDED.hnsw_candidates, recall_full = EXCLUDED.recall_full,
         recall_narrow = EXCLUDED.recall_narrow, narrow_share = EXCLUDED.narrow_share,
         sample_size = EXCLUDED.sample_size, had_index = EXCLUDED.had_index,
         measured_index = EXCLUDED.measured_index, merchant_rows = EXCLUDED.merchant_rows, took_ms = EXCLUDED.took_ms,
         measured_at = EXCLUDED.measured_at, outcome = EXCLUDED.outcome,
         budget_attempts = CASE WHEN EXCLUDED.outcome = 'budget' THEN retrieval_calibrations.budget_attempts + 1 ELSE 0 END
       RETURNING budget_attempts`,
      [
        r.merchantId,
        r.corpusVersion,
        r.path,
        r.exactMaxReadable,
        r.quantizedRerank,
        r.hnswEfSearch,
        r.hnswCandidates,
        r.recallFull,
        r.recallNarrow,
        r.narrowShare,
        r.sampleSize,
        r.measuredIndex,
        r.merchantRows,
        Math.round(r.tookMs),
        r.outcome,
      ],
    );
    return { budgetAttempts: Number(rows[0].budget_attempts) };
  }

  async countRows(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    version: number,
  ): Promise<number> {
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM document_chunks WHERE merchant_id = $1 AND corpus_version = $2`,
      [merchantId, version],
    );
    return Number(rows[0].n);
  }

  /** Up to `n` of the merchant's own chunks, drawn at random, with their vectors and texts: the calibration's queries. */
  async sample(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    version: number,
    n: number,
  ): Promise<{ id: string; embedding: number[]; text: string }[]> {
    const rows: { id: string; e: string; text: string }[] = await manager.query(
      `SELECT id::text AS id, embedding::text AS e, chunk_text AS text FROM document_chunks
        WHERE id IN (SELECT id FROM document_chunks WHERE merchant_id = $1 AND corpus_version = $2
                      ORDER BY random() LIMIT $3)`,
      [merchantId, version, n],
    );
    return rows.map((r) => ({ id: r.id, embedding: fromSql(r.e) as number[], text: r.text }));
  }

  /** Every principal on the merchant's ACLs with the number of chunks it reads, fewest first. */
  async principals(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    version: number,
  ): Promise<{ principal: string; rows: number }[]> {
    const rows: { p: string; n: string }[] = await manager.query(
      `SELECT p, count(*) AS n FROM document_chunks, unnest(acl) p
        WHERE merchant_id = $1 AND corpus_version = $2 GROUP BY p ORDER BY count(*), p`,
      [merchantId, version],
    );
    return rows.map((r) => ({ principal: r.p, rows: Number(r.n) }));
  }

  /** Merchants with an active corpus version (for `npm run calibrate -- --all`). */
  async merchantsWithActiveVersion(manager: Pick<EntityManager, 'query'>): Promise<string[]> {
    const rows: { merchant_id: string }[] = await manager.query(
      `SELECT merchant_id FROM corpus_versions WHERE state = 'active' ORDER BY merchant_id`,
    );
    return rows.map((r) => r.merchant_id);
  }
}
