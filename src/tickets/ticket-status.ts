import { registerEnumType } from 'type-graphql';

export enum TicketStatus {
  OPEN = 'open',
  PENDING = 'pending',
  RESOLVED = 'resolved',
  CLOSED = 'closed',
}
registerEnumType(TicketStatus, { name: 'TicketStatus' });

export enum TicketAuthor {
  CUSTOMER = 'customer',
  AGENT = 'agent',
}
registerEnumType(TicketAuthor, { name: 'TicketAuthor' });
