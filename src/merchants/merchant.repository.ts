import { type EntityManager } from 'typeorm';
import { Merchant } from './merchant.entity';

export class MerchantRepository {
  async exists(manager: EntityManager, merchantId: string): Promise<boolean> {
    const rows: unknown[] = await manager.query(`SELECT 1 FROM merchants WHERE id = $1`, [merchantId]);
    return rows.length > 0;
  }

  async findById(manager: EntityManager, merchantId: string): Promise<Merchant | null> {
    return manager.findOne(Merchant, { where: { id: merchantId } });
  }

  /** Provisioning is an admin operation (seed, loader); requests never create merchants. */
  async upsert(manager: EntityManager, merchant: { id: string; name: string }): Promise<void> {
    await manager.query(
      `INSERT INTO merchants (id, name) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at
       WHERE merchants.name IS DISTINCT FROM EXCLUDED.name`,
      [merchant.id, merchant.name],
    );
  }
}
