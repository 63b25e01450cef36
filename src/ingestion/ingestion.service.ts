import crypto from 'node:crypto';
import { type EntityManager } from 'typeorm';
import { assertMayManageContent } from '../auth/permissions';
import { type ChunkingOptions, chunkMarkdown, chunkTicket, type TextChunk } from '../chunks/chunking/chunker';
import { type ChunkRepository, type ChunkSource, type NewChunkRow } from '../chunks/chunk.repository';
import { badInput, DomainError, notFound } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type JsonObject } from '../common/graphql-scalars';
import { sha256 } from '../common/hash';
import {
  assertDate,
  assertSourceId,
  assertText,
  normalizeAcl,
  normalizeMetadata,
} from '../common/validation';
import { type Config } from '../config/config';
import { type CorpusVersion, type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type Db, type TenantSession } from '../db/session';
import { documentCitation, ticketCitation } from '../documents/citation';
import { type DocumentRepository } from '../documents/document.repository';
import { type SupportDocument } from '../documents/support-document.entity';
import { type EmbedderRegistry } from '../embeddings/embedder.registry';
import { NO_SERVICE_EVENTS, type ServiceEvents } from '../ops/service-events';
import { type Ticket } from '../tickets/ticket.entity';
import { type TicketRepository } from '../tickets/ticket.repository';
import { type TicketAuthor, TicketStatus } from '../tickets/ticket-status';

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

export interface IngestOutcome<T> {
  source: T;
  chunkCount: number;
  /** Chunks whose vectors were computed by this call (in the active corpus version). */
  embeddedChunks: number;
  /** Chunks whose vectors were kept from before or found in the cache. */
  reusedChunks: number;
  /** Chunks of the previous version whose text is gone. */
  deletedChunks: number;
  /** Nothing was written: same text, ACL and metadata as stored. */
  unchanged: boolean;
  /** The source did not exist before. */
  created: boolean;
  warnings: string[];
}

export const MAX_TITLE_CHARS = 500;
export const MAX_TICKET_MESSAGES = 1000;
export const MAX_BATCH_DOCUMENTS = 100;

interface Piece {
  index: number;
  text: string;
  hash: string;
  headingPath: string[];
  citation: string;
}

interface PreparedSource<T> {
  source: ChunkSource;
  pieces: Piece[];
  metadata: JsonObject;
  acl: string[];
  /** Upserts the document or ticket row; reports whether it changed. */
  writeRow(manager: EntityManager): Promise<{ row: T; changed: boolean; created: boolean }>;
}

/** The corpus versions changed between embedding and writing (a flip happened): embed again for the new ones. */
class VersionsChanged extends Error {}

/**
 * Writes documents and tickets with their chunks. Order matters: validate, chunk and embed first (slow, may
 * fail, touches no table), then write the source rows and all their chunk rows in ONE transaction, so a reader
 * sees the old version or the new one and a failure anywhere leaves nothing behind.
 *
 * Incremental: a chunk whose text is unchanged keeps its stored vector (looked up by content hash in the same
 * corpus version); only new text is embedded. While a model change is being built (a `building` corpus version),
 * every write goes to both versions, so the new version never falls behind.
 */
export class IngestionService {
  constructor(
    /** The owner's connection, for admin tools (seed, loader) that write for a merchant without a caller. */
    private readonly admin: Db,
    private readonly embedders: EmbedderRegistry,
    private readonly corpus: CorpusVersionRepository,
    private readonly documents: DocumentRepository,
    private readonly tickets: TicketRepository,
    private readonly chunks: ChunkRepository,
    private readonly config: Config,
    /** Told after every committed write (the dedicated-index maintenance watches merchants grow). */
    private readonly onCommitted?: (merchantId: string) => void,
    private readonly events: ServiceEvents = NO_SERVICE_EVENTS,
  ) {}

  private get chunking(): ChunkingOptions {
    return this.config.chunking;
  }

  async ingestDocument(
    session: TenantSession,
    cmd: IngestDocumentCommand,
  ): Promise<IngestOutcome<SupportDocument>> {
    assertMayManageContent(session.identity, this.config);
    return (await this.documentsWith(session, session.scope.merchantId, [cmd]))[0];
  }

  async ingestDocuments(
    session: TenantSession,
    cmds: readonly IngestDocumentCommand[],
  ): Promise<IngestOutcome<SupportDocument>[]> {
    assertMayManageContent(session.identity, this.config);
    return this.documentsWith(session, session.scope.merchantId, cmds);
  }

  async ingestTicket(session: TenantSession, cmd: IngestTicketCommand): Promise<IngestOutcome<Ticket>> {
    assertMayManageContent(session.identity, this.config);
    return this.ticketWith(session, session.scope.merchantId, cmd);
  }

  /** For admin tools (seed, loader) that act for a merchant without a request identity: runs as the owner. */
  async writeDocument(
    merchantId: string,
    cmd: IngestDocumentCommand,
  ): Promise<IngestOutcome<SupportDocument>> {
    return (await this.documentsWith(this.admin, merchantId, [cmd]))[0];
  }

