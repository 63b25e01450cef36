import { Field, Float, ID, InputType, Int, registerEnumType } from 'type-graphql';
import { JSONScalar } from '../../common/graphql-scalars';
import { TicketStatus } from '../../tickets/dtos/ticket-enums.graphql';
import { ChunkSourceType } from './chunk-source-type';

export enum RetrievalMode {
  VECTOR = 'vector',
  KEYWORD = 'keyword',
  HYBRID = 'hybrid',
}
registerEnumType(RetrievalMode, {
  name: 'RetrievalMode',
  description:
    'VECTOR: cosine similarity. KEYWORD: full-text search, ranked. HYBRID: both, fused by reciprocal rank.',
});

@InputType({ description: 'Narrows retrieval; every condition must hold.' })
export class ChunkFilter {
  @Field(() => ChunkSourceType, {
    nullable: true,
    description: 'Only chunks of documents, or only of tickets.',
  })
  sourceType?: ChunkSourceType | null;

  @Field(() => JSONScalar, {
    nullable: true,
    description: 'A JSON object the chunk metadata must contain (jsonb @>), e.g. {"category": "refund"}.',
  })
  metadata?: unknown;

  @Field(() => [ID], { nullable: true, description: 'Only chunks of these documents (at most 100).' })
  documentIds?: string[] | null;

  @Field(() => [ID], { nullable: true, description: 'Only chunks of these tickets (at most 100).' })
  ticketIds?: string[] | null;

  @Field(() => ID, { nullable: true, description: "Only chunks of this customer's tickets." })
  customerId?: string | null;

  @Field(() => [TicketStatus], {
    nullable: true,
    description: 'Only chunks of tickets in one of these states.',
  })
  ticketStatus?: TicketStatus[] | null;

  @Field(() => String, { nullable: true, description: 'metadata.category equals this value.' })
  category?: string | null;

  @Field(() => Date, {
    nullable: true,
    description: "The chunk's document or ticket changed at or after this time.",
  })
  updatedSince?: Date | null;
}

@InputType()
export class RetrieveChunksInput {
  @Field(() => String, {
    description:
      'The question, in natural language. May be empty when `embedding` is given (VECTOR or HYBRID).',
  })
  query: string;

  @Field(() => Int, {
    nullable: true,
    defaultValue: 5,
    description: 'How many chunks to return, 1..50 (default 5).',
  })
  k?: number | null;

  @Field(() => ChunkFilter, { nullable: true })
  filter?: ChunkFilter | null;

  @Field(() => RetrievalMode, { nullable: true, defaultValue: RetrievalMode.HYBRID })
  mode?: RetrievalMode | null;

  @Field(() => [Float], {
    nullable: true,
    description:
      "A precomputed query vector from the merchant's active embedding model (its dimension count, finite values).",
  })
  embedding?: number[] | null;

  @Field(() => String, {
    nullable: true,
    description:
      'The same query vector as `embedding`, as base64 of its little-endian float32 values (what OpenAI\'s embeddings API returns with `encoding_format: "base64"`): 8 KB instead of ~30 KB of JSON for 1,536 dimensions, and cheaper for the gateway to read. Give `embedding` or this, not both.',
  })
  embeddingBase64?: string | null;

  @Field(() => Float, {
    nullable: true,
    description: 'Weight of the vector side in HYBRID fusion, 0..1 (default 0.15).',
  })
  hybridWeight?: number | null;

  @Field(() => Float, {
    nullable: true,
    description:
      'Drop results scoring below this. Scores: VECTOR cosine similarity; KEYWORD rank 0..1; HYBRID fused 0..1.',
  })
  minScore?: number | null;

  @Field(() => Boolean, {
    nullable: true,
    defaultValue: false,
    description:
      'Admins only: fill `debug` with the strategy, timings and the EXPLAIN (ANALYZE, BUFFERS) plan.',
  })
  explain?: boolean | null;
}
