import { Field, Int, ObjectType } from 'type-graphql';
import { Ticket } from '../../tickets/ticket.entity';

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

@ObjectType()
export class IngestTicketsPayload {
  @Field(() => [IngestTicketPayload], { description: 'One result per input, in input order.' })
  results: IngestTicketPayload[];
}
