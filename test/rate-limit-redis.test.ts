import Redis from 'ioredis';
import { type Bucket, MemoryTokenBuckets, RedisTokenBuckets } from '../src/limits/token-buckets';
import { redisAvailable, REDIS_URL, uniquePrefix } from './support/http';

const describeRedis = redisAvailable() ? describe : describe.skip;

describeRedis('RedisTokenBuckets on a real Redis', () => {
  const prefix = uniquePrefix('i5-buckets');
  const logs: string[] = [];
  const store = new RedisTokenBuckets(REDIS_URL, prefix, new MemoryTokenBuckets(), (m) => logs.push(m));
  beforeAll(async () => {
    await store.start();
  });
  afterAll(async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await store.close();
  });

  it('is atomic: 60 concurrent takes from a burst of 10 allow exactly 10', async () => {
    const b: Bucket = { name: 'caller', key: 'c:race', perMinute: 1, burst: 10 };
    const results = await Promise.all(Array.from({ length: 60 }, () => store.take([b], 1)));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    const refused = results.find((r) => !r.allowed);
    expect(refused).toMatchObject({ allowed: false, bucket: 'caller' });
    expect(logs).toEqual([]); // answered by Redis, not by the fallback
  });

  it('takes from every bucket or none, and stores buckets under the prefix with an expiry', async () => {
    const small: Bucket = { name: 'merchant', key: 'm:x', perMinute: 60, burst: 1 };
    const own: Bucket = { name: 'caller', key: 'c:x', perMinute: 60, burst: 3 };
    expect((await store.take([small, own], 1)).allowed).toBe(true);
    expect(await store.take([small, own], 1)).toMatchObject({ allowed: false, bucket: 'merchant' });
    expect((await store.take([own], 2)).allowed).toBe(true); // 3 - 1, the refusal took nothing
    const redis = new Redis(REDIS_URL);
    try {
      const ttl = await redis.pttl(`${prefix}c:x`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3 * 1000 + 1000);
    } finally {
      redis.disconnect();
    }
  });
});

describe('RedisTokenBuckets without a reachable Redis', () => {
  it('falls back to in-process buckets and says so once', async () => {
    const logs: string[] = [];
    // Port 1 on localhost: nothing listens there, the connection is refused at once.
    const store = new RedisTokenBuckets('redis://127.0.0.1:1', 'x:', new MemoryTokenBuckets(), (m) =>
      logs.push(m),
    );
    try {
      await store.start();
      const b: Bucket = { name: 'caller', key: 'c:f', perMinute: 1, burst: 2 };
      expect((await store.take([b], 1)).allowed).toBe(true);
      expect((await store.take([b], 1)).allowed).toBe(true);
      expect((await store.take([b], 1)).allowed).toBe(false);
      expect(logs.length).toBe(1); // once per minute, not per request
    } finally {
      await store.close();
    }
  });
});