  /** All documents or none: one transaction for the whole batch. Admin tools only (runs as the owner). */
  async writeDocuments(
    merchantId: string,
    cmds: readonly IngestDocumentCommand[],
  ): Promise<IngestOutcome<SupportDocument>[]> {
    return this.documentsWith(this.admin, merchantId, cmds);
  }

  private async documentsWith(
    db: Db,
    merchantId: string,
    cmds: readonly IngestDocumentCommand[],
  ): Promise<IngestOutcome<SupportDocument>[]> {
    if (cmds.length === 0) return [];
    if (cmds.length > MAX_BATCH_DOCUMENTS) {
      throw badInput(`a batch holds at most ${MAX_BATCH_DOCUMENTS} documents; got ${cmds.length}`, {
        field: 'inputs',
      });
    }
    const prepared = cmds.map((cmd, i) =>
      this.prepareDocument(merchantId, cmd, cmds.length > 1 ? `inputs[${i}].` : ''),
    );
    const seen = new Set<string>();
    for (const p of prepared) {
      const id = (p.source as { documentId: string }).documentId;
      if (seen.has(id))
        throw badInput(`document id ${id} appears more than once in the batch`, { field: 'id' });
      seen.add(id);
    }
    return this.writeSources(db, merchantId, prepared);
  }

  /**
   * Validates and chunks a document exactly as writeDocument would, writing nothing (the folder loader checks
   * every file before the first write).
   */
  validateDocument(cmd: IngestDocumentCommand): void {
    this.prepareDocument('', cmd, '');
  }

  /** For admin tools (seed) acting for a merchant without a caller: runs as the owner. */
  async writeTicket(merchantId: string, cmd: IngestTicketCommand): Promise<IngestOutcome<Ticket>> {
    return this.ticketWith(this.admin, merchantId, cmd);
  }

  private async ticketWith(
    db: Db,
    merchantId: string,
    cmd: IngestTicketCommand,
  ): Promise<IngestOutcome<Ticket>> {
    const id = assertSourceId('id', cmd.id);
    const customerId = assertSourceId('customerId', cmd.customerId);
    const subject = assertText('subject', cmd.subject, MAX_TITLE_CHARS).trim();
    if (!Object.values(TicketStatus).includes(cmd.status))
      throw badInput('status is not a known ticket status', { field: 'status' });
    if (cmd.messages.length === 0)
      throw badInput('a ticket needs at least one message', { field: 'messages' });
    if (cmd.messages.length > MAX_TICKET_MESSAGES) {
      throw badInput(`messages has ${cmd.messages.length} entries; the limit is ${MAX_TICKET_MESSAGES}`, {
        field: 'messages',
      });
    }
    const messages = cmd.messages.map((m, i) => {
      if (m.sentAt !== undefined && m.sentAt !== null) assertDate(`messages[${i}].sentAt`, m.sentAt);
      return {
        author: m.author,
        body: assertText(`messages[${i}].body`, m.body, this.config.limits.maxDocumentChars),
        sentAt: m.sentAt ? m.sentAt.toISOString() : null,
      };
    });
    const total = messages.reduce((n, m) => n + m.body.length, subject.length);
    if (total > this.config.limits.maxDocumentChars) {
      throw badInput(
        `the ticket has ${total} characters; the limit is ${this.config.limits.maxDocumentChars}`,
        { field: 'messages' },
      );
    }
    const metadata = normalizeMetadata('metadata', cmd.metadata);
    const acl = normalizeAcl('acl', cmd.acl);
    const pieces = toPieces(chunkTicket(subject, messages, this.chunking), () => ticketCitation(id));
    const [outcome] = await this.writeSources<Ticket>(db, merchantId, [
      {
        source: { kind: 'ticket', ticketId: id },
        pieces,
        metadata,
        acl,
        writeRow: (manager) =>
          this.tickets.upsert(manager, merchantId, {
            id,
            customerId,
            subject,
            status: cmd.status,
            messages,
            contentHash: sha256(subject, ...messages.map((m) => `${m.author}:${m.body}`)),
            metadata,
            acl,
          }),
      },
    ]);
    return outcome;
  }

  private prepareDocument(
    merchantId: string,
    cmd: IngestDocumentCommand,
    prefix: string,
  ): PreparedSource<SupportDocument> {
    const id =
      cmd.id === undefined || cmd.id === null
        ? `doc_${crypto.randomUUID()}`
        : assertSourceId(`${prefix}id`, cmd.id);
    const title = assertText(`${prefix}title`, cmd.title, MAX_TITLE_CHARS).trim();
    const text = assertText(`${prefix}text`, cmd.text, this.config.limits.maxDocumentChars);
    const metadata = normalizeMetadata(`${prefix}metadata`, cmd.metadata);
    const acl = normalizeAcl(`${prefix}acl`, cmd.acl);
    const pieces = toPieces(chunkMarkdown(title, text, this.chunking), (c) => documentCitation(title, c));
    if (pieces.length === 0)
      throw badInput(`${prefix}text has no content to index`, { field: `${prefix}text` });
    return {
      source: { kind: 'document', documentId: id },
      pieces,
      metadata,
      acl,
      writeRow: (manager) =>
        this.documents.upsert(manager, merchantId, {
          id,
          title,
          body: text,
          contentHash: sha256(title, text),
          metadata,
          acl,
        }),
    };
  }

