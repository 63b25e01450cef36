import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Entity, PrimaryColumn, Column } from 'typeorm';
import { Timestamped } from '../common/timestamps';

export enum OrderStatus {
  PENDING = 'pending',
  PAID = 'paid',
  FULFILLED = 'fulfilled',
  SHIPPED = 'shipped',
  DELIVERED = 'delivered',
  CANCELLED = 'cancelled',
  REFUND_REQUESTED = 'refund_requested',
  REFUNDED = 'refunded',
}
registerEnumType(OrderStatus, { name: 'OrderStatus' });

/** bigint cents come back from pg as strings; amounts stay below 2^53 so a number is exact. */
const cents = { to: (v: number): number => v, from: (v: string | number): number => Number(v) };

@ObjectType({ description: "The transactional side: an order as the merchant's shop system knows it." })
@Entity({ name: 'orders', synchronize: false })
export class Order extends Timestamped {
  @PrimaryColumn({ name: 'merchant_id', type: 'text' })
  merchantId: string;

  @Field(() => ID)
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Field(() => ID)
  @Column({ name: 'customer_id', type: 'text' })
  customerId: string;

  @Field(() => OrderStatus)
  @Column({ type: 'text' })
  status: OrderStatus;

  @Field(() => String)
  @Column({ type: 'char', length: 3 })
  currency: string;

  @Field(() => Int)
  @Column({ name: 'subtotal_cents', type: 'bigint', transformer: cents })
  subtotalCents: number;

  @Field(() => Int)
  @Column({ name: 'tax_cents', type: 'bigint', transformer: cents })
  taxCents: number;

  @Field(() => Int)
  @Column({ name: 'shipping_cents', type: 'bigint', transformer: cents })
  shippingCents: number;

  @Field(() => Int)
  @Column({ name: 'total_cents', type: 'bigint', transformer: cents })
  totalCents: number;

  @Field(() => Int)
  @Column({ name: 'refunded_cents', type: 'bigint', transformer: cents })
  refundedCents: number;

  @Field(() => Date)
  @Column({ name: 'placed_at', type: 'timestamptz' })
  placedAt: Date;
}
