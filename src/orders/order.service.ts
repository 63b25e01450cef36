import { assertMayManageContent } from '../auth/permissions';
import { badInput, notFound } from '../common/errors/domain-error';
import { assertDate } from '../common/validation';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type Config } from '../config/config';
import { type Db, type TenantSession } from '../db/session';
import { type Order, OrderStatus } from './order.entity';
import { type OrderRepository } from './order.repository';

const ORDER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:#-]{0,127}$/;
const MAX_CENTS = 2_147_483_647; // GraphQL Int

export interface UpsertOrderCommand {
  id: string;
  customerId: string;
  status: OrderStatus;
  currency: string;
  subtotalCents: number;
  taxCents?: number | null;
  shippingCents?: number | null;
  refundedCents?: number | null;
  placedAt: Date;
}

/** The transactional side, as the shop system reports it; the agent's context shows order status from here. */
export class OrderService {
  constructor(
    /** The owner's connection, for admin writes (seed) that have no caller. */
    private readonly admin: Db,
    private readonly orders: OrderRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly config: Config,
  ) {}

  async upsert(session: TenantSession, cmd: UpsertOrderCommand): Promise<Order> {
    assertMayManageContent(session.identity, this.config);
    return this.writeWith(session, session.scope.merchantId, cmd);
  }

  /** For admin tools (seed) acting for a merchant without a caller: runs as the owner. */
  async write(merchantId: string, cmd: UpsertOrderCommand): Promise<Order> {
    return this.writeWith(this.admin, merchantId, cmd);
  }

  private async writeWith(db: Db, merchantId: string, cmd: UpsertOrderCommand): Promise<Order> {
    if (!ORDER_ID.test(cmd.id)) throw badInput('id must be 1-128 letters, digits or _.:#-', { field: 'id' });
    if (!ORDER_ID.test(cmd.customerId))
      throw badInput('customerId must be 1-128 letters, digits or _.:#-', { field: 'customerId' });
    if (!Object.values(OrderStatus).includes(cmd.status))
      throw badInput('status is not a known order status', { field: 'status' });
    if (!/^[A-Z]{3}$/.test(cmd.currency))
      throw badInput('currency must be an ISO 4217 code such as USD', { field: 'currency' });
    const amounts = {
      subtotalCents: cmd.subtotalCents,
      taxCents: cmd.taxCents ?? 0,
      shippingCents: cmd.shippingCents ?? 0,
      refundedCents: cmd.refundedCents ?? 0,
    };
    for (const [field, v] of Object.entries(amounts)) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_CENTS)
        throw badInput(`${field} must be a whole number of cents >= 0`, { field });
    }
    const total = amounts.subtotalCents + amounts.taxCents + amounts.shippingCents;
    if (total > MAX_CENTS) throw badInput('the order total is too large', { field: 'subtotalCents' });
    if (amounts.refundedCents > total)
      throw badInput('refundedCents cannot exceed the order total', { field: 'refundedCents' });
    assertDate('placedAt', cmd.placedAt);
    return db.transaction(async (m) => {
      if (!(await this.corpus.lockMerchant(m, merchantId, 'share')))
        throw notFound(`Merchant ${merchantId} is not provisioned; ask an administrator to create it first`);
      return this.orders.upsert(m, merchantId, { ...cmd, ...amounts, placedAt: cmd.placedAt.toISOString() });
    });
  }

  /** The customer's orders among `ids` (an id mentioned in a ticket but belonging to someone else is left out). */
  async findForCustomer(
    session: TenantSession,
    customerId: string,
    ids: readonly string[],
  ): Promise<Order[]> {
    if (ids.length === 0) return [];
    const orders = await session.transaction((m) => this.orders.findByIds(m, session.scope.merchantId, ids));
    return orders
      .filter((o) => o.customerId === customerId)
      .sort((a, b) => b.placedAt.getTime() - a.placedAt.getTime());
  }

  /**
   * Orders carry no ACL of their own, so looking one up by id is for content managers only; agents see order
   * status through agentContext, which shows only orders mentioned in tickets they may read, of that customer.
   */
  async get(session: TenantSession, id: string): Promise<Order | null> {
    assertMayManageContent(session.identity, this.config);
    if (!ORDER_ID.test(id)) throw badInput('id must be 1-128 letters, digits or _.:#-', { field: 'id' });
    const [o] = await session.transaction((m) => this.orders.findByIds(m, session.scope.merchantId, [id]));
    return o ?? null;
  }
}
