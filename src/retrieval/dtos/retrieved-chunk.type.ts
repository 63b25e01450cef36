import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { JSONScalar, type JsonObject } from '../../common/graphql-scalars';
import { ChunkSourceType } from './chunk-source-type';

@ObjectType({ description: 'A chunk the caller may read, with what is needed to cite it.' })
export class RetrievedChunk {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  text: string;

  @Field(() => Float, { description: 'Ranking score, higher is better (currently equal to similarity).' })
  score: number;

  @Field(() => Float, { description: 'Cosine similarity to the query, 1 - (embedding <=> query).' })
  similarity: number;

  @Field(() => ChunkSourceType)
  sourceType: ChunkSourceType;

  @Field(() => ID, { nullable: true })
  documentId: string | null;

  @Field(() => ID, { nullable: true })
  ticketId: string | null;

  @Field(() => Int)
  chunkIndex: number;

  @Field(() => JSONScalar)
  metadata: JsonObject;

  @Field(() => String, { description: 'Human label, e.g. "Refund Policy §1 Refund window" or "Ticket t1".' })
  citation: string;

  @Field(() => [String], { description: 'Headings the chunk sits under, outermost first.' })
  headingPath: string[];
}

@ObjectType()
export class RetrieveChunksResult {
  @Field(() => [RetrievedChunk])
  chunks: RetrievedChunk[];

  @Field(() => String, {
    description: 'How the top-k was found: exact, hnsw_iterative, or hnsw_iterative+exact_fallback.',
  })
  strategy: string;

  @Field(() => Float, { description: 'Server-side time for this retrieval, in milliseconds.' })
  tookMs: number;
}
