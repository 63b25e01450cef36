/**
 * Who is calling, as established by a verified credential. The merchant and the principals come only from here,
 * never from GraphQL arguments.
 */
export interface Identity {
  merchantId: string;
  userId: string;
  roles: string[];
  /** What a chunk's ACL is matched against: the user id and `role:<name>` for each role. */
  principals: string[];
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
