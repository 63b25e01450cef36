import { performance } from 'node:perf_hooks';
import { badInput } from '../common/errors/domain-error';
import { assertSourceId, assertText } from '../common/validation';
import { type TenantSession } from '../db/session';
import { type Order } from '../orders/order.entity';
import { type OrderService } from '../orders/order.service';
import { type RetrievalService, type RetrievedChunkView } from '../retrieval/retrieval.service';
import { type Ticket } from '../tickets/ticket.entity';
import { type TicketService } from '../tickets/ticket.service';

export interface AgentContextQuery {
  customerId: string;
  question: string;
  k: number;
  ticketLimit: number;
}

export interface AgentContextResult {
  policies: RetrievedChunkView[];
  tickets: Ticket[];
  orders: Order[];
  tookMs: number;
}

/** "Order #4821", "order 4821", "order no. G-1001": the ids support tickets use for orders. */
const ORDER_MENTION = /\border\s*(?:#|no\.?|number)?\s*#?\s*([A-Za-z0-9][A-Za-z0-9_-]{1,63})\b/gi;

export function mentionedOrderIds(ticket: Pick<Ticket, 'subject' | 'messages' | 'metadata'>): string[] {
  const ids = new Set<string>();
  for (const text of [ticket.subject, ...ticket.messages.map((m) => m.body)]) {
    for (const m of text.matchAll(ORDER_MENTION)) if (/\d/.test(m[1])) ids.add(m[1]);
  }
  const listed = ticket.metadata.orders;
  if (Array.isArray(listed))
    for (const id of listed) if (typeof id === 'string' || typeof id === 'number') ids.add(String(id));
  return [...ids];
}

/**
 * What a support agent needs for one customer and one question, in one request: the policy chunks that answer the
 * question, the customer's ticket history (most recent first) and the status of the orders those tickets mention,
 * all limited to what the caller may read.
 */
export class AgentContextService {
  constructor(
    private readonly retrieval: RetrievalService,
    private readonly tickets: TicketService,
    private readonly orders: OrderService,
  ) {}

  async build(session: TenantSession, q: AgentContextQuery): Promise<AgentContextResult> {
    const started = performance.now();
    const customerId = assertSourceId('customerId', q.customerId);
    const question = assertText('question', q.question, 2000);
    if (!Number.isInteger(q.ticketLimit) || q.ticketLimit < 1 || q.ticketLimit > 50) {
      throw badInput('ticketLimit must be between 1 and 50', { field: 'ticketLimit' });
    }
    const [policies, tickets] = await Promise.all([
      this.retrieval.retrieve(session, {
        query: question,
        k: q.k,
        filter: { sourceType: 'document' },
      }),
      this.tickets.recentForCustomer(session, customerId, q.ticketLimit),
    ]);
    const orderIds = [...new Set(tickets.flatMap(mentionedOrderIds))];
    const orders = await this.orders.findForCustomer(session, customerId, orderIds);
    return { policies: policies.chunks, tickets, orders, tookMs: performance.now() - started };
  }
}
