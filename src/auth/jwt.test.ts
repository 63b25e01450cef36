import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { ConfigError, loadConfig } from '../config/config';
import { devSecretPath, resolveJwtSecret } from './dev-secret';
import { JwksSource } from './jwks';
import { signToken, TokenVerifier, tokenVerifierOptions, type TokenVerifierOptions } from './jwt';

const SECRET = 'a-shared-secret-that-is-long-enough-0123456789';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaOther = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const ecOther = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const now = () => Math.floor(Date.now() / 1000);
const claims = { sub: 'u1', merchant_id: 'm01', roles: ['agent'] };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-jwt-test-'));

const jwk = (key: crypto.KeyObject, kid: string, alg: string) => ({
  ...key.export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
});

function options(overrides: Partial<TokenVerifierOptions> = {}): TokenVerifierOptions {
  return {
    hsSecret: undefined,
    publicKeys: [],
    jwks: undefined,
    issuer: undefined,
    audience: [],
    clockSkewSeconds: 30,
    claims: { merchantId: 'merchant_id', subject: 'sub', roles: 'roles' },
    ...overrides,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  return 'OK';
}

/** A JWKS endpoint that counts its requests and can rotate its keys. */
let jwksDoc: { keys: object[] } = { keys: [] };
let jwksRequests = 0;
const jwksServer = http.createServer((_req, res) => {
  jwksRequests++;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(jwksDoc));
});
let jwksUrl = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('HS256 with a shared secret', () => {
  const verifier = new TokenVerifier(options({ hsSecret: SECRET }));

  it('accepts a valid token and maps its claims', async () => {
    const identity = await verifier.verify(
      signToken({ sub: 'u1', merchantId: 'm01', roles: ['agent'] }, SECRET),
    );
    expect(identity).toEqual({
      merchantId: 'm01',
      userId: 'u1',
      roles: ['agent'],
      principals: ['u1', 'role:agent'],
      credential: { kind: 'token' },
    });
  });

  it('refuses forged, alg=none, expired and unexpiring tokens', async () => {
    const forged = jwt.sign(claims, 'another-secret-that-is-long-enough-0123456789', { expiresIn: 60 });
    expect(await codeOf(verifier.verify(forged))).toBe(ErrorCode.UNAUTHENTICATED);
    const none = jwt.sign(claims, '', { algorithm: 'none', expiresIn: 60 } as jwt.SignOptions);
    expect(await codeOf(verifier.verify(none))).toBe(ErrorCode.UNAUTHENTICATED);
    // A token with `none` written by hand, and one with a signature stripped from a valid token.
    const valid = jwt.sign(claims, SECRET, { expiresIn: 60 });
    const [, body] = valid.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(await codeOf(verifier.verify(`${header}.${body}.`))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(await codeOf(verifier.verify(valid.split('.').slice(0, 2).join('.') + '.'))).toBe(
      ErrorCode.UNAUTHENTICATED,
    );
    const expired = jwt.sign({ ...claims, exp: now() - 120 }, SECRET);
    await expect(verifier.verify(expired)).rejects.toThrow('the token has expired');
    const unexpiring = jwt.sign(claims, SECRET);
    await expect(verifier.verify(unexpiring)).rejects.toThrow('no expiry');
    expect(await codeOf(verifier.verify('not-a-jwt'))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('allows the configured clock skew and no more', async () => {
    const justExpired = jwt.sign({ ...claims, exp: now() - 10 }, SECRET);
    expect(await codeOf(verifier.verify(justExpired))).toBe('OK');
    const strict = new TokenVerifier(options({ hsSecret: SECRET, clockSkewSeconds: 0 }));
    expect(await codeOf(strict.verify(justExpired))).toBe(ErrorCode.UNAUTHENTICATED);
    const notYet = jwt.sign({ ...claims, nbf: now() + 120 }, SECRET, { expiresIn: 600 });
    await expect(verifier.verify(notYet)).rejects.toThrow('not valid yet');
  });

  it('refuses subjects that pose as a role or an API key', async () => {
    for (const sub of ['role:agent', 'apikey:0123456789abcdef']) {
      const t = jwt.sign({ ...claims, sub }, SECRET, { expiresIn: 60 });
      expect(await codeOf(verifier.verify(t))).toBe(ErrorCode.UNAUTHENTICATED);
    }
  });

  it('refuses HS256 when only public keys are configured', async () => {
    const pemOnly = new TokenVerifier(
      options({ publicKeys: [{ kid: undefined, alg: 'RS256', key: rsa.publicKey }] }),
    );
    const t = jwt.sign(claims, SECRET, { expiresIn: 60 });
    await expect(pemOnly.verify(t)).rejects.toThrow('HS256 tokens are not accepted');
  });
});

describe('verified tokens remembered (AUTH_TOKEN_CACHE_SECONDS)', () => {
  const rs256 = (payload: object, expiresIn: number) =>
    jwt.sign(payload, rsa.privateKey, { algorithm: 'RS256', expiresIn });

  it('answers a token it verified without its key, and verifies every time when off', async () => {
    // The key list is the verifier's own array: emptied, only a remembered token can still be accepted.
    const remembering = [{ kid: undefined, alg: 'RS256' as const, key: rsa.publicKey }];
    const everyTime = [...remembering];
    const cached = new TokenVerifier(options({ publicKeys: remembering, cacheSeconds: 30 }));
    const uncached = new TokenVerifier(options({ publicKeys: everyTime, cacheSeconds: 0 }));
    const token = rs256(claims, 600);
    const first = await cached.verify(token);
    expect(await uncached.verify(token)).toEqual(first);
    remembering.length = 0;
    everyTime.length = 0;
    expect(await cached.verify(token)).toEqual(first);
    await expect(uncached.verify(token)).rejects.toThrow('no RS256 key');
    // Only what verified is remembered: another token of the same subject goes through the (now empty) key list.
    await expect(cached.verify(rs256(claims, 601))).rejects.toThrow('no RS256 key');
  });

  it('hands every request its own copy of the identity', async () => {
    const cached = new TokenVerifier(options({ hsSecret: SECRET, cacheSeconds: 30 }));
    const token = jwt.sign(claims, SECRET, { expiresIn: 600 });
    const first = await cached.verify(token);
    first.principals.push('role:admin');
    first.roles.push('admin');
    first.merchantId = 'm02';
    expect(await cached.verify(token)).toEqual({
      merchantId: 'm01',
      userId: 'u1',
      roles: ['agent'],
      principals: ['u1', 'role:agent'],
      credential: { kind: 'token' },
    });
  });

  it('never past the expiry the token was accepted until', async () => {
    const cached = new TokenVerifier(options({ hsSecret: SECRET, clockSkewSeconds: 0, cacheSeconds: 300 }));
    const token = jwt.sign({ ...claims, exp: now() + 1 }, SECRET);
    expect(await codeOf(cached.verify(token))).toBe('OK');
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await expect(cached.verify(token)).rejects.toThrow('the token has expired');
  });
});

describe('RS256 and ES256 with public keys', () => {
  const pemFile = path.join(tmp, 'rsa.pem');
  fs.writeFileSync(pemFile, rsa.publicKey.export({ type: 'spki', format: 'pem' }));

  it('verifies RS256 with a PEM file, with issuer and audience checks', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      AUTH_JWT_PUBLIC_KEY_FILE: pemFile,
      AUTH_JWT_ISSUER: 'https://idp.example',
      AUTH_JWT_AUDIENCE: 'support-gateway,other',
    });
    const verifier = new TokenVerifier(tokenVerifierOptions(config, undefined));
    const sign = (opts: jwt.SignOptions, key: crypto.KeyObject = rsa.privateKey) =>
      jwt.sign(claims, key, { algorithm: 'RS256', expiresIn: 60, ...opts });
    const good = sign({ issuer: 'https://idp.example', audience: 'support-gateway' });
    expect((await verifier.verify(good)).merchantId).toBe('m01');
    await expect(
      verifier.verify(sign({ issuer: 'https://evil.example', audience: 'support-gateway' })),
    ).rejects.toThrow('another issuer');
    await expect(
      verifier.verify(sign({ issuer: 'https://idp.example', audience: 'billing' })),
    ).rejects.toThrow('another audience');
    await expect(verifier.verify(sign({ audience: 'support-gateway' }))).rejects.toThrow('another issuer');
    const otherKey = sign(
      { issuer: 'https://idp.example', audience: 'support-gateway' },
      rsaOther.privateKey,
    );
    expect(await codeOf(verifier.verify(otherKey))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('refuses the HS256-signed-with-the-public-key confusion', async () => {
    const verifier = new TokenVerifier(
      options({ hsSecret: SECRET, publicKeys: [{ kid: undefined, alg: 'RS256', key: rsa.publicKey }] }),
    );
    const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // jsonwebtoken refuses to sign HS256 with a PEM, so sign by hand as an attacker would.
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ ...claims, exp: now() + 60 })).toString('base64url');
    const sig = crypto.createHmac('sha256', publicPem).update(`${header}.${body}`).digest('base64url');
    expect(await codeOf(verifier.verify(`${header}.${body}.${sig}`))).toBe(ErrorCode.UNAUTHENTICATED);
    // And an ES256 token against an RSA-only configuration.
    const es = jwt.sign(claims, ec.privateKey, { algorithm: 'ES256', expiresIn: 60 });
    await expect(verifier.verify(es)).rejects.toThrow('no ES256 key');
  });

  it('reads a JWKS file and picks the key by kid', async () => {
    const file = path.join(tmp, 'jwks.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ keys: [jwk(ec.publicKey, 'ec-1', 'ES256'), jwk(rsa.publicKey, 'rsa-1', 'RS256')] }),
    );
    const config = loadConfig({
      NODE_ENV: 'test',
      AUTH_JWKS_FILE: file,
      AUTH_CLAIM_MERCHANT_ID: 'https://acme.example/tenant',
      AUTH_CLAIM_ROLES: 'groups',
    });
    const verifier = new TokenVerifier(tokenVerifierOptions(config, undefined));
    await verifier.warmUp();
    const t = jwt.sign(
      { sub: 'u5', 'https://acme.example/tenant': 'm02', groups: ['agent'] },
      ec.privateKey,
      {
        algorithm: 'ES256',
        keyid: 'ec-1',
        expiresIn: 60,
      },
    );
    expect(await verifier.verify(t)).toMatchObject({ merchantId: 'm02', userId: 'u5', roles: ['agent'] });
    // The default claim name is no longer read.
    const defaultNames = jwt.sign(claims, ec.privateKey, {
      algorithm: 'ES256',
      keyid: 'ec-1',
      expiresIn: 60,
    });
    await expect(verifier.verify(defaultNames)).rejects.toThrow('https://acme.example/tenant');
    const wrongKid = jwt.sign(claims, ec.privateKey, { algorithm: 'ES256', keyid: 'rsa-1', expiresIn: 60 });
    expect(await codeOf(verifier.verify(wrongKid))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('fetches a JWKS over HTTP, caches it, refetches on an unknown kid and rejects forged signatures', async () => {
    jwksDoc = { keys: [jwk(ec.publicKey, 'k1', 'ES256')] };
    jwksRequests = 0;
    const verifier = new TokenVerifier(
      options({ jwks: new JwksSource({ url: jwksUrl, cacheSeconds: 600, minRefetchSeconds: 0 }) }),
    );
    const sign = (key: crypto.KeyObject, kid: string) =>
      jwt.sign(claims, key, { algorithm: 'ES256', keyid: kid, expiresIn: 60 });
    expect((await verifier.verify(sign(ec.privateKey, 'k1'))).userId).toBe('u1');
    await verifier.verify(sign(ec.privateKey, 'k1'));
    expect(jwksRequests).toBe(1);
    // Signed with another key under a known kid: a forgery, and no refetch is needed to say so.
    expect(await codeOf(verifier.verify(sign(ecOther.privateKey, 'k1')))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(jwksRequests).toBe(1);
    // The issuer rotates: the new kid is fetched once.
    jwksDoc = { keys: [jwk(ec.publicKey, 'k1', 'ES256'), jwk(ecOther.publicKey, 'k2', 'ES256')] };
    expect((await verifier.verify(sign(ecOther.privateKey, 'k2'))).userId).toBe('u1');
    expect(jwksRequests).toBe(2);
  });

  it('rate-limits refetches for unknown kids and reports an unreachable JWKS as SERVICE_UNAVAILABLE', async () => {
    jwksDoc = { keys: [jwk(ec.publicKey, 'k1', 'ES256')] };
    jwksRequests = 0;
    const verifier = new TokenVerifier(
      options({ jwks: new JwksSource({ url: jwksUrl, cacheSeconds: 600, minRefetchSeconds: 60 }) }),
    );
    for (let i = 0; i < 5; i++) {
      const t = jwt.sign(claims, ec.privateKey, { algorithm: 'ES256', keyid: `forged-${i}`, expiresIn: 60 });
      expect(await codeOf(verifier.verify(t))).toBe(ErrorCode.UNAUTHENTICATED);
    }
    expect(jwksRequests).toBe(1);
    const down = new TokenVerifier(
      options({
        jwks: new JwksSource({ url: 'http://127.0.0.1:9/jwks.json', cacheSeconds: 600, timeoutMs: 500 }),
      }),
    );
    const t = jwt.sign(claims, ec.privateKey, { algorithm: 'ES256', keyid: 'k1', expiresIn: 60 });
    expect(await codeOf(down.verify(t))).toBe(ErrorCode.SERVICE_UNAVAILABLE);
  });

  it('never uses a private member, tries every key without a kid, and keeps the last good keys', async () => {
    const file = path.join(tmp, 'rotating.json');
    const leaked = { ...ecOther.privateKey.export({ format: 'jwk' }), kid: 'leaked', use: 'sig' };
    fs.writeFileSync(
      file,
      JSON.stringify({ keys: [leaked, jwk(rsa.publicKey, 'r1', 'RS256'), jwk(ec.publicKey, 'e1', 'ES256')] }),
    );
    const logs: string[] = [];
    const verifier = new TokenVerifier(
      options({
        jwks: new JwksSource({ file, cacheSeconds: 0, minRefetchSeconds: 0, log: (m) => logs.push(m) }),
      }),
    );
    await verifier.warmUp();
    const es = (key: crypto.KeyObject, kid?: string) =>
      jwt.sign(claims, key, { algorithm: 'ES256', expiresIn: 60, ...(kid ? { keyid: kid } : {}) });
    // The private member's own public half must not verify anything signed with it.
    expect(await codeOf(verifier.verify(es(ecOther.privateKey, 'leaked')))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(await codeOf(verifier.verify(es(ecOther.privateKey)))).toBe(ErrorCode.UNAUTHENTICATED);
    expect((await verifier.verify(es(ec.privateKey))).userId).toBe('u1'); // no kid: every ES256 key is tried
    // The file turns unreadable: the keys loaded before keep working (cache age 0 forces a refresh each time).
    fs.writeFileSync(file, '{ not json');
    expect((await verifier.verify(es(ec.privateKey, 'e1'))).userId).toBe('u1');
    expect(logs).toContain('JWKS refresh failed; keeping the previous keys');
  });
});

describe('configuration', () => {
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it('refuses production without a verification key, and names what to set', () => {
    const problems = problemsOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://x@127.0.0.1/db' });
    expect(problems.join('\n')).toMatch(/AUTH_JWT_SECRET.*AUTH_JWKS_URL/);
  });

  it('validates key files, URLs and claim names', () => {
    const problems = problemsOf({
      NODE_ENV: 'test',
      AUTH_JWT_PUBLIC_KEY_FILE: '/nonexistent/key.pem',
      AUTH_JWKS_URL: 'ftp://idp.example/jwks',
      AUTH_CLAIM_ROLES: 'merchant_id',
      AUTH_CLOCK_SKEW_SECONDS: '3600',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('AUTH_JWT_PUBLIC_KEY_FILE'),
        expect.stringContaining('AUTH_JWKS_URL'),
        expect.stringContaining('three different claims'),
        expect.stringContaining('AUTH_CLOCK_SKEW_SECONDS'),
      ]),
    );
  });

  it('refuses a private key as the public key file', () => {
    const file = path.join(tmp, 'private.pem');
    fs.writeFileSync(file, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const config = loadConfig({ NODE_ENV: 'test', AUTH_JWT_PUBLIC_KEY_FILE: file });
    expect(() => tokenVerifierOptions(config, undefined)).toThrow('private key');
  });

  it('generates a development secret only in development, and production refuses it', () => {
    const dataDir = path.join(tmp, 'data');
    const dev = loadConfig({ NODE_ENV: 'development', PGLITE_DATA_DIR: dataDir });
    const generated = resolveJwtSecret(dev);
    expect(generated.generated).toBe(true);
    expect(fs.readFileSync(devSecretPath(dev), 'utf8').trim()).toBe(generated.secret);
    expect(() => resolveJwtSecret(loadConfig({ NODE_ENV: 'test', PGLITE_DATA_DIR: dataDir }))).toThrow(
      'needs a token verification key',
    );
    const prod = loadConfig({
      NODE_ENV: 'production',
      PGLITE_DATA_DIR: dataDir,
      AUTH_JWT_SECRET: generated.secret!,
    });
    expect(() => resolveJwtSecret(prod)).toThrow('development secret');
    const prodOwn = loadConfig({ NODE_ENV: 'production', PGLITE_DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET });
    expect(resolveJwtSecret(prodOwn)).toEqual({ secret: SECRET, generated: false });
  });
});
