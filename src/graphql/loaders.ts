import DataLoader from 'dataloader';
import { type TenantSession } from '../db/session';
import { type DocumentService } from '../documents/document.service';
import { type SupportDocument } from '../documents/support-document.entity';
import { type Ticket } from '../tickets/ticket.entity';
import { type TicketService } from '../tickets/ticket.service';

export interface Loaders {
  document: DataLoader<string, SupportDocument | null>;
  ticket: DataLoader<string, Ticket | null>;
}

/**
 * Created per request and bound to the caller: one query per type per request however many chunks ask for
 * their source, and a loader can never hand one caller's rows to another.
 */
export function createLoaders(
  session: TenantSession,
  documents: DocumentService,
  tickets: TicketService,
): Loaders {
  const byId = <T extends { id: string }>(rows: T[], ids: readonly string[]) => {
    const map = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => map.get(id) ?? null);
  };
  return {
    document: new DataLoader(async (ids) => byId(await documents.getMany(session, ids), ids)),
    ticket: new DataLoader(async (ids) => byId(await tickets.getMany(session, ids), ids)),
  };
}
