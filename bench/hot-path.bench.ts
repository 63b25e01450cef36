import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse, validate } from 'graphql';
import Redis from 'ioredis';
import { jwtVerify } from 'jose';
import jwt from 'jsonwebtoken';
import { JwksSource } from '../src/auth/jwks';
import { TokenVerifier } from '../src/auth/jwt';
import { buildGatewaySchema } from '../src/graphql/schema';
import { checkOperationShape } from '../src/limits/query-limits';
import { RateLimitStore } from '../src/limits/rate-limiter';
import { MemoryTokenBuckets, RedisTokenBuckets } from './baseline/token-buckets';
import { projectRoot } from '../src/common/project-root';
import { log, machine, writeResults } from './bench-utils';
import { integerOption, parseCommandLine } from '../src/cli/command-line';

/**
 * The per-request hot paths the library swaps of issue 15 touch, before and after side by side in one run
 * (interleaved rounds, median of the rounds): token verification (jsonwebtoken vs jose, and a JWKS lookup through
 * jose's key set), the rate-limit check (the old token buckets vs rate-limiter-flexible, in memory and in Redis),
 * and the operation shape check that still runs before graphql-js validation.
 * Usage: node dist/bench/hot-path.bench.js [--rounds 5] [--redis redis://127.0.0.1:6379]
 */
const HELP =
  'Usage: npm run bench:hot-path [-- --rounds N --redis URL]\n' +
  'Times token verification, rate-limit checks and operation analysis before/after the library swaps.\n' +
  'Writes docs/benchmarks/hot-path.{json,md}. Uses Redis keys under srg:bench:hot:* (deleted afterwards).';
const { values: cli } = parseCommandLine(HELP, {
  options: { rounds: { type: 'string' }, redis: { type: 'string' } },
});
const ROUNDS = integerOption(HELP, 'rounds', cli.rounds, 5);
const REDIS_URL = cli.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Mean µs per call over `n` sequential awaited calls. */
async function perCall(n: number, fn: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return ((performance.now() - t) / n) * 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Row {
  what: string;
  before: string;
  after: string;
  beforeUs: number;
  afterUs: number;
}

async function compare(
  what: string,
  before: [string, (i: number) => unknown],
  after: [string, (i: number) => unknown],
  n: number,
): Promise<Row> {
  const b: number[] = [];
  const a: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which side goes first, so a noisy neighbour does not always hit the same one.
    if (r % 2 === 0) {
      b.push(await perCall(n, before[1]));
      a.push(await perCall(n, after[1]));
    } else {
      a.push(await perCall(n, after[1]));
      b.push(await perCall(n, before[1]));
    }
  }
  const row = { what, before: before[0], after: after[0], beforeUs: median(b), afterUs: median(a) };
  log(`${what}: ${row.beforeUs.toFixed(1)} µs → ${row.afterUs.toFixed(1)} µs`);
  return row;
}

