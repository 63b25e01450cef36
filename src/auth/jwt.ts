import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { LRUCache } from 'lru-cache';
import { DomainError, unauthenticated } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';
import { isValidMerchantId, isValidRoleName, isValidUserId } from './id-rules';
import { type Identity, principalsFor } from './identity';
import { JwksSource, JwksUnavailableError, readPemPublicKey, type VerificationKey } from './jwks';

export interface TokenVerifierOptions {
  /** HS256 secret; HS256 tokens are refused without one. */
  hsSecret: string | undefined;
  /** Public keys from a PEM file. */
  publicKeys: VerificationKey[];
  jwks: JwksSource | undefined;
  issuer: string | undefined;
  audience: string[];
  clockSkewSeconds: number;
  claims: { merchantId: string; subject: string; roles: string };
  /** How long a verified token is remembered (never past its expiry); 0: every request verifies. */
  cacheSeconds?: number;
}

/** Verified tokens remembered at most (a token is ~300 bytes; the identity a few more). */
const VERIFIED_TOKENS_MAX = 10_000;

export function tokenVerifierOptions(
  config: Config,
  hsSecret: string | undefined,
  log?: (message: string, fields?: Record<string, unknown>) => void,
): TokenVerifierOptions {
  const a = config.auth;
  const jwksLocation =
    a.jwksFile !== undefined
      ? { file: a.jwksFile }
      : a.jwksUrl !== undefined
        ? { url: a.jwksUrl }
        : undefined;
  return {
    hsSecret,
    publicKeys: a.publicKeyFile !== undefined ? [readPemPublicKey(a.publicKeyFile)] : [],
    jwks: jwksLocation
      ? new JwksSource({ ...jwksLocation, cacheSeconds: a.jwksCacheSeconds, log })
      : undefined,
    issuer: a.issuer,
    audience: a.audience,
    clockSkewSeconds: a.clockSkewSeconds,
    claims: a.claims,
    cacheSeconds: a.tokenCacheSeconds,
  };
}

const fail = (reason: string): DomainError => unauthenticated(`Authentication failed: ${reason}`);

/**
 * Verifies a token and turns its claims into an Identity; every failure is UNAUTHENTICATED (an unreachable JWKS
 * with nothing cached is SERVICE_UNAVAILABLE). The algorithm is chosen by what we configured, never by the token:
 * HS256 only with the shared secret, RS256/ES256 only with a public key of that type, `none` never.
 */
export class TokenVerifier {
  /**
   * The secret as a KeyObject, made once: given a string, jsonwebtoken first tries to parse it as a PEM public key
   * on every call and fails, which measured ~45x slower than passing a KeyObject (docs/AUTH.md).
   */
  private readonly hsKey: KeyObject | undefined;

  /**
   * Tokens that verified, by their whole text (signature included), until min(cacheSeconds, expiry + skew): a
   * frontend sends the same token with every request, and its signature check, decoding and claim checks were
   * 0.19 ms of the gateway's ~3.4 ms per retrieval (docs/AUTH.md, "Verified tokens"). Only successes are kept;
   * a key withdrawn from the JWKS stops accepting the tokens it signed after at most cacheSeconds.
   */
  private readonly verified: LRUCache<string, Identity> | undefined;

  constructor(private readonly options: TokenVerifierOptions) {
    this.hsKey =
      options.hsSecret === undefined ? undefined : createSecretKey(Buffer.from(options.hsSecret, 'utf8'));
    const seconds = options.cacheSeconds ?? 0;
    this.verified = seconds > 0 ? new LRUCache({ max: VERIFIED_TOKENS_MAX, ttl: seconds * 1000 }) : undefined;
  }

  /** Loads a JWKS file or URL once at start so a bad one is reported before the first request. */
  async warmUp(): Promise<void> {
    await this.options.jwks?.refresh(this.options.jwks.describe().startsWith('http') ? false : true);
  }

  async verify(token: string): Promise<Identity> {
    const known = this.verified?.get(token);
    // A copy: the identity travels into the request's context, and no request may change another's.
    if (known !== undefined) return copyOf(known);
    const { identity, expiresAt } = await this.verifyNow(token);
    // Accepted until exp + the clock tolerance, as jwt.verify does; remembered no longer than that.
    const left = (expiresAt + this.options.clockSkewSeconds) * 1000 - Date.now();
    if (this.verified !== undefined && left > 0)
      this.verified.set(token, copyOf(identity), {
        ttl: Math.min(left, (this.options.cacheSeconds ?? 0) * 1000),
      });
    return identity;
  }

