import Redis from 'ioredis';
import { RateLimitStore } from '../src/limits/rate-limiter';
import { redisAvailable, REDIS_URL, uniquePrefix } from './support/http';

const describeRedis = redisAvailable() ? describe : describe.skip;
const limits = (caller: { perMinute: number; burst: number }, merchant = { perMinute: 60, burst: 1 }) => ({
  merchant,
  caller,
  anonymous: { perMinute: 60, burst: 1 },
});

describeRedis('rate limits in a real Redis (rate-limiter-flexible)', () => {
  const prefix = uniquePrefix('i5-buckets');
  const logs: string[] = [];
  // What is checked here is Redis's answer, not how fast it comes: the gateway's 500 ms command timeout fell back
  // to the in-process limits for 60 concurrent takes on a CI machine running three test lanes.
  const redis = { url: REDIS_URL, prefix, commandTimeoutMs: 10_000 };
  const store = new RateLimitStore(limits({ perMinute: 1, burst: 10 }), redis, (m) => logs.push(m));
  const small = new RateLimitStore(
    limits({ perMinute: 60, burst: 3 }, { perMinute: 60, burst: 1 }),
    redis,
    (m) => logs.push(m),
  );
  beforeAll(async () => {
    await store.start();
    await small.start();
  });
  afterAll(async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await store.close();
    await small.close();
  });

  it('is atomic: 60 concurrent takes from a burst of 10 allow exactly 10', async () => {
    const results = await Promise.all(
      Array.from({ length: 60 }, () => store.take([{ limit: 'caller', key: 'race' }], 1)),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    const refused = results.find((r) => !r.allowed);
    expect(refused).toMatchObject({ allowed: false, limit: 'caller' });
    expect(logs).toEqual([]); // answered by Redis, not by the fallback
  });

  it('takes from every limit or none, and stores them under the prefix with an expiry', async () => {
    const both = [
      { limit: 'merchant', key: 'x' },
      { limit: 'caller', key: 'x' },
    ] as const;
    expect((await small.take(both, 1)).allowed).toBe(true);
    expect(await small.take(both, 1)).toMatchObject({ allowed: false, limit: 'merchant' });
    // 3 - 1: the caller's point taken alongside the refused merchant charge was given back.
    expect((await small.take([{ limit: 'caller', key: 'x' }], 2)).allowed).toBe(true);
    expect((await small.take([{ limit: 'caller', key: 'x' }], 1)).allowed).toBe(false);
    const redis = new Redis(REDIS_URL);
    try {
      const ttl = await redis.pttl(`${prefix}caller:x`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3 * 1000); // the window of 3 per 3 s
    } finally {
      redis.disconnect();
    }
  });
});

describe('rate limits without a reachable Redis', () => {
  it('falls back to in-process limits and says so once', async () => {
    const logs: string[] = [];
    // Port 1 on localhost: nothing listens there, the connection is refused at once.
    const store = new RateLimitStore(
      limits({ perMinute: 1, burst: 2 }),
      { url: 'redis://127.0.0.1:1', prefix: 'x:' },
      (m) => logs.push(m),
    );
    try {
      await store.start();
      const c = [{ limit: 'caller', key: 'f' }] as const;
      expect((await store.take(c, 1)).allowed).toBe(true);
      expect((await store.take(c, 1)).allowed).toBe(true);
      expect((await store.take(c, 1)).allowed).toBe(false);
      expect(logs.length).toBe(1); // once per minute, not per request
    } finally {
      await store.close();
    }
  });
});
