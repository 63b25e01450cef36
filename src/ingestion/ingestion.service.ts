import { type DataSource, type EntityManager } from 'typeorm';
import { type Identity } from '../auth/identity';
import { type ChunkingOptions, chunkMarkdown, chunkTicket, type TextChunk } from '../chunks/chunking/chunker';
import { type ChunkRepository, type ChunkSource, type NewChunkRow } from '../chunks/chunk.repository';
import { forbidden, notFound } from '../common/errors/domain-error';
import { type JsonObject } from '../common/graphql-scalars';
import { sha256 } from '../common/hash';
import { assertSourceId, assertText, normalizeAcl, normalizeMetadata } from '../common/validation';
import { type Config } from '../config/config';
import { documentCitation, ticketCitation } from '../documents/citation';
import { type DocumentRepository } from '../documents/document.repository';
import { type SupportDocument } from '../documents/support-document.entity';
import { type Embedder } from '../embeddings/embedder';
import { assertValidEmbeddings, embeddingFailed } from '../embeddings/embedding.errors';
import { type MerchantRepository } from '../merchants/merchant.repository';
import { type TicketRepository } from '../tickets/ticket.repository';
import { type TicketAuthor, TicketStatus } from '../tickets/ticket-status';
import { DomainError } from '../common/errors/domain-error';
import { badInput } from '../common/errors/domain-error';
import crypto from 'node:crypto';

export interface IngestDocumentCommand {
  id?: string | null;
  title: string;
  text: string;
  metadata?: unknown;
  acl: readonly string[];
}

export interface IngestTicketCommand {
  id: string;
  customerId: string;
  subject: string;
  status: TicketStatus;
  messages: readonly { author: TicketAuthor; body: string; sentAt?: Date | null }[];
  metadata?: unknown;
  acl: readonly string[];
}

export interface IngestResult<T> {
  source: T;
  chunkCount: number;
  deletedChunks: number;
  warnings: string[];
}

const MAX_TITLE_CHARS = 500;
const MAX_TICKET_MESSAGES = 1000;

/**
 * Writes documents and tickets with their chunks. Order matters: validate, chunk and embed first (slow, may
 * fail, touches no table), then write the source row and all its chunk rows in ONE transaction, so a reader
 * sees the old version or the new one and a failure anywhere leaves nothing behind.
 */
