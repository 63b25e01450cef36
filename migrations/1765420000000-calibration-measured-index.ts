import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `retrieval_calibrations.measured_index`: the name of the merchant's dedicated HNSW index the calibration measured
 * (null: it had none). Names come from a sequence, so a graph rebuilt or replaced (the frozen graph's tail
 * rebuild, a drop and re-create) has a new name, and a calibration whose name is not the registry's current one
 * was measured on another graph: retrieval still uses its settings, reports them as stale (explain, metrics,
 * the `retrievalCalibration` query) and asks for a re-measure. `had_index` stays: a row written before this
 * migration with `had_index` true has no name and counts as measured on an unknown graph (stale once).
 * Adding a nullable column without a default is a catalog change on PostgreSQL and Citus alike.
 */
export class CalibrationMeasuredIndex1765420000000 implements MigrationInterface {
  name = 'CalibrationMeasuredIndex1765420000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE retrieval_calibrations ADD COLUMN IF NOT EXISTS measured_index text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE retrieval_calibrations DROP COLUMN IF EXISTS measured_index`);
  }
}
