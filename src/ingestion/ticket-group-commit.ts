import { type TenantSession } from '../db/session';
import { type Ticket } from '../tickets/ticket.entity';
import { type IngestOutcome, MAX_BATCH_TICKETS, type PreparedSource } from './ingestion.types';
import { type SourceWriter } from './source-writer';

type PreparedTicket = Extract<PreparedSource, { kind: 'ticket' }>;

interface Waiting {
  session: TenantSession;
  ticket: PreparedTicket;
  resolve: (outcome: IngestOutcome<Ticket>) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for `ingestTicket`: single-ticket requests for one merchant that arrive while one of its writes is
 * in flight wait for it, then go together in one transaction (as `ingestTickets` would send them), each answered
 * with its own outcome. A lone request is written at once, so it waits for nothing it would not have waited for.
 *
 * Why: every chunk write updates the merchant's term statistics (a statement trigger, migration 1765000000000),
 * one row per merchant and version, locked until COMMIT. Concurrent tickets of one merchant therefore ran one after
 * another anyway, each holding that lock across its round trips: a burst of 8 in flight wrote no faster than one
 * at a time. One transaction per group takes the lock once for the whole group.
 *
 * A group holds distinct ticket ids (a later write of the same ticket waits for the next group, so writes of one
 * ticket keep their order) and at most MAX_BATCH_TICKETS. When a group fails, its tickets are written one by one,
 * so a ticket's error is its own and the others still land; nothing half-written either way (one transaction per
 * attempt). Grouped only within a merchant and the same database role (content managers' write policies depend on
 * the merchant alone: migration 1764100000000), so the first request's tenant settings hold for all of them.
 */
export class TicketGroupCommit {
  private readonly queues = new Map<string, Waiting[]>();

  constructor(private readonly writer: SourceWriter) {}

  write(session: TenantSession, ticket: PreparedTicket): Promise<IngestOutcome<Ticket>> {
    const key = `${session.scope.merchantId}\u0000${session.access.manageAll ? 'w' : 'r'}`;
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(key);
      if (queue) {
        queue.push({ session, ticket, resolve, reject }); // a write is in flight: the next group takes it
        return;
      }
      const fresh: Waiting[] = [{ session, ticket, resolve, reject }];
      this.queues.set(key, fresh);
      void this.drain(key, fresh);
    });
  }

  /** Writes the key's queue group by group until it is empty; the queue exists while a write is in flight. */
  private async drain(key: string, queue: Waiting[]): Promise<void> {
    while (queue.length > 0) await this.commit(takeGroup(queue));
    this.queues.delete(key);
  }

  private async commit(group: Waiting[]): Promise<void> {
    if (group.length > 1) {
      try {
        // In ticket id order, as the batch upsert locks them: two groups never wait on each other's rows in turn.
        const sorted = [...group].sort((a, b) => (a.ticket.row.id < b.ticket.row.id ? -1 : 1));
        const outcomes = await this.writeTickets(
          group[0].session,
          sorted.map((w) => w.ticket),
        );
        sorted.forEach((w, i) => w.resolve(outcomes[i]));
        return;
      } catch {
        // One ticket may be the cause (or a retryable conflict): each alone, in arrival order, with its own answer.
      }
    }
    for (const w of group) {
      try {
        w.resolve((await this.writeTickets(w.session, [w.ticket]))[0]);
      } catch (err) {
        w.reject(err);
      }
    }
  }

  private writeTickets(session: TenantSession, tickets: PreparedTicket[]): Promise<IngestOutcome<Ticket>[]> {
    return this.writer.write(session, session.scope.merchantId, tickets);
  }
}

/** Removes and returns the next group: arrival order, distinct ticket ids, at most MAX_BATCH_TICKETS. */
function takeGroup(queue: Waiting[]): Waiting[] {
  const group: Waiting[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < queue.length && group.length < MAX_BATCH_TICKETS;) {
    const id = queue[i].ticket.row.id;
    if (ids.has(id)) {
      i++; // the same ticket again: stays for a later group, after this write of it
      continue;
    }
    ids.add(id);
    group.push(queue[i]);
    queue.splice(i, 1);
  }
  return group;
}
