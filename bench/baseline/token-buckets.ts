/**
 * The hand-written token buckets the gateway used before rate-limiter-flexible (src/limits/token-buckets.ts at
 * e92d3b4), kept only as the "before" side of bench/hot-path.bench.ts. Not used by the gateway.
 */
import Redis from 'ioredis';

/** One bucket to draw from: `burst` tokens at most, refilled at `perMinute`. */
export interface Bucket {
  /** Which limit this is, for the error: merchant, caller or anonymous. */
  name: string;
  key: string;
  perMinute: number;
  burst: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number; bucket: string };

/**
 * Token buckets drawn all-or-nothing: a request takes `cost` tokens from every bucket, or from none when any of
 * them lacks them (so a caller refused by its merchant's bucket does not also drain its own).
 */
export interface TokenBucketStore {
  /** Connects to a backing store, if any; never throws (a store that is away falls back). */
  start(): Promise<void>;
  take(buckets: readonly Bucket[], cost: number): Promise<TakeResult>;
  close(): Promise<void>;
}

const MAX_MEMORY_BUCKETS = 100_000;

/** Per process: the default, and the fallback when Redis does not answer. */
export class MemoryTokenBuckets implements TokenBucketStore {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  take(buckets: readonly Bucket[], cost: number): Promise<TakeResult> {
    const now = this.now();
    const levels = buckets.map((b) => {
      const state = this.buckets.get(b.key);
      const rate = b.perMinute / 60_000;
      const tokens = state ? Math.min(b.burst, state.tokens + Math.max(0, now - state.at) * rate) : b.burst;
      return { b, rate, tokens, need: Math.min(cost, b.burst) };
    });
    let refusal: TakeResult | undefined;
    for (const { b, rate, tokens, need } of levels) {
      if (tokens >= need) continue;
      const wait = Math.ceil((need - tokens) / rate);
      if (!refusal || (!refusal.allowed && wait > refusal.retryAfterMs)) {
        refusal = { allowed: false, retryAfterMs: wait, bucket: b.name };
      }
    }
    if (refusal) return Promise.resolve(refusal);
    if (this.buckets.size > MAX_MEMORY_BUCKETS) this.sweep(now, buckets);
    for (const { b, tokens, need } of levels) this.buckets.set(b.key, { tokens: tokens - need, at: now });
    return Promise.resolve({ allowed: true });
  }

  /** Forgets buckets idle for ten minutes: refilled to full by now at any sane rate, so nothing is lost. */
  private sweep(now: number, keep: readonly Bucket[]): void {
    const kept = new Set(keep.map((b) => b.key));
    for (const [key, state] of this.buckets) {
      if (!kept.has(key) && now - state.at > 600_000) this.buckets.delete(key);
    }
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The same buckets in Redis, so every gateway instance draws from one. One Lua script reads, refills and takes
 * from all buckets of a request atomically; it reads the clock from Redis (TIME), so instances with skewed clocks
 * agree. Each bucket is a hash {t: tokens, ts: last update in ms} that expires once it would be full again.
 */
const TAKE_SCRIPT = `
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS
local levels = {}
local wait = 0
local refused = 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens = burst
    at = now
  end
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local need = math.min(cost, burst)
  levels[i] = tokens - need
  if tokens < need then
    local w = math.ceil((need - tokens) / rate)
    if w > wait then
      wait = w
      refused = i
    end
  end
end
if refused > 0 then
  return {0, wait, refused}
end
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 't', tostring(levels[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - levels[i]) / rate) + 1000)
end
return {1, 0, 0}
`;

type RedisWithTake = Redis & {
  takeTokens(numKeys: number, ...args: (string | number)[]): Promise<[number, number, number]>;
};

export class RedisTokenBuckets implements TokenBucketStore {
  private readonly redis: RedisWithTake;
  private lastWarning = 0;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly fallback: TokenBucketStore,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void,
  ) {
    const redis = new Redis(url, {
      // A request must not wait for Redis to come back: fail fast and use the in-process buckets meanwhile.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 500,
      connectTimeout: 2_000,
      // Connected in start(), awaited at gateway start: without the offline queue, a command sent while the first
      // connection is still being made would fail and fall back for no reason.
      lazyConnect: true,
    });
    redis.on('error', (err: Error) => this.warn('redis error', err));
    redis.defineCommand('takeTokens', { lua: TAKE_SCRIPT });
    this.redis = redis as RedisWithTake;
  }

  async start(): Promise<void> {
    try {
      await this.redis.connect();
    } catch (err) {
      // ioredis keeps reconnecting in the background; until then the fallback answers.
      this.warn('rate limit store unavailable at start; using in-process buckets', err);
    }
  }

  async take(buckets: readonly Bucket[], cost: number): Promise<TakeResult> {
    const args: (string | number)[] = [cost];
    for (const b of buckets) args.push(b.perMinute / 60_000, b.burst);
    try {
      const [allowed, wait, index] = await this.redis.takeTokens(
        buckets.length,
        ...buckets.map((b) => this.prefix + b.key),
        ...args,
      );
      if (allowed === 1) return { allowed: true };
      return { allowed: false, retryAfterMs: wait, bucket: buckets[index - 1]?.name ?? 'unknown' };
    } catch (err) {
      // Availability over precision: while Redis is away each instance still enforces the limits on its own.
      this.warn('rate limit store unavailable; using in-process buckets', err);
      return this.fallback.take(buckets, cost);
    }
  }

  private warn(message: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < 60_000) return;
    this.lastWarning = now;
    this.log(message, { error: err instanceof Error ? err.message : String(err) });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    await this.fallback.close();
  }
}
