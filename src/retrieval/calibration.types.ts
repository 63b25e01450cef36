/** What a calibration reports, and why a stored one is out of date (src/retrieval/calibration.service.ts). */
import { type CalibrationRow } from './calibration.repository';
import { type ApproximatePath } from './search.types';

export interface CalibrationReport extends CalibrationRow {
  /** Calibrations of this version in a row that ran out of their budget, this one included (0: it did not). */
  budgetAttempts: number;
  /** How many of the queries were short passages of the merchant's text (the rest, if any: its own vectors). */
  textQueries: number;
  /** Why none were (null: they were, or nothing was measured). */
  ownOnly: string | null;
  /** Every setting measured: for the CLI and docs. */
  trials: {
    path: ApproximatePath;
    setting: string;
    recallFull: number;
    recallNarrow: number | null;
    /** Median time per query for the full reader, and for the narrow one (null: no narrow reader). */
    ms: number;
    msNarrow: number | null;
    /** Readable chunks up to which an exact scan costs no more than this setting (the threshold it would get). */
    exactUpTo: number;
    /** Whether it reached the target (settingReached). */
    reached: boolean;
  }[];
}

/** Why a stored calibration is out of date (GraphQL: CalibrationStaleReason). */
export enum StaleReason {
  /** The merchant's dedicated index was built, rebuilt or dropped since: the graph measured is not the one searched. */
  INDEX_CHANGED = 'index-changed',
  /** The merchant grew by RETRIEVAL_CALIBRATION_GROWTH_PERCENT since. */
  GROWN = 'grown',
  /** The active corpus version flipped while the calibration was being read: the row shown is the old version's. */
  VERSION_CHANGED = 'version-changed',
  /**
   * Stored 'none' because the trials ran out of RETRIEVAL_CALIBRATION_BUDGET_MS, and the back-off since has passed
   * (search-strategy.ts, budgetRetryAt).
   */
  BUDGET_EXHAUSTED = 'budget-exhausted',
}
