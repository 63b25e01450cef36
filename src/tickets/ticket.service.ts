import { type DataSource } from 'typeorm';
import { type Identity } from '../auth/identity';
import { assertMayManageContent, type ContentAccess, contentAccess } from '../auth/permissions';
import { type ChunkRepository } from '../chunks/chunk.repository';
import { badInput, notFound } from '../common/errors/domain-error';
import { decodeCursor, pageSize, toPage } from '../common/pagination/cursor';
import { assertDate, assertSourceId, normalizeAcl, normalizeMetadata } from '../common/validation';
import { type Config } from '../config/config';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type Ticket } from './ticket.entity';
import { type TicketListFilter, type TicketRepository } from './ticket.repository';
import { TicketStatus } from './ticket-status';

/** Reading and managing tickets; ingestion is IngestionService. Every method is scoped by the caller. */
export class TicketService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tickets: TicketRepository,
    private readonly chunks: ChunkRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly config: Config,
  ) {}

  private access(identity: Identity): ContentAccess {
    return contentAccess(identity, this.config);
  }

  async get(identity: Identity, id: string): Promise<Ticket | null> {
    const [t] = await this.getMany(identity, [assertSourceId('id', id)]);
    return t ?? null;
  }

  /** The tickets among `ids` the caller may see; one query. */
  async getMany(identity: Identity, ids: readonly string[]): Promise<Ticket[]> {
    return this.tickets.findVisibleByIds(this.dataSource.manager, this.access(identity), ids);
  }

  async list(
    identity: Identity,
    page: { first?: number | null; after?: string | null },
    filter: TicketListFilter,
  ) {
    const limit = pageSize(page.first);
    if (filter.customerId !== undefined) assertSourceId('filter.customerId', filter.customerId);
    if (filter.updatedSince !== undefined) assertDate('filter.updatedSince', filter.updatedSince);
    const rows = await this.tickets.listVisible(
      this.dataSource.manager,
      this.access(identity),
      { after: decodeCursor(page.after), limit },
      filter,
    );
    return toPage(rows, limit);
  }

  async recentForCustomer(identity: Identity, customerId: string, limit: number): Promise<Ticket[]> {
    assertSourceId('customerId', customerId);
    return this.tickets.listForCustomer(this.dataSource.manager, this.access(identity), customerId, limit);
  }

  async updateAcl(identity: Identity, id: string, acl: readonly string[]): Promise<Ticket> {
    assertMayManageContent(identity, this.config);
    const normalized = normalizeAcl('acl', acl);
    return this.update(identity, id, { acl: normalized }, { acl: normalized });
  }

  async updateMetadata(identity: Identity, id: string, metadata: unknown): Promise<Ticket> {
    assertMayManageContent(identity, this.config);
    const normalized = normalizeMetadata('metadata', metadata);
    return this.update(identity, id, { metadata: normalized }, { metadata: normalized });
  }

  /** A status change touches the ticket row only: the text did not change, so nothing is re-embedded. */
  async updateStatus(identity: Identity, id: string, status: TicketStatus): Promise<Ticket> {
    assertMayManageContent(identity, this.config);
    if (!Object.values(TicketStatus).includes(status))
      throw badInput('status is not a known ticket status', { field: 'status' });
    return this.update(identity, id, { status }, {});
  }

  async delete(identity: Identity, id: string): Promise<boolean> {
    assertMayManageContent(identity, this.config);
    assertSourceId('id', id);
    return this.dataSource.transaction(async (m) => {
      await this.corpus.lockMerchant(m, identity.merchantId, 'share');
      return this.tickets.delete(m, identity.merchantId, id);
    });
  }

  private async update(
    identity: Identity,
    id: string,
    change: { acl?: string[]; metadata?: Record<string, unknown>; status?: TicketStatus },
    chunkChange: { acl?: string[]; metadata?: Record<string, unknown> },
  ): Promise<Ticket> {
    assertSourceId('id', id);
    return this.dataSource.transaction(async (m) => {
      await this.corpus.lockMerchant(m, identity.merchantId, 'share');
      const ticket = await this.tickets.update(m, identity.merchantId, id, change);
      if (!ticket) throw notFound(`Ticket ${id} does not exist`);
      await this.chunks.updateSourceAccess(
        m,
        identity.merchantId,
        { kind: 'ticket', ticketId: id },
        chunkChange,
      );
      return ticket;
    });
  }
}
