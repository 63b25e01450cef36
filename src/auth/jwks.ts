import crypto, { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FlattenedJWSInput,
  errors,
  type JWSHeaderParameters,
} from 'jose';

const { JWKSMultipleMatchingKeys, JWKSNoMatchingKey } = errors;
type JWKSMultipleMatchingKeys = InstanceType<typeof JWKSMultipleMatchingKeys>;

export type AsymmetricAlg = 'RS256' | 'ES256';
export const ASYMMETRIC_ALGS: readonly AsymmetricAlg[] = ['RS256', 'ES256'];

export interface VerificationKey {
  kid: string | undefined;
  alg: AsymmetricAlg;
  key: KeyObject;
}

/**
 * The one algorithm a public key may verify, from the key itself: an RSA key only RS256, a P-256 key only ES256.
 * Never inferred from a token's header, which the attacker writes.
 */
export function algForKey(key: KeyObject): AsymmetricAlg | undefined {
  if (key.type !== 'public') return undefined;
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048)
    return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

/** A PEM file with one public key (or a certificate); a private key is refused so it never sits on the gateway. */
export function readPemPublicKey(file: string): VerificationKey {
  const pem = fs.readFileSync(file, 'utf8');
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new Error(`${file} holds a private key; give the gateway only the public key`);
  }
  let key: KeyObject;
  try {
    key = crypto.createPublicKey(pem);
  } catch (err) {
    throw new Error(`${file} is not a PEM public key: ${(err as Error).message}`);
  }
  const alg = algForKey(key);
  if (!alg)
    throw new Error(`${file}: only RSA (>= 2048 bits, RS256) and P-256 EC (ES256) keys are supported`);
  return { kid: undefined, alg, key };
}

/**
 * Our rules on top of jose's key selection: a member with a private part (`d`, published by mistake) is dropped
 * before jose sees the set, so it can never verify anything; a set with no RSA or P-256 signature key is a failed
 * load (the previous keys stay in use) rather than an empty set.
 */
function usableJwks(doc: unknown): { keys: object[] } {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new Error('a JWKS must be a JSON object with a "keys" array');
  }
  const all = (doc as { keys: unknown[] }).keys;
  const keys = all.filter(
    (k): k is Record<string, unknown> =>
      typeof k === 'object' &&
      k !== null &&
      !('d' in k) &&
      (k as { use?: unknown }).use !== 'enc' &&
      ((k as { kty?: unknown }).kty === 'RSA' ||
        ((k as { kty?: unknown }).kty === 'EC' && (k as { crv?: unknown }).crv === 'P-256')),
  );
  if (keys.length === 0) {
    throw new Error(`no usable RS256/ES256 signature key (${all.length} skipped)`);
  }
  return { keys };
}

export interface JwksSourceOptions {
  /** Where the set comes from: a file (read again when the cache expires) or a URL. */
  file?: string;
  url?: string;
  cacheSeconds: number;
  /** A token with an unknown `kid` makes us refetch (the issuer rotated keys), but at most this often. */
  minRefetchSeconds?: number;
  timeoutMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export class JwksUnavailableError extends Error {}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<unknown>;

/**
 * A JWKS, fetched, cached and searched by jose (createRemoteJWKSet: cache age, refetch on an unknown `kid`, one
 * fetch in flight, timeout; createLocalJWKSet: matching by kid, kty, crv, use and alg). A file goes through the same
 * path: jose's fetch is replaced by a read of the file. Ours on top: a refetch at most every `minRefetchSeconds`
 * counted from the last ATTEMPT (jose counts from the last success, so an issuer that is down would be asked
 * again for every forged kid), and when a refetch fails the last good keys stay in use (jose would fail the token).
 */
export class JwksSource {
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  /** The last set that loaded, kept apart from jose's so that a failed refresh can still answer. */
  private lastGood: KeyResolver | undefined;
  private lastAttempt = 0;
  private readonly asKeyObject = new WeakMap<object, KeyObject>();

