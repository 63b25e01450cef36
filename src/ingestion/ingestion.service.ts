import { assertMayManageContent } from '../auth/permissions';
import { badInput } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type Db, type TenantSession } from '../db/session';
import { type DocumentRepository, type DocumentWrite } from '../documents/document.repository';
import { type SupportDocument } from '../documents/support-document.entity';
import { type Ticket } from '../tickets/ticket.entity';
import {
  type IngestDocumentCommand,
  type IngestOutcome,
  type IngestTicketCommand,
  MAX_BATCH_DOCUMENTS,
  MAX_BATCH_TICKETS,
} from './ingestion.types';
import {
  checkDocument,
  chunkDocument,
  type PreparationRules,
  preparationRules,
  prepareTicket,
} from './source-preparation';
import { type SourceWriter } from './source-writer';
import { TicketGroupCommit } from './ticket-group-commit';

export {
  type IngestDocumentCommand,
  type IngestOutcome,
  type IngestTicketCommand,
  MAX_BATCH_DOCUMENTS,
  MAX_BATCH_TICKETS,
  MAX_TICKET_MESSAGES,
  MAX_TITLE_CHARS,
} from './ingestion.types';

/**
 * Ingestion of documents and tickets: who may (an ingest role), what is accepted (source-preparation.ts) and the
 * transactional write (source-writer.ts). Request methods take the caller's TenantSession; `write*` methods are
 * for admin tools (seed, the folder loader) acting for a merchant without a caller, on the owner's connection.
 */
export class IngestionService {
  private readonly ticketGroups: TicketGroupCommit;

  constructor(
    /** The owner's connection, for admin tools (seed, loader) that write for a merchant without a caller. */
    private readonly admin: Db,
    private readonly writer: SourceWriter,
    private readonly documents: DocumentRepository,
    private readonly config: Config,
  ) {
    this.ticketGroups = new TicketGroupCommit(writer);
  }

  private get rules(): PreparationRules {
    return preparationRules(this.config);
  }

  async ingestDocument(
    session: TenantSession,
    cmd: IngestDocumentCommand,
  ): Promise<IngestOutcome<SupportDocument>> {
    assertMayManageContent(session.identity, this.config);
    return (await this.documentsWith(session, session.scope.merchantId, [cmd]))[0];
  }

  /** Up to MAX_BATCH_DOCUMENTS documents in one transaction: all are written, or none. */
  async ingestDocuments(
    session: TenantSession,
    cmds: readonly IngestDocumentCommand[],
  ): Promise<IngestOutcome<SupportDocument>[]> {
    assertMayManageContent(session.identity, this.config);
    return this.documentsWith(session, session.scope.merchantId, cmds);
  }

  /** One ticket; concurrent ones of the same merchant share a transaction (ticket-group-commit.ts). */
  async ingestTicket(session: TenantSession, cmd: IngestTicketCommand): Promise<IngestOutcome<Ticket>> {
    assertMayManageContent(session.identity, this.config);
    return this.ticketGroups.write(session, prepareTicket(this.rules, cmd));
  }

  /**
   * Up to MAX_BATCH_TICKETS tickets in one transaction, all or none: a help desk replaying a day of tickets sends
   * them in batches, one transaction and one statement per table for the whole batch instead of two transactions
   * per ticket.
   */
  async ingestTickets(
    session: TenantSession,
    cmds: readonly IngestTicketCommand[],
  ): Promise<IngestOutcome<Ticket>[]> {
    assertMayManageContent(session.identity, this.config);
    if (cmds.length === 0) return [];
    if (cmds.length > MAX_BATCH_TICKETS) {
      throw badInput(`a batch holds at most ${MAX_BATCH_TICKETS} tickets; got ${cmds.length}`, {
        field: 'inputs',
      });
    }
    const prepared = cmds.map((cmd, i) =>
      prepareTicket(this.rules, cmd, cmds.length > 1 ? `inputs[${i}].` : ''),
    );
    const seen = new Set<string>();
    for (const p of prepared) {
      if (seen.has(p.row.id))
        throw badInput(`ticket id ${p.row.id} appears more than once in the batch`, { field: 'id' });
      seen.add(p.row.id);
    }
    return this.writer.write(session, session.scope.merchantId, prepared);
  }

