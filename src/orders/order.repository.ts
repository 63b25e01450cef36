import { type EntityManager } from 'typeorm';

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

export class OrderRepository {
  async upsert(manager: EntityManager, merchantId: string, o: OrderWrite): Promise<void> {
    await manager.query(
      `INSERT INTO orders (merchant_id, id, customer_id, status, currency, subtotal_cents, tax_cents, shipping_cents,
                           total_cents, refunded_cents, placed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6::bigint + $7::bigint + $8::bigint, $9, $10::timestamptz)
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, currency = EXCLUDED.currency,
             subtotal_cents = EXCLUDED.subtotal_cents, tax_cents = EXCLUDED.tax_cents,
             shipping_cents = EXCLUDED.shipping_cents, total_cents = EXCLUDED.total_cents,
             refunded_cents = EXCLUDED.refunded_cents, placed_at = EXCLUDED.placed_at, updated_at = now()`,
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
  }
}
