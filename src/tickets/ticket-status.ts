/**
 * A ticket's status and a message's author. Plain enums: source preparation and the write path need the values,
 * not type-graphql; the GraphQL schema registers them in dtos/ticket-enums.graphql.ts.
 */
export enum TicketStatus {
  OPEN = 'open',
  PENDING = 'pending',
  RESOLVED = 'resolved',
  CLOSED = 'closed',
}

export enum TicketAuthor {
  CUSTOMER = 'customer',
  AGENT = 'agent',
}
