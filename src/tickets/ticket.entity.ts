import { Field, ID, ObjectType } from 'type-graphql';
import { Entity, PrimaryColumn, Column } from 'typeorm';
import { JSONScalar, type JsonObject } from '../common/graphql-scalars';
import { Timestamped } from '../common/timestamps';
import { TicketAuthor, TicketStatus } from './dtos/ticket-enums.graphql';

@ObjectType()
export class TicketMessage {
  @Field(() => TicketAuthor)
  author: TicketAuthor;

  @Field(() => String)
  body: string;

  @Field(() => Date, { nullable: true })
  sentAt: Date | null;
}

/** As stored in tickets.messages (jsonb). */
export interface StoredTicketMessage {
  author: TicketAuthor;
  body: string;
  sentAt: string | null;
}

@ObjectType({ description: 'A help-desk conversation of one customer with the merchant.' })
@Entity({ name: 'tickets', synchronize: false })
export class Ticket extends Timestamped {
  @PrimaryColumn({ name: 'merchant_id', type: 'text' })
  merchantId: string;

  @Field(() => ID)
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Field(() => ID)
  @Column({ name: 'customer_id', type: 'text' })
  customerId: string;

  @Field(() => String)
  @Column({ type: 'text' })
  subject: string;

  @Field(() => TicketStatus)
  @Column({ type: 'text' })
  status: TicketStatus;

  @Field(() => [TicketMessage], { description: 'The conversation, oldest first.' })
  @Column({ type: 'jsonb' })
  messages: StoredTicketMessage[];

  @Field(() => String, { description: 'sha256 of the subject and messages as ingested.' })
  @Column({ name: 'content_hash', type: 'text' })
  contentHash: string;

  @Field(() => JSONScalar)
  @Column({ type: 'jsonb' })
  metadata: JsonObject;

  @Field(() => [String])
  @Column({ type: 'text', array: true })
  acl: string[];
}
