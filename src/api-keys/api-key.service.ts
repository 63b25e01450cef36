import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { type DataSource } from 'typeorm';
import { API_KEY_SCOPES, type ApiKeyScope, type Identity } from '../auth/identity';
import { nameTransaction } from '../ops/request-context';
import { badInput, forbidden, notFound, unauthenticated } from '../common/errors/domain-error';
import { assertSourceId, assertText, normalizeAcl } from '../common/validation';
import { type Config } from '../config/config';
import { type MerchantRepository } from '../merchants/merchant.repository';
import { type ApiKeyRepository } from './api-key.repository';
import { type ApiKey } from './api-key.types';

/** `srg_` + 16 hex id + `_` + 43 base64url characters (32 random bytes). */
const KEY_PATTERN = /^srg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

export interface NewApiKey {
  name: string;
  principals: string[];
  scopes: string[];
  expiresAt?: Date | null;
}

const sha256 = (s: string): Buffer => crypto.createHash('sha256').update(s).digest();

/** Partner API keys: created and revoked by a merchant's admins (GraphQL) or operators (CLI), checked per request. */
export class ApiKeyService {
  /**
   * Key ids whose last_used_at this instance wrote within the interval (entries expire with it), so a busy key
   * costs one write per interval, not one a request; bounded so a flood of distinct keys cannot grow it.
   */
  private readonly recentlyTouched: LRUCache<string, true>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: ApiKeyRepository,
    private readonly merchants: MerchantRepository,
    private readonly config: Config,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void = () => undefined,
  ) {
    this.recentlyTouched = new LRUCache({
      max: 10_000,
      ttl: Math.max(1, config.auth.apiKeyLastUsedIntervalSeconds) * 1000,
    });
  }

  /** Only people (tokens) with an admin role manage keys, and only their own merchant's; a key cannot mint keys. */
  assertMayManageKeys(identity: Identity): void {
    if (identity.credential?.kind === 'apiKey') throw forbidden('API keys cannot manage API keys');
    const roles = this.config.auth.apiKeyAdminRoles;
    if (!identity.roles.some((r) => roles.includes(r))) {
      throw forbidden(`Managing API keys requires one of the roles: ${roles.join(', ')}`);
    }
  }

  /** requestId: the GraphQL request creating it, whose id names the transaction in PostgreSQL. */
  async createFor(
    identity: Identity,
    input: NewApiKey,
    requestId: string,
  ): Promise<{ apiKey: ApiKey; key: string }> {
    this.assertMayManageKeys(identity);
    return this.create(identity.merchantId, input, identity.userId, requestId);
  }

  async listFor(identity: Identity, includeRevoked: boolean): Promise<ApiKey[]> {
    this.assertMayManageKeys(identity);
    return this.list(identity.merchantId, includeRevoked);
  }

  async revokeFor(identity: Identity, id: string): Promise<ApiKey> {
    this.assertMayManageKeys(identity);
    return this.revoke(identity.merchantId, id);
  }

  /** Also the admin command's entry point (`createdBy` = `cli`). The returned key is never retrievable again. */
  async create(
    merchantId: string,
    input: NewApiKey,
    createdBy: string,
    requestId?: string,
  ): Promise<{ apiKey: ApiKey; key: string }> {
    assertSourceId('merchant id', merchantId);
    const name = assertText('name', input.name, 200).trim();
    const principals = normalizeAcl('principals', input.principals);
    if (principals.length === 0)
      throw badInput('principals must name at least one principal', { field: 'principals' });
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0) throw badInput('scopes must name at least one scope', { field: 'scopes' });
    for (const s of scopes) {
      if (!(API_KEY_SCOPES as readonly string[]).includes(s)) {
        throw badInput(`scope ${JSON.stringify(s.slice(0, 32))} is not one of ${API_KEY_SCOPES.join(', ')}`, {
          field: 'scopes',
        });
      }
    }
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt !== null && !(expiresAt.getTime() > Date.now())) {
      throw badInput('expiresAt must be in the future', { field: 'expiresAt' });
    }
    const id = crypto.randomBytes(8).toString('hex');
    const secret = crypto.randomBytes(32).toString('base64url');
    const apiKey = await this.dataSource.transaction(async (m) => {
      if (requestId !== undefined) await nameTransaction(m, requestId);
      if (!(await this.merchants.exists(m, merchantId)))
        throw notFound(`Merchant ${merchantId} does not exist`);
      return this.keys.insert(m, merchantId, {
        id,
        name,
        secretSha256: sha256(secret),
        principals,
        scopes: scopes as ApiKeyScope[],
        createdBy,
        expiresAt,
      });
    });
    return { apiKey, key: `srg_${id}_${secret}` };
  }

  async list(merchantId: string, includeRevoked = false): Promise<ApiKey[]> {
    return this.keys.list(this.dataSource.manager, merchantId, includeRevoked);
  }

  async revoke(merchantId: string, id: string): Promise<ApiKey> {
    const revoked = KEY_ID_PATTERN.test(id)
      ? await this.keys.revoke(this.dataSource.manager, merchantId, id)
      : null;
    if (!revoked) throw notFound(`API key ${JSON.stringify(id.slice(0, 40))} does not exist`);
    return revoked;
  }

  /**
   * The Identity of a presented key. Every failure is UNAUTHENTICATED; whether a key was revoked or expired is
   * said only to a caller that holds its secret.
   */
  async authenticate(presented: string): Promise<Identity> {
    const m = KEY_PATTERN.exec(presented.trim());
    if (!m) throw unauthenticated('Authentication failed: the API key is malformed');
    const [, id, secret] = m;
    const row = await this.keys.findCredential(this.dataSource.manager, id);
    // Compare even when the id is unknown, so the response time does not tell which ids exist.
    const expected = row?.secret_sha256 ?? Buffer.alloc(32);
    const matches = crypto.timingSafeEqual(sha256(secret), expected) && row !== null;
    if (!matches) throw unauthenticated('Authentication failed: the API key is not valid');
    if (row.revoked) throw unauthenticated('Authentication failed: the API key has been revoked');
    if (row.expired) throw unauthenticated('Authentication failed: the API key has expired');
    this.recordUse(id);
    return {
      merchantId: row.merchant_id,
      userId: `apikey:${id}`,
      roles: [],
      principals: row.principals,
      credential: { kind: 'apiKey', keyId: id, scopes: row.scopes },
    };
  }

  /** Fire and forget: a failed last-used write must not fail the partner's request. */
  private recordUse(id: string): void {
    const interval = this.config.auth.apiKeyLastUsedIntervalSeconds;
    if (this.recentlyTouched.has(id)) return;
    this.recentlyTouched.set(id, true);
    this.keys.touch(this.dataSource.manager, id, interval).catch((err: unknown) => {
      this.log('could not record API key use', { keyId: id, error: (err as Error).message });
    });
  }
}
