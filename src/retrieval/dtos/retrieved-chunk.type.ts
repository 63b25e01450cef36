import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { JSONScalar, type JsonObject } from '../../common/graphql-scalars';
import { ChunkSourceType } from './chunk-source-type';

@ObjectType({ description: 'A chunk the caller may read, with what is needed to cite it.' })
export class RetrievedChunk {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  text: string;

  @Field(() => Float, {
    description:
      'Ranking score, higher is better: the similarity (VECTOR), the text rank (KEYWORD) or the fused score (HYBRID).',
  })
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

@ObjectType({ description: 'Why a result came back; for admins who asked for it with `explain: true`.' })
export class RetrievalDebug {
  @Field(() => String)
  strategy: string;

  @Field(() => Float, { description: 'Time to embed the query (0 when an embedding was given).' })
  embedMs: number;

  @Field(() => Float, { description: 'Time in the database.' })
  searchMs: number;

  @Field(() => [String], {
    description: 'EXPLAIN (ANALYZE, BUFFERS) of the vector query, one line per entry.',
  })
  plan: string[];
}

@ObjectType()
export class RetrieveChunksResult {
  @Field(() => [RetrievedChunk])
  chunks: RetrievedChunk[];

  @Field(() => String, {
    description:
      "How the top-k was found: exact, quantized (binary-quantization scan + exact re-rank), hnsw (the merchant's " +
      'dedicated index, iterative scan) or hnsw+quantized_fallback; keyword; hybrid:<vector>+keyword.',
  })
  strategy: string;

  @Field(() => Float, { description: 'Server-side time for this retrieval, in milliseconds.' })
  tookMs: number;

  @Field(() => RetrievalDebug, { nullable: true })
  debug?: RetrievalDebug | null;
}
