import { MemoryTokenBuckets, type Bucket } from './token-buckets';

describe('MemoryTokenBuckets', () => {
  let now = 1_000_000;
  const store = new MemoryTokenBuckets(() => now);
  const merchant: Bucket = { name: 'merchant', key: 'm:a', perMinute: 60, burst: 3 };
  const caller: Bucket = { name: 'caller', key: 'c:a', perMinute: 600, burst: 10 };

  it('allows the burst, refuses with the time until a token is back, refills at the rate', async () => {
    for (let i = 0; i < 3; i++) expect(await store.take([merchant, caller], 1)).toEqual({ allowed: true });
    expect(await store.take([merchant, caller], 1)).toEqual({
      allowed: false,
      retryAfterMs: 1000,
      bucket: 'merchant',
    });
    now += 1000; // 60 per minute: one token per second
    expect(await store.take([merchant, caller], 1)).toEqual({ allowed: true });
  });

  it('takes from every bucket or from none', async () => {
    now += 60_000;
    const small: Bucket = { name: 'merchant', key: 'm:b', perMinute: 60, burst: 1 };
    const own: Bucket = { name: 'caller', key: 'c:b', perMinute: 60, burst: 5 };
    expect((await store.take([small, own], 1)).allowed).toBe(true);
    // Refused by the merchant bucket: the caller's 4 remaining tokens are untouched.
    for (let i = 0; i < 3; i++) expect((await store.take([small, own], 1)).allowed).toBe(false);
    expect((await store.take([own], 4)).allowed).toBe(true);
    expect((await store.take([own], 1)).allowed).toBe(false);
  });

  it('charges a batch as several tokens, never more than the burst', async () => {
    now += 60_000;
    const b: Bucket = { name: 'caller', key: 'c:batch', perMinute: 60, burst: 5 };
    expect((await store.take([b], 4)).allowed).toBe(true);
    expect(await store.take([b], 4)).toEqual({ allowed: false, retryAfterMs: 3000, bucket: 'caller' });
    now += 10_000;
    expect((await store.take([b], 50)).allowed).toBe(true); // capped at the burst of 5
  });
});
