import { type EntityManager } from 'typeorm';
import { Order, type OrderStatus } from './order.entity';

export interface OrderWrite {
  id: string;
  customerId: string;
  status: string;
  currency: string;
  subtotalCents: number;
  taxCents: number;
  shippingCents: number;
  refundedCents: number;
  placedAt: string;
}

interface OrderRow {
  merchant_id: string;
  id: string;
  customer_id: string;
  status: OrderStatus;
  currency: string;
  subtotal_cents: string;
  tax_cents: string;
  shipping_cents: string;
  total_cents: string;
  refunded_cents: string;
  placed_at: Date;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `o.merchant_id, o.id, o.customer_id, o.status, o.currency, o.subtotal_cents, o.tax_cents, o.shipping_cents,
  o.total_cents, o.refunded_cents, o.placed_at, o.created_at, o.updated_at`;

function toEntity(r: OrderRow): Order {
  return Object.assign(new Order(), {
    merchantId: r.merchant_id,
    id: r.id,
    customerId: r.customer_id,
    status: r.status,
    currency: r.currency,
    subtotalCents: Number(r.subtotal_cents),
    taxCents: Number(r.tax_cents),
    shippingCents: Number(r.shipping_cents),
    totalCents: Number(r.total_cents),
    refundedCents: Number(r.refunded_cents),
    placedAt: r.placed_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

export class OrderRepository {
  async upsert(manager: EntityManager, merchantId: string, o: OrderWrite): Promise<Order> {
    const rows: OrderRow[] = await manager.query(
      `INSERT INTO orders AS o (merchant_id, id, customer_id, status, currency, subtotal_cents, tax_cents, shipping_cents,
                                total_cents, refunded_cents, placed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6::bigint + $7::bigint + $8::bigint, $9, $10::timestamptz)
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, currency = EXCLUDED.currency,
             subtotal_cents = EXCLUDED.subtotal_cents, tax_cents = EXCLUDED.tax_cents,
             shipping_cents = EXCLUDED.shipping_cents, total_cents = EXCLUDED.total_cents,
             refunded_cents = EXCLUDED.refunded_cents, placed_at = EXCLUDED.placed_at, updated_at = EXCLUDED.updated_at
       RETURNING ${COLUMNS}`,
      [
        merchantId,
        o.id,
        o.customerId,
        o.status,
        o.currency,
        o.subtotalCents,
        o.taxCents,
        o.shippingCents,
        o.refundedCents,
        o.placedAt,
      ],
    );
    return toEntity(rows[0]);
  }

  async findByIds(manager: EntityManager, merchantId: string, ids: readonly string[]): Promise<Order[]> {
    const rows: OrderRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM orders o WHERE o.merchant_id = $1 AND o.id = ANY($2::text[])`,
      [merchantId, [...ids]],
    );
    return rows.map(toEntity);
  }
}
