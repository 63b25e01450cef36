/**
 * Who is calling, as established by a verified credential. The merchant and the principals come only from here,
 * never from GraphQL arguments.
 */
export interface Identity {
  merchantId: string;
  /** A token's subject; for an API key `apikey:<key id>` (never one of its principals). */
  userId: string;
  /** A token's roles; an API key has none (what it may do is its scopes). */
  roles: string[];
  /** What a chunk's ACL is matched against: the user id and `role:<name>` for each role, or an API key's principals. */
  principals: string[];
  /** How the caller proved who it is. Absent means a verified token (identities built by trusted code, tests). */
  credential?: Credential;
}

/** What a partner API key may do: `retrieve` runs queries, `ingest` runs the content mutations. */
export const API_KEY_SCOPES = ['retrieve', 'ingest'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export type Credential =
  | { kind: 'token' }
  /** Rate limits and audit logs key on `keyId`; requests with it may run only safelisted operations. */
  | { kind: 'apiKey'; keyId: string; scopes: readonly ApiKeyScope[] };

/** The API key id when the caller is a partner API key, else undefined. */
export function apiKeyIdOf(identity: Identity): string | undefined {
  return identity.credential?.kind === 'apiKey' ? identity.credential.keyId : undefined;
}

/**
 * The tenant scope every repository method that touches tenant data requires. It is derived from an Identity
 * on the server; there is deliberately no way to build one from request arguments.
 */
export interface TenantScope {
  readonly merchantId: string;
  readonly principals: readonly string[];
}

export function principalsFor(userId: string, roles: readonly string[]): string[] {
  return [userId, ...roles.map((r) => `role:${r}`)];
}

export function scopeOf(identity: Identity): TenantScope {
  return { merchantId: identity.merchantId, principals: identity.principals };
}
