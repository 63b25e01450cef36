import { Field, ID, InputType } from 'type-graphql';
import { JSONScalar } from '../../common/graphql-scalars';
import { TicketAuthor, TicketStatus } from '../../tickets/dtos/ticket-enums.graphql';

@InputType()
export class TicketMessageInput {
  @Field(() => TicketAuthor)
  author: TicketAuthor;

  @Field(() => String)
  body: string;

  @Field(() => Date, { nullable: true })
  sentAt?: Date | null;
}

@InputType()
export class IngestTicketInput {
  @Field(() => ID, { description: 'Unique within the merchant; re-ingesting an id updates the ticket.' })
  id: string;

  @Field(() => ID)
  customerId: string;

  @Field(() => String)
  subject: string;

  @Field(() => [TicketMessageInput], { description: 'The conversation, oldest first.' })
  messages: TicketMessageInput[];

  @Field(() => TicketStatus)
  status: TicketStatus;

  @Field(() => [String], { description: 'Principals that may read it. Empty means nobody.' })
  acl: string[];

  @Field(() => JSONScalar, { nullable: true })
  metadata?: unknown;
}