async function tokens(): Promise<Row[]> {
  const secret = 'a-shared-secret-that-is-long-enough-0123456789';
  const hsKey = crypto.createSecretKey(Buffer.from(secret));
  const hsCrypto = await crypto.webcrypto.subtle.importKey(
    'raw',
    Buffer.from(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const claims = { sub: 'u1', merchant_id: 'm01', roles: ['agent'] };
  const hs = jwt.sign(claims, secret, { expiresIn: 3600 });
  const es = jwt.sign(claims, ec.privateKey, { algorithm: 'ES256', expiresIn: 3600, keyid: 'e1' });
  const rs = jwt.sign(claims, rsa.privateKey, { algorithm: 'RS256', expiresIn: 3600 });
  const rows: Row[] = [];
  rows.push(
    await compare(
      'verify HS256',
      ['jsonwebtoken, KeyObject', () => jwt.verify(hs, hsKey, { algorithms: ['HS256'] })],
      ['jose jwtVerify, CryptoKey', () => jwtVerify(hs, hsCrypto, { algorithms: ['HS256'] })],
      5000,
    ),
  );
  rows.push(
    await compare(
      'verify ES256',
      ['jsonwebtoken', () => jwt.verify(es, ec.publicKey, { algorithms: ['ES256'] })],
      ['jose jwtVerify', () => jwtVerify(es, ec.publicKey, { algorithms: ['ES256'] })],
      1000,
    ),
  );
  rows.push(
    await compare(
      'verify RS256',
      ['jsonwebtoken', () => jwt.verify(rs, rsa.publicKey, { algorithms: ['RS256'] })],
      ['jose jwtVerify', () => jwtVerify(rs, rsa.publicKey, { algorithms: ['RS256'] })],
      1000,
    ),
  );
  // The gateway's whole verification of an ES256 token: key from a PEM vs looked up by kid in a JWKS (jose).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-bench-jwks-'));
  const file = path.join(dir, 'jwks.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'e1' }] }),
  );
  const base = {
    hsSecret: undefined,
    issuer: undefined,
    audience: [],
    clockSkewSeconds: 30,
    claims: { merchantId: 'merchant_id', subject: 'sub', roles: 'roles' },
  };
  const pem = new TokenVerifier({
    ...base,
    publicKeys: [{ kid: undefined, alg: 'ES256', key: ec.publicKey }],
    jwks: undefined,
  });
  const jwks = new TokenVerifier({
    ...base,
    publicKeys: [],
    jwks: new JwksSource({ file, cacheSeconds: 600 }),
  });
  await jwks.warmUp();
  rows.push(
    await compare(
      'TokenVerifier.verify ES256 (whole path)',
      ['key from a PEM file', () => pem.verify(es)],
      ['key by kid from a JWKS (jose)', () => jwks.verify(es)],
      1000,
    ),
  );
  // The default credential (HS256) as the gateway sees it on every request of a session: the same token again.
  const everyTime = new TokenVerifier({ ...base, hsSecret: secret, publicKeys: [], jwks: undefined });
  const remembered = new TokenVerifier({
    ...base,
    hsSecret: secret,
    publicKeys: [],
    jwks: undefined,
    cacheSeconds: 30,
  });
  rows.push(
    await compare(
      'TokenVerifier.verify HS256, the same token again (whole path)',
      ['verified every time (AUTH_TOKEN_CACHE_SECONDS=0)', () => everyTime.verify(hs)],
      ['remembered (AUTH_TOKEN_CACHE_SECONDS=30, the default)', () => remembered.verify(hs)],
      5000,
    ),
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return rows;
}

async function rateLimits(): Promise<Row[]> {
  const limits = {
    merchant: { perMinute: 1e9, burst: 1e6 },
    caller: { perMinute: 1e9, burst: 1e6 },
    anonymous: { perMinute: 1e9, burst: 1e6 },
  };
  const buckets = (i: number) => [
    { name: 'merchant', key: `m:${i % 50}`, perMinute: 1e9, burst: 1e6 },
    { name: 'caller', key: `c:${i % 500}`, perMinute: 1e9, burst: 1e6 },
  ];
  const charges = (i: number) =>
    [
      { limit: 'merchant', key: `m${i % 50}` },
      { limit: 'caller', key: `c${i % 500}` },
    ] as const;
  const rows: Row[] = [];
  const oldMemory = new MemoryTokenBuckets();
  const newMemory = new RateLimitStore(limits, undefined, () => undefined);
  rows.push(
    await compare(
      'rate-limit check, in memory (merchant + caller)',
      ['hand-written token buckets', (i) => oldMemory.take(buckets(i), 1)],
      ['rate-limiter-flexible RateLimiterMemory', (i) => newMemory.take(charges(i), 1)],
      20000,
    ),
  );
  const prefix = `srg:bench:hot:${process.pid}:`;
  const oldRedis = new RedisTokenBuckets(REDIS_URL, `${prefix}old:`, new MemoryTokenBuckets(), log);
  const newRedis = new RateLimitStore(limits, { url: REDIS_URL, prefix: `${prefix}new:` }, log);
  await oldRedis.start();
  await newRedis.start();
  try {
    rows.push(
      await compare(
        'rate-limit check, Redis (merchant + caller)',
        ['hand-written Lua token buckets (1 script call)', (i) => oldRedis.take(buckets(i), 1)],
        [
          'rate-limiter-flexible RateLimiterRedis (2 script calls, parallel)',
          (i) => newRedis.take(charges(i), 1),
        ],
        2000,
      ),
    );
  } finally {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await oldRedis.close();
    await newRedis.close();
  }
  return rows;
}

async function operations(): Promise<Row[]> {
  const schema = await buildGatewaySchema(new Map());
  const limits = { maxDepth: 12, maxAliases: 30, maxSelections: 500, maxCost: 1000 };
  const typical = fs.readFileSync(path.join(projectRoot(), 'operations', 'retrieve-chunks.graphql'), 'utf8');
  const hostile = `{ document(id: "d7") { ${'id '.repeat(6000)} } }`;
  const doc = parse(typical);
  const rows: Row[] = [];
  rows.push(
    await compare(
      'typical operation: shape check vs graphql-js validate (reference, not a swap)',
      ['graphql-js validate (parsed)', () => validate(schema, doc)],
      [
        'checkOperationShape (parse + depth/aliases/selections)',
        () => checkOperationShape(schema, typical, limits),
      ],
      2000,
    ),
  );
  const shape = await perCall(200, () => checkOperationShape(schema, hostile, limits));
  log(`20 KB of repeated fields: refused by the shape check in ${(shape / 1000).toFixed(2)} ms`);
  rows.push({
    what: '20 KB document of repeated fields (refused)',
    before: '—',
    after: 'checkOperationShape',
    beforeUs: NaN,
    afterUs: shape,
  });
  return rows;
}

async function main(): Promise<void> {
  log(`hot paths, ${ROUNDS} rounds, ${machine()}`);
  const rows = [...(await tokens()), ...(await rateLimits()), ...(await operations())];
  const fmt = (us: number) => (Number.isNaN(us) ? '—' : us < 10 ? us.toFixed(2) : us.toFixed(1));
  const md = [
    '# Hot paths before and after the library swaps (issue 15)',
    '',
    `\`npm run bench:hot-path\` — ${new Date().toISOString().slice(0, 10)}, ${machine()}, median of ${ROUNDS} interleaved rounds; µs per call, sequential.`,
    '',
    '| path | before | µs | after | µs | after / before |',
    '| --- | --- | ---: | --- | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.what} | ${r.before} | ${fmt(r.beforeUs)} | ${r.after} | ${fmt(r.afterUs)} | ${Number.isNaN(r.beforeUs) ? '—' : (r.afterUs / r.beforeUs).toFixed(2) + '×'} |`,
    ),
    '',
  ].join('\n');
  writeResults('hot-path', { date: new Date().toISOString(), machine: machine(), rounds: ROUNDS, rows }, md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
