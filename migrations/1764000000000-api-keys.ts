import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Partner API keys. The key a partner holds is `srg_<id>_<secret>`; only sha256(secret) is stored, so a copy of
 * this table does not let anyone call the gateway. The secret is 32 random bytes: guessing it is out of reach, so
 * a fast hash is enough (a slow password hash would only add latency to every request; it protects low-entropy
 * passwords, which these are not).
 *
 * Authentication looks a key up by `id` before the merchant is known, so this table is read by primary key only.
 */
export class ApiKeys1764000000000 implements MigrationInterface {
  name = 'ApiKeys1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id             text PRIMARY KEY CONSTRAINT api_keys_id_format CHECK (id ~ '^[0-9a-f]{16}$'),
        merchant_id    text NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
        name           text NOT NULL CONSTRAINT api_keys_name_valid CHECK (btrim(name) <> '' AND length(name) <= 200),
        secret_sha256  bytea NOT NULL CONSTRAINT api_keys_secret_sha256_length CHECK (length(secret_sha256) = 32),
        principals     text[] NOT NULL CONSTRAINT api_keys_principals_count CHECK (cardinality(principals) BETWEEN 1 AND 256),
        scopes         text[] NOT NULL CONSTRAINT api_keys_scopes_known
                         CHECK (cardinality(scopes) >= 1 AND scopes <@ ARRAY['retrieve', 'ingest']::text[]),
        created_by     text NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        expires_at     timestamptz,
        revoked_at     timestamptz,
        last_used_at   timestamptz
      )`);
    await q.query(`CREATE INDEX api_keys_merchant_idx ON api_keys (merchant_id, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_keys`);
  }
}
