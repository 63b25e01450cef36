import { Arg, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { SupportDocument } from '../documents/support-document.entity';
import { Ticket } from '../tickets/ticket.entity';
import { scopeOf } from '../auth/identity';
import { type GatewayContext, requireIdentity, requireLoaders } from '../graphql/context';
import { RetrieveChunksInput } from './dtos/retrieve-chunks.input';
import { RetrieveChunksResult, RetrievedChunk } from './dtos/retrieved-chunk.type';
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

/** A chunk's source, batched per request: one query per type whatever k is. */
@Resolver(() => RetrievedChunk)
export class RetrievedChunkResolver {
  @FieldResolver(() => SupportDocument, {
    nullable: true,
    description: 'The document this chunk is cut from.',
  })
  async document(@Root() chunk: RetrievedChunk, @Ctx() ctx: GatewayContext): Promise<SupportDocument | null> {
    return chunk.documentId === null ? null : requireLoaders(ctx).document.load(chunk.documentId);
  }

  @FieldResolver(() => Ticket, { nullable: true, description: 'The ticket this chunk is cut from.' })
  async ticket(@Root() chunk: RetrievedChunk, @Ctx() ctx: GatewayContext): Promise<Ticket | null> {
    return chunk.ticketId === null ? null : requireLoaders(ctx).ticket.load(chunk.ticketId);
  }
}