  private async writeSources<T>(
    db: Db,
    merchantId: string,
    prepared: PreparedSource<T>[],
  ): Promise<IngestOutcome<T>[]> {
    for (let attempt = 1; ; attempt++) {
      const live = await db.transaction((m) => this.corpus.findLive(m, merchantId));
      if (!live.active)
        throw notFound(`Merchant ${merchantId} is not provisioned; ask an administrator to create it first`);
      const targets = [live.active, ...(live.building ? [live.building] : [])];
      const embedded = new Map<number, { vectors: number[][]; computed: boolean[] }>();
      for (const v of targets) embedded.set(v.version, await this.embedFor(db, merchantId, v, prepared));
      try {
        const committed = await db.transaction(async (manager) => {
          if (!(await this.corpus.lockMerchant(manager, merchantId, 'share'))) {
            throw notFound(
              `Merchant ${merchantId} is not provisioned; ask an administrator to create it first`,
            );
          }
          const now = await this.corpus.findLive(manager, merchantId);
          if (
            now.active?.version !== live.active!.version ||
            now.building?.version !== live.building?.version
          ) {
            throw new VersionsChanged();
          }
          const outcomes: IngestOutcome<T>[] = [];
          let offset = 0;
          for (const p of prepared) {
            const { row, changed, created } = await p.writeRow(manager);
            let activeOutcome: Omit<IngestOutcome<T>, 'source' | 'warnings'> | undefined;
            for (const v of targets) {
              const { vectors, computed } = embedded.get(v.version)!;
              const rows: NewChunkRow[] = p.pieces.map((x, j) => ({
                chunkIndex: x.index,
                text: x.text,
                contentHash: x.hash,
                headingPath: x.headingPath,
                citation: x.citation,
                embedding: vectors[offset + j],
              }));
              const sync = await this.chunks.syncSourceChunks(
                manager,
                merchantId,
                p.source,
                v.version,
                rows,
                {
                  embeddingModel: v.embeddingModel,
                  metadata: p.metadata,
                  acl: p.acl,
                },
              );
              if (v.version === live.active!.version) {
                const fresh = computed.slice(offset, offset + p.pieces.length).filter(Boolean).length;
                activeOutcome = {
                  chunkCount: p.pieces.length,
                  embeddedChunks: fresh,
                  reusedChunks: p.pieces.length - fresh,
                  deletedChunks: countGone(
                    sync.previousHashes,
                    p.pieces.map((x) => x.hash),
                  ),
                  unchanged: !changed && sync.inserted === 0 && sync.removed === 0,
                  created,
                };
              }
            }
            outcomes.push({ source: row, ...activeOutcome!, warnings: aclWarnings(p.acl) });
            offset += p.pieces.length;
          }
          return outcomes;
        });
        this.onCommitted?.(merchantId);
        this.events.sourcesWritten(prepared[0].source.kind, committed);
        return committed;
      } catch (err) {
        if (err instanceof VersionsChanged) {
          if (attempt < 3) continue;
          throw new DomainError(
            ErrorCode.SERVICE_UNAVAILABLE,
            'The merchant is being switched to another embedding model right now; retry in a moment',
          );
        }
        throw err;
      }
    }
  }

  /** Vectors for every piece of every source, for one corpus version: stored ones by content hash, then the cache, then the provider. */
  private async embedFor<T>(db: Db, merchantId: string, v: CorpusVersion, prepared: PreparedSource<T>[]) {
    const pieces = prepared.flatMap((p) => p.pieces);
    const known = await db.transaction((m) =>
      this.chunks.findVectorsByHash(
        m,
        merchantId,
        v,
        pieces.map((x) => x.hash),
      ),
    );
    return this.embedders.embed(
      this.embedders.get(v.embeddingModel, v.dimensions),
      pieces.map((x) => x.text),
      known,
    );
  }
}

function toPieces(chunks: TextChunk[], citation: (c: TextChunk) => string): Piece[] {
  return chunks.map((c) => ({
    index: c.index,
    text: c.text,
    hash: sha256(c.text),
    headingPath: c.headingPath,
    citation: citation(c),
  }));
}

/** Old chunks whose text no longer appears (as a multiset: two equal paragraphs count twice). */
function countGone(previous: readonly string[], next: readonly string[]): number {
  const remaining = new Map<string, number>();
  for (const h of next) remaining.set(h, (remaining.get(h) ?? 0) + 1);
  let gone = 0;
  for (const h of previous) {
    const n = remaining.get(h) ?? 0;
    if (n > 0) remaining.set(h, n - 1);
    else gone++;
  }
  return gone;
}

function aclWarnings(acl: string[]): string[] {
  return acl.length === 0
    ? ['The ACL is empty: nobody can read this content until principals are added.']
    : [];
}
