import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { JSONScalar } from '../common/graphql-scalars';
import { type GatewayContext, requireSession } from '../graphql/context';
import { DocumentService } from './document.service';
import { DocumentConnection, DocumentFilter } from './dtos/document-list.type';
import { SupportDocument } from './support-document.entity';

@Resolver()
export class DocumentResolver {
  constructor(private readonly documentService: DocumentService) {}

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