  constructor(private readonly options: JwksSourceOptions) {
    if (!options.file === !options.url) throw new Error('JwksSource needs exactly one of file or url');
    const minRefetchMs = (options.minRefetchSeconds ?? 10) * 1000;
    const timeoutMs = options.timeoutMs ?? 5000;
    const load = async (): Promise<Response> => {
      if (this.lastGood !== undefined && Date.now() - this.lastAttempt < minRefetchMs) {
        throw new CoolingDown();
      }
      this.lastAttempt = Date.now();
      let doc: unknown;
      if (options.file) {
        doc = JSON.parse(await fs.promises.readFile(options.file, 'utf8'));
      } else {
        const res = await fetch(options.url!, {
          signal: AbortSignal.timeout(timeoutMs),
          headers: { accept: 'application/json' },
          redirect: 'manual',
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        doc = await res.json();
      }
      const usable = usableJwks(doc);
      this.lastGood = createLocalJWKSet(usable);
      return Response.json(usable);
    };
    // The URL is only a cache label for jose: `load` does the reading.
    this.remote = createRemoteJWKSet(new URL(options.url ?? 'file:///jwks.json'), {
      cacheMaxAge: options.cacheSeconds * 1000,
      cooldownDuration: minRefetchMs,
      timeoutDuration: timeoutMs,
      [customFetch]: load,
    });
  }

  describe(): string {
    return this.options.file ?? this.options.url ?? '';
  }

  /**
   * Candidate keys for a token's header, as KeyObjects whose own algorithm is `alg`: the one with its `kid`, or
   * every key of the algorithm when it has none. An empty list when none matches.
   */
  async keysFor(kid: string | undefined, alg: AsymmetricAlg): Promise<KeyObject[]> {
    const header: JWSHeaderParameters = kid === undefined ? { alg } : { alg, kid };
    let found: unknown[];
    try {
      found = [await this.remote(header, { payload: '', signature: '' })];
    } catch (err) {
      if (err instanceof JWKSNoMatchingKey) return [];
      if (err instanceof JWKSMultipleMatchingKeys) found = await collect(err);
      else found = await this.fromLastGood(header, err);
    }
    return found.map((k) => this.keyObject(k)).filter((k) => algForKey(k) === alg);
  }

  /** A refresh that failed (or was held back): the previous keys answer; with none, the keys are unavailable. */
  private async fromLastGood(header: JWSHeaderParameters, err: unknown): Promise<unknown[]> {
    if (this.lastGood === undefined) {
      throw new JwksUnavailableError(
        `JWKS ${this.describe()} could not be loaded: ${(err as Error).message}`,
      );
    }
    if (!(err instanceof CoolingDown)) {
      this.options.log?.('JWKS refresh failed; keeping the previous keys', { error: (err as Error).message });
    }
    try {
      return [await this.lastGood(header, { payload: '', signature: '' })];
    } catch (inner) {
      if (inner instanceof JWKSMultipleMatchingKeys) return collect(inner);
      return [];
    }
  }

  /** jose hands out WebCrypto keys; jsonwebtoken verifies with KeyObjects (converted once per key). */
  private keyObject(key: unknown): KeyObject {
    if (key instanceof KeyObject) return key;
    const k = key as crypto.webcrypto.CryptoKey;
    let obj = this.asKeyObject.get(k);
    if (obj === undefined) {
      obj = KeyObject.from(k);
      this.asKeyObject.set(k, obj);
    }
    return obj;
  }

  /** Loads the set now; with `mustSucceed` a failure is an error, else it is logged (a URL may be down at start). */
  async refresh(mustSucceed: boolean): Promise<void> {
    try {
      await this.remote.reload();
    } catch (err) {
      if (mustSucceed || this.lastGood === undefined) {
        throw new JwksUnavailableError(
          `JWKS ${this.describe()} could not be loaded: ${(err as Error).message}`,
        );
      }
      this.options.log?.('JWKS refresh failed; keeping the previous keys', { error: (err as Error).message });
    }
  }
}

class CoolingDown extends Error {
  constructor() {
    super('refetched less than the minimum interval ago');
  }
}

async function collect(err: JWKSMultipleMatchingKeys): Promise<unknown[]> {
  const keys: unknown[] = [];
  for await (const key of err) keys.push(key);
  return keys;
}
