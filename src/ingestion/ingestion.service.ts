import { assertMayManageContent } from '../auth/permissions';
import { badInput } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { type Db, type TenantSession } from '../db/session';
import { type SupportDocument } from '../documents/support-document.entity';
import { type Ticket } from '../tickets/ticket.entity';
import {
  type IngestDocumentCommand,
  type IngestOutcome,
  type IngestTicketCommand,
  MAX_BATCH_DOCUMENTS,
} from './ingestion.types';
import { type PreparationRules, prepareDocument, prepareTicket } from './source-preparation';
import { type SourceWriter } from './source-writer';

export {
  type IngestDocumentCommand,
  type IngestOutcome,
  type IngestTicketCommand,
  MAX_BATCH_DOCUMENTS,
  MAX_TICKET_MESSAGES,
  MAX_TITLE_CHARS,
} from './ingestion.types';

/**
 * Ingestion of documents and tickets: who may (an ingest role), what is accepted (source-preparation.ts) and the
 * transactional write (source-writer.ts). Request methods take the caller's TenantSession; `write*` methods are
 * for admin tools (seed, the folder loader) acting for a merchant without a caller, on the owner's connection.
 */
export class IngestionService {
  constructor(
    /** The owner's connection, for admin tools (seed, loader) that write for a merchant without a caller. */
    private readonly admin: Db,
    private readonly writer: SourceWriter,
    private readonly config: Config,
  ) {}

  private get rules(): PreparationRules {
    return { maxDocumentChars: this.config.limits.maxDocumentChars, chunking: this.config.chunking };
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

  async ingestTicket(session: TenantSession, cmd: IngestTicketCommand): Promise<IngestOutcome<Ticket>> {
    assertMayManageContent(session.identity, this.config);
    return (await this.writer.write(session, session.scope.merchantId, [prepareTicket(this.rules, cmd)]))[0];
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

  /** For admin tools (seed) acting for a merchant without a caller: runs as the owner. */
  async writeTicket(merchantId: string, cmd: IngestTicketCommand): Promise<IngestOutcome<Ticket>> {
    return (await this.writer.write(this.admin, merchantId, [prepareTicket(this.rules, cmd)]))[0];
  }

  /**
   * Validates and chunks a document exactly as writeDocument would, writing nothing (the folder loader checks
   * files before writing them).
   */
  validateDocument(cmd: IngestDocumentCommand): void {
    prepareDocument(this.rules, cmd);
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
      prepareDocument(this.rules, cmd, cmds.length > 1 ? `inputs[${i}].` : ''),
    );
    const seen = new Set<string>();
    for (const p of prepared) {
      if (seen.has(p.row.id))
        throw badInput(`document id ${p.row.id} appears more than once in the batch`, { field: 'id' });
      seen.add(p.row.id);
    }
    return this.writer.write(db, merchantId, prepared);
  }
}
