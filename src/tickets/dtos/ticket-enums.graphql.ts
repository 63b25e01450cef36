import { registerEnumType } from 'type-graphql';
import { TicketAuthor, TicketStatus } from '../ticket-status';

// Registered once, by every GraphQL type that uses them importing the enums from here.
registerEnumType(TicketStatus, { name: 'TicketStatus' });
registerEnumType(TicketAuthor, { name: 'TicketAuthor' });

export { TicketAuthor, TicketStatus };
