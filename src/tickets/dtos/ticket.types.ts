import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { PageInfo } from '../../common/pagination/cursor';
import { Ticket } from '../ticket.entity';
import { TicketStatus } from './ticket-enums.graphql';

@InputType()
export class TicketFilter {
  @Field(() => TicketStatus, { nullable: true })
  status?: TicketStatus | null;

  @Field(() => ID, { nullable: true })
  customerId?: string | null;

  @Field(() => Date, { nullable: true })
  updatedSince?: Date | null;
}

@ObjectType()
export class TicketConnection {
  @Field(() => [Ticket])
  nodes: Ticket[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}