export class IngestionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly embedder: Embedder,
    private readonly merchants: MerchantRepository,
    private readonly documents: DocumentRepository,
    private readonly tickets: TicketRepository,
    private readonly chunks: ChunkRepository,
    private readonly config: Config,
    private readonly chunking?: ChunkingOptions,
  ) {}

  /** Ingestion changes what every agent of the merchant reads, so it takes a configured role. */
  assertMayIngest(identity: Identity): void {
    if (!identity.roles.some((r) => this.config.ingestRoles.includes(r))) {
      throw forbidden(`Ingestion requires one of the roles: ${this.config.ingestRoles.join(', ')}`);
    }
  }

  async ingestDocument(
    identity: Identity,
    cmd: IngestDocumentCommand,
  ): Promise<IngestResult<SupportDocument>> {
    this.assertMayIngest(identity);
    return this.writeDocument(identity.merchantId, cmd);
  }

  async ingestTicket(identity: Identity, cmd: IngestTicketCommand): Promise<IngestResult<{ id: string }>> {
    this.assertMayIngest(identity);
    return this.writeTicket(identity.merchantId, cmd);
  }

  /** For admin tools (seed, loader) that act for a merchant without a request identity. */
  async writeDocument(
    merchantId: string,
    cmd: IngestDocumentCommand,
  ): Promise<IngestResult<SupportDocument>> {
    const id =
      cmd.id === undefined || cmd.id === null ? `doc_${crypto.randomUUID()}` : assertSourceId('id', cmd.id);
    const title = assertText('title', cmd.title, MAX_TITLE_CHARS).trim();
    const text = assertText('text', cmd.text, this.config.limits.maxDocumentChars);
    const metadata = normalizeMetadata('metadata', cmd.metadata);
    const acl = normalizeAcl('acl', cmd.acl);

    const pieces = chunkMarkdown(title, text, this.chunking);
    if (pieces.length === 0) throw badInput('text has no content to index', { field: 'text' });
    const rows = await this.embedChunks(pieces, (c) => documentCitation(title, c));
    const source: ChunkSource = { kind: 'document', documentId: id };

    return this.dataSource.transaction(async (manager) => {
      await this.assertMerchant(manager, merchantId);
      const document = await this.documents.upsert(manager, merchantId, {
        id,
        title,
        body: text,
        contentHash: sha256(title, text),
        metadata,
        acl,
      });
      const { deleted } = await this.chunks.replaceSourceChunks(manager, merchantId, source, rows, {
        embeddingModel: this.embedder.model,
        metadata,
        acl,
      });
      return {
        source: document,
        chunkCount: rows.length,
        deletedChunks: deleted,
        warnings: aclWarnings(acl),
      };
    });
  }

  async writeTicket(merchantId: string, cmd: IngestTicketCommand): Promise<IngestResult<{ id: string }>> {
    const id = assertSourceId('id', cmd.id);
    const customerId = assertSourceId('customerId', cmd.customerId);
    const subject = assertText('subject', cmd.subject, MAX_TITLE_CHARS).trim();
    if (!Object.values(TicketStatus).includes(cmd.status))
      throw badInput('status is not a known ticket status');
    if (cmd.messages.length > MAX_TICKET_MESSAGES) {
      throw badInput(`messages has ${cmd.messages.length} entries; the limit is ${MAX_TICKET_MESSAGES}`);
    }
    const messages = cmd.messages.map((m, i) => ({
      author: m.author,
      body: assertText(`messages[${i}].body`, m.body, this.config.limits.maxDocumentChars),
      sentAt: m.sentAt ? m.sentAt.toISOString() : null,
    }));
    const total = messages.reduce((n, m) => n + m.body.length, subject.length);
    if (total > this.config.limits.maxDocumentChars) {
      throw badInput(
        `the ticket has ${total} characters; the limit is ${this.config.limits.maxDocumentChars}`,
      );
    }
    const metadata = normalizeMetadata('metadata', cmd.metadata);
    const acl = normalizeAcl('acl', cmd.acl);
    const pieces = chunkTicket(subject, messages, this.chunking);
    const rows = await this.embedChunks(pieces, () => ticketCitation(id));

    return this.dataSource.transaction(async (manager) => {
      await this.assertMerchant(manager, merchantId);
      await this.tickets.upsert(manager, merchantId, {
        id,
        customerId,
        subject,
        status: cmd.status,
        messages,
        contentHash: sha256(subject, ...messages.map((m) => `${m.author}:${m.body}`)),
        metadata,
        acl,
      });
      const { deleted } = await this.chunks.replaceSourceChunks(
        manager,
        merchantId,
        { kind: 'ticket', ticketId: id },
        rows,
        { embeddingModel: this.embedder.model, metadata, acl },
      );
      return { source: { id }, chunkCount: rows.length, deletedChunks: deleted, warnings: aclWarnings(acl) };
    });
  }

  private async embedChunks(pieces: TextChunk[], citation: (c: TextChunk) => string): Promise<NewChunkRow[]> {
    let vectors: number[][];
    try {
      vectors = await this.embedder.embed(pieces.map((p) => p.text));
    } catch (err) {
      if (err instanceof DomainError) throw err;
      throw embeddingFailed(err instanceof Error ? err.message : 'the embedding provider failed');
    }
    assertValidEmbeddings(vectors, pieces.length, this.embedder.dimensions);
    return pieces.map((p, i) => ({
      chunkIndex: p.index,
      text: p.text,
      contentHash: sha256(p.text),
      headingPath: p.headingPath,
      citation: citation(p),
      embedding: vectors[i],
    }));
  }

  private async assertMerchant(manager: EntityManager, merchantId: string): Promise<void> {
    if (!(await this.merchants.exists(manager, merchantId))) {
      throw notFound(`Merchant ${merchantId} is not provisioned; ask an administrator to create it first`);
    }
  }
}

function aclWarnings(acl: string[]): string[] {
  return acl.length === 0
    ? ['The ACL is empty: nobody can read this content until principals are added.']
    : [];
}

export type { JsonObject };
