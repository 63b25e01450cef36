import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from './1764100000000-row-level-security';

/**
 * Defence in depth against a leaked DATABASE_URL (docs/SECURITY.md, "A leaked database password"): the request
 * settings of migration 1764100000000 (app.merchant_id, app.principals) take effect only together with a claim the
 * gateway signed, verified inside PostgreSQL with a key the gateway's login cannot read. Without a valid claim the
 * setting readers return no merchant and no principals, so every policy denies, whatever the login sets and
 * whichever request role (srg_gateway, srg_content_manager) it enters.
 *
 * The claim is a fourth transaction-local setting (`SET LOCAL`, which Citus propagates to workers):
 *   app.claim = <key id>.<expires, unix seconds>.<binding>.<capability r|w>.<hex HMAC-SHA256>
 * over `<key id>.<expires>.<binding>.<capability>\n<bytes of merchant>\n<merchant>\n<principals>`, where merchant
 * and principals are the exact texts of the two settings. It is valid while
 *   - the key id names a key that is not retired,
 *   - the transaction started (now()) no later than its expiry,
 *   - the binding is this backend's (app_claim_binding(): the backend pid), so a claim read from
 *     pg_stat_activity (the gateway login sees its own sessions' statements) is useless on any other connection,
 *   - the HMAC matches.
 * Capability `w` (content managers) is required by every write policy and by the content managers' read
 * policies: entering srg_content_manager with a reader's claim, or none, reaches nothing.
 *
 * HMAC-SHA256 is built from PostgreSQL's own sha256() (11+) and the key's two pads, stored precomputed, so no
 * extension is needed (pgcrypto is not installed on every server, and PGlite ships it as a separate bundle).
 *
 * The key table is readable only by its owner (no grants, RLS on with no policy); the verifier is SECURITY DEFINER,
 * owned by the migrating role, with a fixed search_path. The gateway reads the key over its owner connection
 * (MIGRATION_DATABASE_URL) at start and every few minutes (rotation: docs/SECURITY.md).
 *
 * Cost: the readers are evaluated once per statement (InitPlans, as before); each verification is four sha256 of
 * at most a few hundred bytes and a primary-key lookup (bench/rls-cost.bench.ts, docs/benchmarks/rls-cost.md).
 */
const CONTENT_TABLES = ['support_documents', 'tickets', 'document_chunks'] as const;
const MERCHANT = `(SELECT app_merchant_id())`;
const MANAGER_MERCHANT = `(SELECT app_manager_merchant_id())`;

