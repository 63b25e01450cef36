import { type EntityManager } from 'typeorm';

/** Advisory-lock namespace for per-merchant index work (any constant unique to this use). */
const INDEX_LOCK_CLASS = 1763900;

/**
 * Runs `work` holding the merchant's index lock, a session-level advisory lock on `runner`'s connection: one
 * build or drop per merchant at a time across every gateway process. `runner` must be a dedicated connection
 * (CREATE INDEX CONCURRENTLY cannot run in a transaction, so a transaction-level lock would not do).
 */
export async function withMerchantIndexLock<T>(
  runner: Pick<EntityManager, 'query'>,
  merchantId: string,
  work: () => Promise<T>,
): Promise<T> {
  await runner.query(`SELECT pg_advisory_lock($1, hashtext($2))`, [INDEX_LOCK_CLASS, merchantId]);
  try {
    return await work();
  } finally {
    await runner.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [INDEX_LOCK_CLASS, merchantId]);
  }
}
