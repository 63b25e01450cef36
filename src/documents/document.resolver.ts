import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { JSONScalar } from '../common/graphql-scalars';
import { type GatewayContext, requireSession } from '../graphql/context';
import { IngestionService, type IngestOutcome } from '../ingestion/ingestion.service';
import { DocumentService } from './document.service';
import { DocumentConnection, DocumentFilter } from './dtos/document-list.type';
import { IngestDocumentInput } from './dtos/ingest-document.input';
import { IngestDocumentPayload, IngestDocumentsPayload } from './dtos/ingest-document.payload';
import { SupportDocument } from './support-document.entity';

const toPayload = (o: IngestOutcome<SupportDocument>): IngestDocumentPayload => ({
  document: o.source,
  chunkCount: o.chunkCount,
  embeddedChunks: o.embeddedChunks,
  reusedChunks: o.reusedChunks,
  deletedChunks: o.deletedChunks,
  unchanged: o.unchanged,
  warnings: o.warnings,
});

@Resolver()
export class DocumentResolver {
  constructor(
    private readonly ingestion: IngestionService,
    private readonly documentService: DocumentService,
  ) {}

  @Mutation(() => IngestDocumentPayload, {
    description:
      'Chunk, embed and store a document with all its chunks in one transaction; re-ingesting an id replaces it and ' +
      're-embeds only changed chunks. Needs an ingest role.',
  })
  async ingestDocument(
    @Arg('input', () => IngestDocumentInput) input: IngestDocumentInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestDocumentPayload> {
    return toPayload(await this.ingestion.ingestDocument(requireSession(ctx), input));
  }

  @Mutation(() => IngestDocumentsPayload, {
    description: 'Up to 100 documents in one transaction: all are written, or none. Ids must be distinct.',
  })
  async ingestDocuments(
    @Arg('inputs', () => [IngestDocumentInput]) inputs: IngestDocumentInput[],
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestDocumentsPayload> {
    return { results: (await this.ingestion.ingestDocuments(requireSession(ctx), inputs)).map(toPayload) };
  }

  @Mutation(() => Boolean, {
    description: 'Deletes the document and all its chunks. False when it did not exist.',
  })
  async deleteDocument(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return this.documentService.delete(requireSession(ctx), id);
  }

  @Mutation(() => SupportDocument, {
    description: 'Replaces the ACL of the document and all its chunks, without re-embedding.',
  })
  async updateDocumentAcl(
    @Arg('id', () => ID) id: string,
    @Arg('acl', () => [String]) acl: string[],
    @Ctx() ctx: GatewayContext,
  ): Promise<SupportDocument> {
    return this.documentService.updateAcl(requireSession(ctx), id, acl);
  }

  @Mutation(() => SupportDocument, {
    description: 'Replaces the metadata of the document and all its chunks, without re-embedding.',
  })
  async updateDocumentMetadata(
    @Arg('id', () => ID) id: string,
    @Arg('metadata', () => JSONScalar) metadata: unknown,
    @Ctx() ctx: GatewayContext,
  ): Promise<SupportDocument> {
    return this.documentService.updateMetadata(requireSession(ctx), id, metadata);
  }

  @Query(() => SupportDocument, { nullable: true, description: 'A document the caller may see, or null.' })
  async document(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: GatewayContext,
  ): Promise<SupportDocument | null> {
    return this.documentService.get(requireSession(ctx), id);
  }

  @Query(() => DocumentConnection, {
    description:
      "The caller's merchant's documents the caller may see (content managers see all), ordered by id.",
  })
  async documents(
    @Ctx() ctx: GatewayContext,
    @Arg('first', () => Int, { nullable: true, description: '1..100, default 20' }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
    @Arg('filter', () => DocumentFilter, { nullable: true }) filter?: DocumentFilter,
  ): Promise<DocumentConnection> {
    return this.documentService.list(
      requireSession(ctx),
      { first, after },
      { category: filter?.category ?? undefined, updatedSince: filter?.updatedSince ?? undefined },
    );
  }
}
