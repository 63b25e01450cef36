import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from './1764100000000-row-level-security';

/**
 * One row per merchant and corpus version: the approximate search setting measured to reach recall@10 >= 0.99
 * against exact answers on a sample of the merchant's own vectors (src/retrieval/calibration.service.ts), or
 * `path = 'none'` when no setting did within the time budget (that merchant is answered exactly). Retrieval reads
 * it in the round trip of its BEGIN; the owner writes it. Deleting a corpus version deletes its calibration.
 */
export class RetrievalCalibrations1764300000000 implements MigrationInterface {
  name = 'RetrievalCalibrations1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE retrieval_calibrations (
        merchant_id         text NOT NULL,
        corpus_version      integer NOT NULL,
        path                text NOT NULL CONSTRAINT retrieval_calibrations_path_known CHECK (path IN ('none', 'quantized', 'hnsw')),
        exact_max_readable  integer NOT NULL CHECK (exact_max_readable >= 0),
        quantized_rerank    integer CHECK (quantized_rerank > 0),
        hnsw_ef_search      integer CHECK (hnsw_ef_search > 0),
        hnsw_candidates     integer CHECK (hnsw_candidates > 0),
        recall_full         real,
        recall_narrow       real,
        narrow_share        real,
        sample_size         integer NOT NULL,
        had_index           boolean NOT NULL DEFAULT false,
        merchant_rows       integer NOT NULL,
        took_ms             integer NOT NULL,
        measured_at         timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (merchant_id, corpus_version),
        FOREIGN KEY (merchant_id, corpus_version) REFERENCES corpus_versions (merchant_id, version) ON DELETE CASCADE
      )`);
    await q.query(`ALTER TABLE retrieval_calibrations ENABLE ROW LEVEL SECURITY`);
    await q.query(`
      CREATE POLICY retrieval_calibrations_read ON retrieval_calibrations FOR SELECT
        TO ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE} USING (merchant_id = (SELECT app_merchant_id()))`);
    await q.query(`GRANT SELECT ON retrieval_calibrations TO ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE retrieval_calibrations`);
  }
}
