import { Field, Float, Int, ObjectType, registerEnumType } from 'type-graphql';
import { StaleReason } from '../calibration.types';
import { CalibrationOutcome } from '../search-strategy';

registerEnumType(StaleReason, {
  name: 'CalibrationStaleReason',
  description: 'Why a retrieval calibration is out of date.',
  valuesConfig: {
    INDEX_CHANGED: {
      description:
        "The merchant's dedicated index was built, rebuilt or dropped since: the graph measured is not the one searched.",
    },
    GROWN: { description: 'The merchant grew by RETRIEVAL_CALIBRATION_GROWTH_PERCENT since.' },
    VERSION_CHANGED: {
      description:
        'The active corpus version flipped while this was read: these are the old version’s settings.',
    },
    BUDGET_EXHAUSTED: {
      description:
        "Stored by a calibration whose trials ran out of RETRIEVAL_CALIBRATION_BUDGET_MS ('none', or a setting whose margin was not measured), and the back-off since has passed (retryAt).",
    },
  },
});

registerEnumType(CalibrationOutcome, {
  name: 'CalibrationOutcome',
  description: 'Why a retrieval calibration stored the path it did.',
  valuesConfig: {
    MEASURED: { description: 'An approximate setting was measured to reach recall@10 >= 0.99.' },
    SMALL: {
      description:
        'The merchant is small enough (RETRIEVAL_EXACT_SCAN_MAX_ROWS) for every reader to be answered exactly: nothing measured.',
    },
    BUDGET: {
      description:
        "The trials ran out of RETRIEVAL_CALIBRATION_BUDGET_MS (a busy machine): 'none', or the last setting that passed before its margin was measured. Measured again at retryAt.",
    },
    UNREACHED: {
      description:
        "'none': no setting reached the target. Kept until the merchant grows or its dedicated index changes.",
    },
  },
});

@ObjectType({
  description:
    "How the caller's merchant's approximate search is tuned, as measured against exact answers on a sample of its own chunks: short passages of their text, else their vectors (docs/RETRIEVAL.md).",
})
export class RetrievalCalibration {
  @Field(() => Int, { description: 'The corpus version measured (the active one).' })
  corpusVersion: number;

  @Field(() => String, {
    description:
      "Path for readers above exactMaxReadable: 'hnsw' (the merchant's own index), 'quantized', or 'none' (answered exactly: no setting reached the recall target in time, or the merchant is small).",
  })
  path: string;

  @Field(() => Int, { description: 'Readers with at most this many readable chunks are answered exactly.' })
  exactMaxReadable: number;

  @Field(() => Int, { nullable: true, description: 'Re-rank size of the quantized scan.' })
  quantizedRerank: number | null;

  @Field(() => Int, { nullable: true, description: 'hnsw.ef_search on the dedicated index.' })
  hnswEfSearch: number | null;

  @Field(() => Int, { nullable: true, description: 'Rows the HNSW scan yields before the exact re-sort.' })
  hnswCandidates: number | null;

  @Field(() => Float, { nullable: true, description: 'Measured recall@10 for a reader of everything.' })
  recallFull: number | null;

  @Field(() => Float, { nullable: true, description: 'Measured recall@10 for the narrow reader.' })
  recallNarrow: number | null;

  @Field(() => Int, {
    description:
      "Queries sampled from the merchant's chunks: short passages of their text where the embedder reproduces their vectors, else the vectors themselves (0: small merchant, nothing to measure).",
  })
  sampleSize: number;

  @Field(() => Int, { description: 'Chunks of the version when measured.' })
  merchantRows: number;

  @Field(() => Int, { description: 'How long the measurement took, in milliseconds.' })
  tookMs: number;

  @Field(() => Date)
  measuredAt: Date;

  @Field(() => String, {
    nullable: true,
    description:
      "The merchant's dedicated HNSW index the measurement ran on; null when it had none. A rebuilt index has a new name.",
  })
  measuredIndex: string | null;

  @Field(() => CalibrationOutcome, {
    nullable: true,
    description: 'Why this path; null for a measured none stored before outcomes were recorded.',
  })
  outcome: CalibrationOutcome | null;

  @Field(() => Int, {
    description:
      'Calibrations of this version in a row that ran out of their time budget (0: the last did not).',
  })
  budgetAttempts: number;

  @Field(() => Date, {
    nullable: true,
    description:
      "When a calibration the budget cut short (or a 'none' of unknown cause) is measured again: RETRIEVAL_CALIBRATION_RETRY_MINUTES after it was stored, doubled per attempt in a row, at most a day. Null otherwise.",
  })
  retryAt: Date | null;

  @Field(() => StaleReason, {
    nullable: true,
    description:
      'Why these settings are out of date, or null. Retrieval keeps using them until re-measured: in the background when RETRIEVAL_CALIBRATION_AUTO is on, or by calibrateRetrieval / npm run calibrate -- --stale.',
  })
  staleReason: StaleReason | null;
}
