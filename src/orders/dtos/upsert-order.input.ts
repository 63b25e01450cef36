import { Field, ID, InputType, Int } from 'type-graphql';
import { OrderStatus } from '../order.entity';

@InputType()
export class UpsertOrderInput {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  customerId: string;

  @Field(() => OrderStatus)
  status: OrderStatus;

  @Field(() => String, { description: 'ISO 4217, e.g. USD.' })
  currency: string;

  @Field(() => Int)
  subtotalCents: number;

  @Field(() => Int, { nullable: true, defaultValue: 0 })
  taxCents?: number | null;

  @Field(() => Int, { nullable: true, defaultValue: 0 })
  shippingCents?: number | null;

  @Field(() => Int, { nullable: true, defaultValue: 0 })
  refundedCents?: number | null;

  @Field(() => Date)
  placedAt: Date;
}
