import jwt from 'jsonwebtoken';
import { unauthenticated } from '../common/errors/domain-error';
import { type Identity, principalsFor } from './identity';

const CLOCK_TOLERANCE_SECONDS = 30;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/** Verifies an HS256 token and turns its claims into an Identity; every failure is UNAUTHENTICATED. */
export function verifyToken(token: string, secret: string): Identity {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, secret, { algorithms: ['HS256'], clockTolerance: CLOCK_TOLERANCE_SECONDS });
  } catch (err) {
    const reason = err instanceof jwt.TokenExpiredError ? 'the token has expired' : 'the token is not valid';
    throw unauthenticated(`Authentication failed: ${reason}`);
  }
  if (typeof payload === 'string') throw unauthenticated('Authentication failed: the token has no claims');
  const sub: unknown = payload.sub;
  const merchantId: unknown = payload.merchant_id;
  const roles: unknown = payload.roles ?? [];
  // A user id must not look like a role principal, or `sub: "role:agent"` would read what agents read.
  if (typeof sub !== 'string' || !ID_PATTERN.test(sub) || sub.startsWith('role:')) {
    throw unauthenticated('Authentication failed: the token has no valid `sub` claim');
  }
  if (typeof payload.exp !== 'number') {
    throw unauthenticated('Authentication failed: the token has no expiry (`exp`)');
  }
  if (typeof merchantId !== 'string' || !ID_PATTERN.test(merchantId)) {
    throw unauthenticated('Authentication failed: the token has no valid `merchant_id` claim');
  }
  if (
    !Array.isArray(roles) ||
    !roles.every((r): r is string => typeof r === 'string' && ID_PATTERN.test(r))
  ) {
    throw unauthenticated('Authentication failed: the `roles` claim must be an array of role names');
  }
  return { merchantId, userId: sub, roles, principals: principalsFor(sub, roles) };
}

export function signToken(
  claims: { sub: string; merchantId: string; roles: string[] },
  secret: string,
  expiresInSeconds = 12 * 3600,
): string {
  return jwt.sign({ merchant_id: claims.merchantId, roles: claims.roles }, secret, {
    algorithm: 'HS256',
    subject: claims.sub,
    expiresIn: expiresInSeconds,
  });
}

/** `Authorization: Bearer <token>` → token; anything else present but malformed is UNAUTHENTICATED. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const m = /^Bearer\s+([A-Za-z0-9_\-.=]+)$/i.exec(header.trim());
  if (!m) throw unauthenticated('Authentication failed: the Authorization header must be `Bearer <token>`');
  return m[1];
}
