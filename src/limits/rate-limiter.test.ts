import { RateLimitStore, windowFor } from './rate-limiter';

describe('rate limits in memory (rate-limiter-flexible)', () => {
  const store = new RateLimitStore(
    {
      merchant: { perMinute: 60, burst: 3 },
      caller: { perMinute: 600, burst: 10 },
      anonymous: { perMinute: 60, burst: 5 },
    },
    undefined,
    () => undefined,
  );

  it('keeps the configured rate and burst in a window of burst / rate', () => {
    expect(windowFor({ perMinute: 60, burst: 3 })).toEqual({ points: 3, duration: 3 });
    expect(windowFor({ perMinute: 1, burst: 10 })).toEqual({ points: 10, duration: 600 });
    expect(windowFor({ perMinute: 3000, burst: 300 })).toEqual({ points: 300, duration: 6 });
    // Windows are at least a second: 6000 per minute with a burst of 10 becomes 100 per second.
    expect(windowFor({ perMinute: 6000, burst: 10 })).toEqual({ points: 100, duration: 1 });
  });

  it('allows the burst, then refuses with the time until the window restarts', async () => {
    const both = [
      { limit: 'merchant', key: 'a' },
      { limit: 'caller', key: 'a' },
    ] as const;
    for (let i = 0; i < 3; i++) expect(await store.take(both, 1)).toEqual({ allowed: true });
    const refused = await store.take(both, 1);
    expect(refused).toMatchObject({ allowed: false, limit: 'merchant' });
    if (refused.allowed) throw new Error('unreachable');
    expect(refused.retryAfterMs).toBeGreaterThan(2000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(3000);
  });

  it('takes from every limit or from none', async () => {
    const both = [
      { limit: 'merchant', key: 'b' },
      { limit: 'caller', key: 'b' },
    ] as const;
    expect((await store.take([{ limit: 'merchant', key: 'b' }], 3)).allowed).toBe(true);
    // Refused by the merchant limit: the caller's 10 are untouched.
    for (let i = 0; i < 3; i++) expect((await store.take(both, 1)).allowed).toBe(false);
    expect((await store.take([{ limit: 'caller', key: 'b' }], 10)).allowed).toBe(true);
    expect((await store.take([{ limit: 'caller', key: 'b' }], 1)).allowed).toBe(false);
  });

  it('charges a batch as several points, never more than a window holds', async () => {
    const c = [{ limit: 'anonymous', key: '10.0.0.1' }] as const;
    expect((await store.take(c, 4)).allowed).toBe(true);
    expect(await store.take(c, 4)).toMatchObject({ allowed: false, limit: 'anonymous' });
    const other = [{ limit: 'anonymous', key: '10.0.0.2' }] as const;
    expect((await store.take(other, 50)).allowed).toBe(true); // capped at the 5 of a window
    expect((await store.take(other, 1)).allowed).toBe(false);
  });
});

describe('a limit set to 0 per minute', () => {
  it('is off: nothing is counted against it, the others still apply', async () => {
    const store = new RateLimitStore(
      {
        merchant: { perMinute: 0, burst: 1 },
        caller: { perMinute: 60, burst: 2 },
        anonymous: { perMinute: 0, burst: 1 },
      },
      undefined,
      () => undefined,
    );
    for (let i = 0; i < 5; i++)
      expect((await store.take([{ limit: 'anonymous', key: 'x' }], 1)).allowed).toBe(true);
    const both = [
      { limit: 'merchant', key: 'm' },
      { limit: 'caller', key: 'c' },
    ] as const;
    expect((await store.take(both, 1)).allowed).toBe(true);
    expect((await store.take(both, 1)).allowed).toBe(true);
    expect(await store.take(both, 1)).toMatchObject({ allowed: false, limit: 'caller' });
  });
});