  private async verifyNow(token: string): Promise<{ identity: Identity; expiresAt: number }> {
    const decoded = jwt.decode(token, { complete: true });
    if (decoded === null || typeof decoded.header !== 'object') throw fail('the token is not a JWT');
    const { alg, kid } = decoded.header;
    let keys: KeyObject[];
    if (alg === 'HS256') {
      if (this.hsKey === undefined) throw fail('HS256 tokens are not accepted here');
      keys = [this.hsKey];
    } else if (alg === 'RS256' || alg === 'ES256') {
      const fromPem = this.options.publicKeys.filter((k) => k.alg === alg).map((k) => k.key);
      let fromJwks: KeyObject[] = [];
      if (this.options.jwks) {
        try {
          fromJwks = await this.options.jwks.keysFor(typeof kid === 'string' ? kid : undefined, alg);
        } catch (err) {
          if (err instanceof JwksUnavailableError) {
            throw new DomainError(
              ErrorCode.SERVICE_UNAVAILABLE,
              'The signing keys of the identity provider are unavailable; retry shortly',
            );
          }
          throw err;
        }
      }
      keys = [...fromJwks, ...fromPem];
      if (keys.length === 0)
        throw fail(`no ${alg} key${typeof kid === 'string' ? ' with this kid' : ''} is configured`);
    } else {
      throw fail(`algorithm ${JSON.stringify(String(alg)).slice(0, 20)} is not accepted`);
    }
    let payload: string | jwt.JwtPayload | undefined;
    let lastError: unknown;
    for (const key of keys) {
      try {
        payload = jwt.verify(token, key, {
          algorithms: [alg],
          clockTolerance: this.options.clockSkewSeconds,
          ...(this.options.issuer !== undefined ? { issuer: this.options.issuer } : {}),
          ...(this.options.audience.length > 0
            ? { audience: this.options.audience as [string, ...string[]] }
            : {}),
        });
        break;
      } catch (err) {
        lastError = err;
        // Only a bad signature is worth trying the next key for; expiry, issuer or audience fail with every key.
        if (!(err instanceof jwt.JsonWebTokenError) || err.message !== 'invalid signature') break;
      }
    }
    if (payload === undefined) throw fail(describeJwtError(lastError));
    return this.identityFrom(payload);
  }

  private identityFrom(payload: string | jwt.JwtPayload): { identity: Identity; expiresAt: number } {
    if (typeof payload === 'string') throw fail('the token has no claims');
    const names = this.options.claims;
    const sub: unknown = payload[names.subject];
    const merchantId: unknown = payload[names.merchantId];
    const roles: unknown = payload[names.roles] ?? [];
    if (typeof sub !== 'string' || !isValidUserId(sub)) {
      throw fail(`the token has no valid \`${names.subject}\` claim`);
    }
    if (typeof payload.exp !== 'number') throw fail('the token has no expiry (`exp`)');
    if (typeof merchantId !== 'string' || !isValidMerchantId(merchantId)) {
      throw fail(`the token has no valid \`${names.merchantId}\` claim`);
    }
    if (
      !Array.isArray(roles) ||
      !roles.every((r): r is string => typeof r === 'string' && isValidRoleName(r))
    ) {
      throw fail(`the \`${names.roles}\` claim must be an array of role names`);
    }
    return {
      identity: {
        merchantId,
        userId: sub,
        roles,
        principals: principalsFor(sub, roles),
        credential: { kind: 'token' },
      },
      expiresAt: payload.exp,
    };
  }
}

function copyOf(identity: Identity): Identity {
  return { ...identity, roles: [...identity.roles], principals: [...identity.principals] };
}

function describeJwtError(err: unknown): string {
  if (err instanceof jwt.TokenExpiredError) return 'the token has expired';
  if (err instanceof jwt.NotBeforeError) return 'the token is not valid yet';
  if (err instanceof jwt.JsonWebTokenError) {
    if (err.message.startsWith('jwt issuer invalid')) return 'the token was issued by another issuer';
    if (err.message.startsWith('jwt audience invalid')) return 'the token is meant for another audience';
  }
  return 'the token is not valid';
}

export function signToken(
  claims: { sub: string; merchantId: string; roles: string[] },
  secret: string,
  expiresInSeconds = 12 * 3600,
  /** The claim names the gateway reads (AUTH_CLAIM_*); the defaults otherwise. */
  names: { merchantId: string; subject: string; roles: string } = {
    merchantId: 'merchant_id',
    subject: 'sub',
    roles: 'roles',
  },
): string {
  return jwt.sign(
    { [names.subject]: claims.sub, [names.merchantId]: claims.merchantId, [names.roles]: claims.roles },
    secret,
    { algorithm: 'HS256', expiresIn: expiresInSeconds },
  );
}

/** `Authorization: Bearer <token>` → token; anything else present but malformed is UNAUTHENTICATED. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const m = /^Bearer\s+([A-Za-z0-9_\-.=]+)$/i.exec(header.trim());
  if (!m) {
    throw unauthenticated(
      'Authentication failed: the Authorization header must be `Bearer <token>` (partner API keys go in `x-api-key`)',
    );
  }
  return m[1];
}
