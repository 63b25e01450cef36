import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * One claim verification per statement instead of two (migration 1764200000000): app_principals() goes back to
 * the plain, inlinable setting reader. Safe because every policy that reads it also requires
 * `merchant_id = (SELECT app_merchant_id())`, which is NULL unless the signed claim verifies, and the claim's HMAC
 * covers the principals setting too: forged principals with a valid claim fail the merchant check.
 */
export class OneClaimVerification1764200000001 implements MigrationInterface {
  name = 'OneClaimVerification1764200000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION app_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[]) $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION app_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL RESTRICTED
        AS $$ SELECT CASE WHEN public.app_verified_capability() IS NOT NULL
                          THEN coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[])
                          ELSE '{}'::text[] END $$`);
  }
}
