import { type EntityManager } from 'typeorm';

/** Advisory-lock namespaces of per-merchant maintenance (any constants unique to these uses). */
const LOCK_CLASS = { index: 1763900, calibration: 1764300 } as const;

/**
 * Runs `work` holding the merchant's index lock, a session-level advisory lock on `runner`'s connection: one
 * build or drop per merchant at a time across every gateway process. `runner` must be a dedicated connection
 * (CREATE INDEX CONCURRENTLY cannot run in a transaction, so a transaction-level lock would not do).
 */
export function withMerchantIndexLock<T>(
  runner: Pick<EntityManager, 'query'>,
  merchantId: string,
  work: () => Promise<T>,
): Promise<T> {
  return withMerchantLock(runner, 'index', merchantId, work);
}

/** The same for any kind of per-merchant maintenance (a calibration runs once per merchant at a time too). */
export async function withMerchantLock<T>(
  runner: Pick<EntityManager, 'query'>,
  kind: keyof typeof LOCK_CLASS,
  merchantId: string,
  work: () => Promise<T>,
): Promise<T> {
  await runner.query(`SELECT pg_advisory_lock($1, hashtext($2))`, [LOCK_CLASS[kind], merchantId]);
  try {
    return await work();
  } finally {
    await runner.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [LOCK_CLASS[kind], merchantId]);
  }
}
