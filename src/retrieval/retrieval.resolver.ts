import { Arg, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { SupportDocument } from '../documents/support-document.entity';
import { Ticket } from '../tickets/ticket.entity';
import { mayManageContent } from '../auth/permissions';
import { forbidden } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type GatewayContext, requireLoaders, requireSession } from '../graphql/context';
import { RetrieveChunksInput } from './dtos/retrieve-chunks.input';
import { RetrieveChunksResult, RetrievedChunk } from './dtos/retrieved-chunk.type';
import { DEFAULT_K, RetrievalService } from './retrieval.service';
import { ChunkSourceType } from './dtos/chunk-source-type';

@Resolver()
export class RetrievalResolver {
  constructor(
    private readonly retrieval: RetrievalService,
    private readonly config: Config,
  ) {}

  @Query(() => RetrieveChunksResult, {
    description:
      "Top-k chunks of the caller's merchant that the caller may read, nearest to the query first.",
  })
  async retrieveChunks(
    @Arg('input', () => RetrieveChunksInput) input: RetrieveChunksInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<RetrieveChunksResult> {
    const session = requireSession(ctx);
    const identity = session.identity;
    // Plans describe our indexes and data sizes: for a merchant's administrators, never for partners' keys.
    if (
      input.explain &&
      (identity.credential?.kind === 'apiKey' || !mayManageContent(identity, this.config))
    ) {
      throw forbidden('explain is for administrators');
    }
    const f = input.filter;
    const result = await this.retrieval.retrieve(session, {
      query: input.query,
      k: input.k ?? DEFAULT_K,
      mode: input.mode ?? null,
      embedding: input.embedding ?? null,
      embeddingBase64: input.embeddingBase64 ?? null,
      hybridWeight: input.hybridWeight ?? null,
      minScore: input.minScore ?? null,
      explain: input.explain ?? false,
      filter: f
        ? {
            sourceType: f.sourceType ?? null,
            metadata: f.metadata,
            documentIds: f.documentIds ?? null,
            ticketIds: f.ticketIds ?? null,
            customerId: f.customerId ?? null,
            ticketStatuses: f.ticketStatus ?? null,
            category: f.category ?? null,
            updatedSince: f.updatedSince ?? null,
          }
        : null,
    });
    return {
      strategy: result.strategy,
      tookMs: result.tookMs,
      debug: input.explain
        ? {
            strategy: result.strategy,
            embedMs: result.timings.embedMs,
            searchMs: result.timings.searchMs,
            plan: result.plan ?? [],
          }
        : null,
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
