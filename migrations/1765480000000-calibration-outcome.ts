import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Why a calibration stored what it did (`outcome`), and how many calibrations of this corpus version in a row ran
 * out of their time budget (`budget_attempts`). A `path = 'none'` the budget caused (a busy machine) is re-measured
 * after a back-off that doubles with each attempt; a `none` because no setting reached the target is kept until
 * the merchant grows or its index changes (src/retrieval/search-strategy.ts, budgetRetryDue).
 * Rows from before: `small` (nothing sampled) and `measured` (an approximate path) are known; a measured `none` is
 * left null, its cause unknown, and is retried like a budget one, once (docs/RETRIEVAL.md, "Calibration").
 * Nullable columns and a constant default are catalog changes; the UPDATE touches one row per merchant and version.
 */
export class CalibrationOutcome1765480000000 implements MigrationInterface {
  name = 'CalibrationOutcome1765480000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE retrieval_calibrations
        ADD COLUMN IF NOT EXISTS outcome text CONSTRAINT retrieval_calibrations_outcome_known
          CHECK (outcome IN ('measured', 'small', 'budget', 'unreached')),
        ADD COLUMN IF NOT EXISTS budget_attempts integer NOT NULL DEFAULT 0
          CONSTRAINT retrieval_calibrations_budget_attempts_valid CHECK (budget_attempts >= 0)`);
    await q.query(`
      UPDATE retrieval_calibrations
         SET outcome = CASE WHEN sample_size = 0 THEN 'small' WHEN path <> 'none' THEN 'measured' END
       WHERE outcome IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE retrieval_calibrations DROP COLUMN IF EXISTS budget_attempts, DROP COLUMN IF EXISTS outcome`);
  }
}
