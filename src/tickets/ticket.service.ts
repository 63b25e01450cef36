import { assertMayManageContent } from '../auth/permissions';
import { type ChunkRepository } from '../chunks/chunk.repository';
import { badInput, notFound } from '../common/errors/domain-error';
import { decodeCursor, pageSize, toPage } from '../common/pagination/cursor';
import { assertDate, assertSourceId, normalizeAcl, normalizeMetadata } from '../common/validation';
import { type Config } from '../config/config';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type TenantSession } from '../db/session';
import { type Ticket } from './ticket.entity';
import { type TicketListFilter, type TicketRepository } from './ticket.repository';
import { TicketStatus } from './ticket-status';

/** Reading and managing tickets; ingestion is IngestionService. Every method is scoped by the caller. */
export class TicketService {
  constructor(
    private readonly tickets: TicketRepository,
    private readonly chunks: ChunkRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly config: Config,
  ) {}

  async get(session: TenantSession, id: string): Promise<Ticket | null> {
    const [t] = await this.getMany(session, [assertSourceId('id', id)]);
    return t ?? null;
  }

  /** The tickets among `ids` the caller may see; one query. */
  async getMany(session: TenantSession, ids: readonly string[]): Promise<Ticket[]> {
    return session.transaction((m) => this.tickets.findVisibleByIds(m, session.access, ids));
  }

  async list(
    session: TenantSession,
    page: { first?: number | null; after?: string | null },
    filter: TicketListFilter,
  ) {
    const limit = pageSize(page.first);
    if (filter.customerId !== undefined) assertSourceId('filter.customerId', filter.customerId);
    if (filter.updatedSince !== undefined) assertDate('filter.updatedSince', filter.updatedSince);
    const after = decodeCursor(page.after);
    const rows = await session.transaction((m) =>
      this.tickets.listVisible(m, session.access, { after, limit }, filter),
    );
    return toPage(rows, limit);
  }

  async recentForCustomer(session: TenantSession, customerId: string, limit: number): Promise<Ticket[]> {
    assertSourceId('customerId', customerId);
    return session.transaction((m) => this.tickets.listForCustomer(m, session.access, customerId, limit));
  }

  async updateAcl(session: TenantSession, id: string, acl: readonly string[]): Promise<Ticket> {
    assertMayManageContent(session.identity, this.config);
    const normalized = normalizeAcl('acl', acl);
    return this.update(session, id, { acl: normalized }, { acl: normalized });
  }

  async updateMetadata(session: TenantSession, id: string, metadata: unknown): Promise<Ticket> {
    assertMayManageContent(session.identity, this.config);
    const normalized = normalizeMetadata('metadata', metadata);
    return this.update(session, id, { metadata: normalized }, { metadata: normalized });
  }

  /** A status change touches the ticket row only: the text did not change, so nothing is re-embedded. */
  async updateStatus(session: TenantSession, id: string, status: TicketStatus): Promise<Ticket> {
    assertMayManageContent(session.identity, this.config);
    if (!Object.values(TicketStatus).includes(status))
      throw badInput('status is not a known ticket status', { field: 'status' });
    return this.update(session, id, { status }, {});
  }

  async delete(session: TenantSession, id: string): Promise<boolean> {
    assertMayManageContent(session.identity, this.config);
    assertSourceId('id', id);
    const { merchantId } = session.scope;
    return session.transaction(async (m) => {
      await this.corpus.lockMerchant(m, merchantId, 'share');
      return this.tickets.delete(m, merchantId, id);
    });
  }

  private async update(
    session: TenantSession,
    id: string,
    change: { acl?: string[]; metadata?: Record<string, unknown>; status?: TicketStatus },
    chunkChange: { acl?: string[]; metadata?: Record<string, unknown> },
  ): Promise<Ticket> {
    assertSourceId('id', id);
    const { merchantId } = session.scope;
    return session.transaction(async (m) => {
      await this.corpus.lockMerchant(m, merchantId, 'share');
      const ticket = await this.tickets.update(m, merchantId, id, change);
      if (!ticket) throw notFound(`Ticket ${id} does not exist`);
      await this.chunks.updateSourceAccess(m, merchantId, { kind: 'ticket', ticketId: id }, chunkChange);
      return ticket;
    });
  }
}