  /** For admin tools (seed, loader) that act for a merchant without a request identity: runs as the owner. */
  async writeDocument(
    merchantId: string,
    cmd: IngestDocumentCommand,
  ): Promise<IngestOutcome<SupportDocument>> {
    return (await this.documentsWith(this.admin, merchantId, [cmd]))[0];
  }

  /**
   * All documents or none: one transaction for the whole batch. Admin tools only (runs as the owner). Goes straight
   * to chunking and writing, without the re-ingest fast path's read: its caller, the folder loader, has already
   * skipped what unchangedDocuments found stored exactly so.
   */
  async writeDocuments(
    merchantId: string,
    cmds: readonly IngestDocumentCommand[],
  ): Promise<IngestOutcome<SupportDocument>[]> {
    return this.documentsWith(this.admin, merchantId, cmds, { fastPath: false });
  }

  /** For admin tools (seed) acting for a merchant without a caller: runs as the owner. */
  async writeTicket(merchantId: string, cmd: IngestTicketCommand): Promise<IngestOutcome<Ticket>> {
    return (await this.writer.write(this.admin, merchantId, [prepareTicket(this.rules, cmd)]))[0];
  }

  /**
   * Every check writeDocument makes except chunking, writing nothing; returns the row the document becomes (the
   * folder loader checks a whole folder with it before the first write).
   */
  checkDocument(cmd: IngestDocumentCommand): DocumentWrite {
    return checkDocument(this.rules, cmd);
  }

  /**
   * Ids of the given rows that are stored exactly so (same title and text, ACL, metadata, chunked with the same
   * chunker and settings): the folder loader skips them without chunking or embedding, which makes a rerun after a
   * crash continue cheaply. Admin tools only.
   */
  async unchangedDocuments(merchantId: string, rows: readonly DocumentWrite[]): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const stored = await this.admin.transaction((m) =>
      this.documents.fingerprints(
        m,
        merchantId,
        rows.map((r) => r.id),
      ),
    );
    return new Set(
      rows
        .filter((r) => {
          const s = stored.get(r.id);
          return (
            s !== undefined &&
            s.contentHash === r.contentHash &&
            s.chunkedWith === r.chunkedWith &&
            canonicalJson(s.acl) === canonicalJson(r.acl) &&
            canonicalJson(s.metadata) === canonicalJson(r.metadata)
          );
        })
        .map((r) => r.id),
    );
  }

  private async documentsWith(
    db: Db,
    merchantId: string,
    cmds: readonly IngestDocumentCommand[],
    { fastPath }: { fastPath: boolean } = { fastPath: true },
  ): Promise<IngestOutcome<SupportDocument>[]> {
    if (cmds.length === 0) return [];
    if (cmds.length > MAX_BATCH_DOCUMENTS) {
      throw badInput(`a batch holds at most ${MAX_BATCH_DOCUMENTS} documents; got ${cmds.length}`, {
        field: 'inputs',
      });
    }
    const prefix = (i: number): string => (cmds.length > 1 ? `inputs[${i}].` : '');
    const rows = cmds.map((cmd, i) => checkDocument(this.rules, cmd, prefix(i)));
    const seen = new Set<string>();
    for (const row of rows) {
      if (seen.has(row.id))
        throw badInput(`document id ${row.id} appears more than once in the batch`, { field: 'id' });
      seen.add(row.id);
    }
    // Checked, not yet chunked: a re-ingest of documents stored exactly so is answered from one read.
    const unchanged = fastPath ? await this.writer.findUnchangedDocuments(db, merchantId, rows) : null;
    if (unchanged) return unchanged;
    return this.writer.write(
      db,
      merchantId,
      rows.map((row, i) => chunkDocument(this.rules, row, prefix(i))),
    );
  }
}

/** JSON with object keys sorted: jsonb does not keep key order, so stored and given metadata compare this way. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
