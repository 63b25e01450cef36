import { type EntityManager } from 'typeorm';
import { type ApiKeyScope } from '../auth/identity';
import { writtenRows } from '../db/write-result';
import { type ApiKey } from './api-key.types';

interface ApiKeyRow {
  id: string;
  name: string;
  principals: string[];
  scopes: ApiKeyScope[];
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

export interface ApiKeyCredentialRow {
  id: string;
  merchant_id: string;
  secret_sha256: Buffer;
  principals: string[];
  scopes: ApiKeyScope[];
  expired: boolean;
  revoked: boolean;
}

const COLUMNS = `id, name, principals, scopes, created_by, created_at, expires_at, revoked_at, last_used_at`;

const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id,
  name: r.name,
  principals: r.principals,
  scopes: r.scopes,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export class ApiKeyRepository {
  async insert(
    manager: EntityManager,
    merchantId: string,
    key: {
      id: string;
      name: string;
      secretSha256: Buffer;
      principals: string[];
      scopes: ApiKeyScope[];
      createdBy: string;
      expiresAt: Date | null;
    },
  ): Promise<ApiKey> {
    const rows: ApiKeyRow[] = await manager.query(
      `INSERT INTO api_keys (id, merchant_id, name, secret_sha256, principals, scopes, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       RETURNING ${COLUMNS}`,
      [
        key.id,
        merchantId,
        key.name,
        key.secretSha256,
        key.principals,
        key.scopes,
        key.createdBy,
        key.expiresAt,
      ],
    );
    return toApiKey(rows[0]);
  }

  async list(manager: EntityManager, merchantId: string, includeRevoked: boolean): Promise<ApiKey[]> {
    const rows: ApiKeyRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM api_keys
        WHERE merchant_id = $1 AND ($2 OR revoked_at IS NULL)
        ORDER BY created_at, id`,
      [merchantId, includeRevoked],
    );
    return rows.map(toApiKey);
  }

  /** Revokes the merchant's key; revoking twice keeps the first time. Null when the merchant has no such key. */
  async revoke(manager: EntityManager, merchantId: string, id: string): Promise<ApiKey | null> {
    // Only a live key is written, then the key is read either way (not `coalesce(revoked_at, now())`: Citus
    // refuses non-immutable functions inside COALESCE in an UPDATE).
    const revoked = writtenRows<ApiKeyRow>(
      await manager.query(
        `UPDATE api_keys SET revoked_at = now()
          WHERE merchant_id = $1 AND id = $2 AND revoked_at IS NULL
          RETURNING ${COLUMNS}`,
        [merchantId, id],
      ),
    );
    if (revoked.length > 0) return toApiKey(revoked[0]);
    const rows: ApiKeyRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM api_keys WHERE merchant_id = $1 AND id = $2`,
      [merchantId, id],
    );
    return rows.length > 0 ? toApiKey(rows[0]) : null;
  }

  /** Authentication: by primary key, before any merchant is known. */
  async findCredential(manager: EntityManager, id: string): Promise<ApiKeyCredentialRow | null> {
    const rows: ApiKeyCredentialRow[] = await manager.query(
      `SELECT id, merchant_id, secret_sha256, principals, scopes,
              coalesce(expires_at <= now(), false) AS expired, revoked_at IS NOT NULL AS revoked
         FROM api_keys WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Writes last_used_at unless another instance did within the interval (the WHERE keeps it one write). */
  async touch(manager: EntityManager, id: string, intervalSeconds: number): Promise<void> {
    await manager.query(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
      [id, intervalSeconds],
    );
  }
}
