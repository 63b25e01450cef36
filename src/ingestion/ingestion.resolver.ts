import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { type GatewayContext, requireSession } from '../graphql/context';
import { IngestDocumentInput } from './dtos/ingest-document.input';
import { IngestDocumentPayload, IngestDocumentsPayload } from './dtos/ingest-document.payload';
import { IngestTicketInput } from './dtos/ingest-ticket.input';
import { IngestTicketPayload, IngestTicketsPayload } from './dtos/ingest-ticket.payload';
import { type IngestOutcome } from './ingestion.types';
import { IngestionService } from './ingestion.service';
import { type SupportDocument } from '../documents/support-document.entity';
import { type Ticket } from '../tickets/ticket.entity';

function counts<T>(o: IngestOutcome<T>) {
  return {
    chunkCount: o.chunkCount,
    embeddedChunks: o.embeddedChunks,
    reusedChunks: o.reusedChunks,
    deletedChunks: o.deletedChunks,
    unchanged: o.unchanged,
    warnings: o.warnings,
  };
}

const toDocumentPayload = (o: IngestOutcome<SupportDocument>): IngestDocumentPayload => ({
  document: o.source,
  ...counts(o),
});

const toTicketPayload = (o: IngestOutcome<Ticket>): IngestTicketPayload => ({
  ticket: o.source,
  ...counts(o),
});

/** The write side of documents and tickets: chunk, embed, store. Reading and managing them is documents/ and tickets/. */
@Resolver()
export class IngestionResolver {
  constructor(private readonly ingestion: IngestionService) {}

  @Mutation(() => IngestDocumentPayload, {
    description:
      'Chunk, embed and store a document with all its chunks in one transaction; re-ingesting an id replaces it and ' +
      're-embeds only changed chunks. Needs an ingest role.',
  })
  async ingestDocument(
    @Arg('input', () => IngestDocumentInput) input: IngestDocumentInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestDocumentPayload> {
    return toDocumentPayload(await this.ingestion.ingestDocument(requireSession(ctx), input));
  }

  @Mutation(() => IngestDocumentsPayload, {
    description: 'Up to 100 documents in one transaction: all are written, or none. Ids must be distinct.',
  })
  async ingestDocuments(
    @Arg('inputs', () => [IngestDocumentInput]) inputs: IngestDocumentInput[],
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestDocumentsPayload> {
    return {
      results: (await this.ingestion.ingestDocuments(requireSession(ctx), inputs)).map(toDocumentPayload),
    };
  }

  @Mutation(() => IngestTicketPayload, {
    description:
      'Chunk, embed and store a ticket in one transaction; an update re-embeds only changed text. Needs an ingest role.',
  })
  async ingestTicket(
    @Arg('input', () => IngestTicketInput) input: IngestTicketInput,
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestTicketPayload> {
    return toTicketPayload(await this.ingestion.ingestTicket(requireSession(ctx), input));
  }

  @Mutation(() => IngestTicketsPayload, {
    description:
      'Up to 100 tickets in one transaction: all are written, or none. Ids must be distinct. For replaying a help ' +
      'desk: one transaction for the batch instead of two per ticket.',
  })
  async ingestTickets(
    @Arg('inputs', () => [IngestTicketInput]) inputs: IngestTicketInput[],
    @Ctx() ctx: GatewayContext,
  ): Promise<IngestTicketsPayload> {
    return {
      results: (await this.ingestion.ingestTickets(requireSession(ctx), inputs)).map(toTicketPayload),
    };
  }
}