export class SignedTenantClaims1764200000000 implements MigrationInterface {
  name = 'SignedTenantClaims1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenant_claim_keys (
        id integer PRIMARY KEY,
        secret bytea NOT NULL CHECK (octet_length(secret) = 32),
        inner_pad bytea NOT NULL CHECK (octet_length(inner_pad) = 64),
        outer_pad bytea NOT NULL CHECK (octet_length(outer_pad) = 64),
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      )`);
    await q.query(`ALTER TABLE tenant_claim_keys ENABLE ROW LEVEL SECURITY`);
    await q.query(`REVOKE ALL ON tenant_claim_keys FROM PUBLIC, ${GATEWAY_ROLE}, ${CONTENT_MANAGER_ROLE}`);

    // A new key, from PostgreSQL's strong random source (gen_random_uuid uses pg_strong_random): 4 × 122 random
    // bits hashed to 256. The previous keys stay valid until retired (docs/SECURITY.md, "Rotation").
    await q.query(`
      CREATE FUNCTION rotate_tenant_claim_key() RETURNS integer LANGUAGE plpgsql VOLATILE
        SET search_path = pg_catalog, pg_temp
      AS $$
      DECLARE
        k bytea := sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
                          || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
        ipad bytea := k || decode(repeat('00', 32), 'hex');
        opad bytea := k || decode(repeat('00', 32), 'hex');
        next_id integer;
      BEGIN
        FOR i IN 0..63 LOOP
          ipad := set_byte(ipad, i, get_byte(ipad, i) # 54);  -- 0x36
          opad := set_byte(opad, i, get_byte(opad, i) # 92);  -- 0x5c
        END LOOP;
        LOCK TABLE public.tenant_claim_keys IN EXCLUSIVE MODE;
        SELECT coalesce(max(id), 0) + 1 INTO next_id FROM public.tenant_claim_keys;
        INSERT INTO public.tenant_claim_keys (id, secret, inner_pad, outer_pad) VALUES (next_id, k, ipad, opad);
        RETURN next_id;
      END $$`);
    await q.query(`REVOKE ALL ON FUNCTION rotate_tenant_claim_key() FROM PUBLIC`);
    await q.query(`SELECT rotate_tenant_claim_key()`);

    // What ties a claim to one connection. A scale-out setup whose policies run on other nodes (Citus workers)
    // replaces this with an identifier those nodes share for the originating backend (e.g. citus_backend_gpid()).
    await q.query(`
      CREATE FUNCTION app_claim_binding() RETURNS text LANGUAGE sql STABLE PARALLEL RESTRICTED
        AS $$ SELECT pg_backend_pid()::text $$`);

    // The claim's capability ('r' or 'w') when it is valid for this transaction, else NULL. PARALLEL RESTRICTED: a
    // parallel worker has a pid of its own; the leader evaluates the InitPlans and hands the values down.
    // PL/pgSQL rather than SQL: its plans are cached per session, which measured about half the cost per call of
    // the equivalent SQL function (docs/benchmarks/rls-cost.md).
    await q.query(`
      CREATE FUNCTION app_verified_capability() RETURNS text
        LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
        SET search_path = pg_catalog, pg_temp
      AS $$
      DECLARE
        p text[] := string_to_array(current_setting('app.claim', true), '.');
        merchant text := coalesce(current_setting('app.merchant_id', true), '');
        k record;
      BEGIN
        IF cardinality(p) IS DISTINCT FROM 5 OR p[1] !~ '^[0-9]{1,9}$' OR p[2] !~ '^[0-9]{1,12}$'
           OR p[4] NOT IN ('r', 'w') OR p[5] !~ '^[0-9a-f]{64}$' THEN
          RETURN NULL;
        END IF;
        -- Expired at the start of this transaction, or signed for another backend.
        IF p[2]::bigint < extract(epoch FROM now()) OR p[3] IS DISTINCT FROM public.app_claim_binding() THEN
          RETURN NULL;
        END IF;
        SELECT inner_pad, outer_pad INTO k FROM public.tenant_claim_keys WHERE id = p[1]::integer AND retired_at IS NULL;
        IF NOT FOUND THEN
          RETURN NULL;
        END IF;
        -- Compared as hashes, so the comparison's running time says nothing about how much of a guess matched.
        IF sha256(decode(p[5], 'hex')) = sha256(sha256(k.outer_pad || sha256(k.inner_pad || convert_to(
             array_to_string(p[1:4], '.') || E'\\n' || octet_length(merchant) || E'\\n' || merchant || E'\\n'
               || coalesce(current_setting('app.principals', true), ''), 'UTF8')))) THEN
          RETURN p[4];
        END IF;
        RETURN NULL;
      END $$`);

    await q.query(`
      CREATE OR REPLACE FUNCTION app_merchant_id() RETURNS text LANGUAGE sql STABLE PARALLEL RESTRICTED
        AS $$ SELECT CASE WHEN public.app_verified_capability() IS NOT NULL
                          THEN nullif(current_setting('app.merchant_id', true), '') END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION app_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL RESTRICTED
        AS $$ SELECT CASE WHEN public.app_verified_capability() IS NOT NULL
                          THEN coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[])
                          ELSE '{}'::text[] END $$`);
    await q.query(`
      CREATE FUNCTION app_manager_merchant_id() RETURNS text LANGUAGE sql STABLE PARALLEL RESTRICTED
        AS $$ SELECT CASE WHEN public.app_verified_capability() = 'w'
                          THEN nullif(current_setting('app.merchant_id', true), '') END $$`);
    for (const role of [GATEWAY_ROLE, CONTENT_MANAGER_ROLE]) {
      await q.query(
        `GRANT EXECUTE ON FUNCTION app_manager_merchant_id(), app_verified_capability(), app_claim_binding() TO ${role}`,
      );
    }

    // The content managers' policies: a write capability, not the role alone.
    await this.managerPolicies(q, MANAGER_MERCHANT);
  }

  async down(q: QueryRunner): Promise<void> {
    await this.managerPolicies(q, MERCHANT);
    await q.query(`
      CREATE OR REPLACE FUNCTION app_merchant_id() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT nullif(current_setting('app.merchant_id', true), '') $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION app_principals() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT coalesce(nullif(current_setting('app.principals', true), '')::text[], '{}'::text[]) $$`);
    await q.query(`DROP FUNCTION app_manager_merchant_id()`);
    await q.query(`DROP FUNCTION app_verified_capability()`);
    await q.query(`DROP FUNCTION app_claim_binding()`);
    await q.query(`DROP FUNCTION rotate_tenant_claim_key()`);
    await q.query(`DROP TABLE tenant_claim_keys`);
  }

  private async managerPolicies(q: QueryRunner, merchant: string): Promise<void> {
    await q.query(
      `ALTER POLICY merchants_lock ON merchants USING (id = ${merchant}) WITH CHECK (id = ${merchant})`,
    );
    await q.query(
      `ALTER POLICY orders_manage ON orders USING (merchant_id = ${merchant}) WITH CHECK (merchant_id = ${merchant})`,
    );
    for (const table of CONTENT_TABLES) {
      await q.query(
        `ALTER POLICY ${table}_manage ON ${table} USING (merchant_id = ${merchant}) WITH CHECK (merchant_id = ${merchant})`,
      );
    }
  }
}
