/**
 * A ticket's status and a message's author. Plain enums: the loader's check pass (a worker thread) and the write
 * path need the values, not type-graphql; the GraphQL schema registers them in dtos/ticket-enums.graphql.ts.
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
