import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';

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

interface Jwk {
  kty?: unknown;
  kid?: unknown;
  alg?: unknown;
  use?: unknown;
}

/** The usable signature keys of a JWKS document; encryption keys, private keys and odd algorithms are skipped. */
export function parseJwks(doc: unknown): { keys: VerificationKey[]; skipped: number } {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new Error('a JWKS must be a JSON object with a "keys" array');
  }
  const keys: VerificationKey[] = [];
  let skipped = 0;
  for (const jwk of (doc as { keys: Jwk[] }).keys) {
    try {
      if (typeof jwk !== 'object' || jwk === null || (jwk.use !== undefined && jwk.use !== 'sig')) {
        skipped++;
        continue;
      }
      if ('d' in jwk) {
        skipped++; // a private key published by mistake: never use it, and it must not make us accept HS tokens
        continue;
      }
      const key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
      const alg = algForKey(key);
      if (!alg || (jwk.alg !== undefined && jwk.alg !== alg)) {
        skipped++;
        continue;
      }
      keys.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, alg, key });
    } catch {
      skipped++;
    }
  }
  return { keys, skipped };
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

/**
 * A cached JWKS. Keys are fetched on first use, again when the cache expires, and on an unknown `kid` (rate
 * limited, so forged kids cannot make us hammer the issuer). When a refetch fails the last good keys stay in use.
 */
export class JwksSource {
  private keys: VerificationKey[] | undefined;
  private fetchedAt = 0;
  private lastAttempt = 0;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: JwksSourceOptions) {
    if (!options.file === !options.url) throw new Error('JwksSource needs exactly one of file or url');
  }

  describe(): string {
    return this.options.file ?? this.options.url ?? '';
  }

  /** Candidate keys for a token: by `kid` when it has one, else every key for the algorithm. */
  async keysFor(kid: string | undefined, alg: AsymmetricAlg): Promise<VerificationKey[]> {
    const now = Date.now();
    if (this.keys === undefined || now - this.fetchedAt > this.options.cacheSeconds * 1000) {
      await this.refresh(this.keys === undefined);
    }
    let found = this.match(kid, alg);
    const minRefetch = (this.options.minRefetchSeconds ?? 10) * 1000;
    if (found.length === 0 && kid !== undefined && Date.now() - this.lastAttempt > minRefetch) {
      await this.refresh(false);
      found = this.match(kid, alg);
    }
    return found;
  }

  private match(kid: string | undefined, alg: AsymmetricAlg): VerificationKey[] {
    return (this.keys ?? []).filter((k) => k.alg === alg && (kid === undefined || k.kid === kid));
  }

  /** Loads the set; with `mustSucceed` a failure with no previous keys is an error, else it is logged. */
  async refresh(mustSucceed: boolean): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.load().finally(() => {
        this.inFlight = undefined;
      });
    }
    try {
      await this.inFlight;
    } catch (err) {
      if (mustSucceed || this.keys === undefined) {
        throw new JwksUnavailableError(
          `JWKS ${this.describe()} could not be loaded: ${(err as Error).message}`,
        );
      }
      this.options.log?.('JWKS refresh failed; keeping the previous keys', { error: (err as Error).message });
    }
  }

  private async load(): Promise<void> {
    this.lastAttempt = Date.now();
    let doc: unknown;
    if (this.options.file) {
      doc = JSON.parse(await fs.promises.readFile(this.options.file, 'utf8'));
    } else {
      const res = await fetch(this.options.url!, {
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
        headers: { accept: 'application/json' },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = await res.json();
    }
    const { keys, skipped } = parseJwks(doc);
    if (keys.length === 0) throw new Error(`no usable RS256/ES256 signature key (${skipped} skipped)`);
    this.keys = keys;
    this.fetchedAt = Date.now();
  }
}
