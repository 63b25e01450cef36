import { Field, InputType, Int } from 'type-graphql';
import { JSONScalar } from '../../common/graphql-scalars';
import { ChunkSourceType } from './chunk-source-type';

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
}

@InputType()
export class RetrieveChunksInput {
  @Field(() => String, { description: 'The question, in natural language.' })
  query: string;

  @Field(() => Int, {
    nullable: true,
    defaultValue: 5,
    description: 'How many chunks to return, 1..50 (default 5).',
  })
  k?: number | null;

  @Field(() => ChunkFilter, { nullable: true })
  filter?: ChunkFilter | null;
}
