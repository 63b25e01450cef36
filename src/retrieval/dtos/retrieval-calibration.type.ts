import { Field, Float, Int, ObjectType, registerEnumType } from 'type-graphql';
import { StaleReason } from '../calibration.service';

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
  },
});

@ObjectType({
  description:
    "How the caller's merchant's approximate search is tuned, as measured against exact answers on a sample of its own vectors (docs/RETRIEVAL.md).",
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
    description: 'Query vectors sampled from the merchant (0: small merchant, nothing to measure).',
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

  @Field(() => StaleReason, {
    nullable: true,
    description:
      'Why these settings are out of date, or null. Retrieval keeps using them until re-measured: in the background when RETRIEVAL_CALIBRATION_AUTO is on, or by calibrateRetrieval / npm run calibrate -- --stale.',
  })
  staleReason: StaleReason | null;
}
