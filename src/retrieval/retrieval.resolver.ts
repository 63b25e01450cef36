import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import { scopeOf } from '../auth/identity';
import { type GatewayContext, requireIdentity } from '../graphql/context';
import { RetrieveChunksInput } from './dtos/retrieve-chunks.input';
import { RetrieveChunksResult } from './dtos/retrieved-chunk.type';
import { DEFAULT_K, RetrievalService } from './retrieval.service';
import { ChunkSourceType } from './dtos/chunk-source-type';

@Resolver()
export class RetrievalResolver {
  constructor(private readonly retrieval: RetrievalService) {}

  @Query(() => RetrieveChunksResult, {
    description:
      "Top-k chunks of the caller's merchant that the caller may read, nearest to the query first.",
  })
  async retrieveChunks(
    @Arg('input', () => RetrieveChunksInput) input: RetrieveChunksInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<RetrieveChunksResult> {
    const identity = requireIdentity(ctx);
    const result = await this.retrieval.retrieve(scopeOf(identity), {
      query: input.query,
      k: input.k ?? DEFAULT_K,
      filter: input.filter ?? null,
    });
    return {
      strategy: result.strategy,
      tookMs: result.tookMs,
      chunks: result.chunks.map((c) => ({
        ...c,
        sourceType: c.sourceType === 'document' ? ChunkSourceType.DOCUMENT : ChunkSourceType.TICKET,
      })),
    };
  }
}
