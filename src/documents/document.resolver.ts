import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { type GatewayContext, requireIdentity } from '../graphql/context';
import { IngestionService } from '../ingestion/ingestion.service';
import { IngestDocumentInput } from './dtos/ingest-document.input';
import { IngestDocumentPayload } from './dtos/ingest-document.payload';

@Resolver()
export class DocumentResolver {
  constructor(private readonly ingestion: IngestionService) {}

  @Mutation(() => IngestDocumentPayload, {
    description:
      'Chunk, embed and store a document with all its chunks in one transaction. Needs an ingest role.',
  })
  async ingestDocument(
    @Arg('input', () => IngestDocumentInput) input: IngestDocumentInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestDocumentPayload> {
    const identity = requireIdentity(ctx);
    const result = await this.ingestion.ingestDocument(identity, input);
    return {
      document: result.source,
      chunkCount: result.chunkCount,
      deletedChunks: result.deletedChunks,
      warnings: result.warnings,
    };
  }
}
