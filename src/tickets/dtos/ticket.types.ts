import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { PageInfo } from '../../common/pagination/cursor';
import { Ticket } from '../ticket.entity';
import { TicketStatus } from '../ticket-status';

@ObjectType()
export class IngestTicketPayload {
  @Field(() => Ticket)
  ticket: Ticket;

  @Field(() => Int)
  chunkCount: number;

  @Field(() => Int, { description: 'Chunks whose vectors were computed for this call.' })
  embeddedChunks: number;

  @Field(() => Int, { description: 'Chunks whose vectors were kept.' })
  reusedChunks: number;

  @Field(() => Int, { description: 'Chunks of the previous version whose text is gone.' })
  deletedChunks: number;

  @Field(() => Boolean, { description: 'True when nothing was written.' })
  unchanged: boolean;

  @Field(() => [String])
  warnings: string[];
}

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
