import { GraphQLError } from 'graphql';
import Redis from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { type Identity } from '../auth/identity';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';

type RateLimitConfig = Config['rateLimit'];
export type LimitName = 'merchant' | 'caller' | 'anonymous';
type Log = (message: string, fields?: Record<string, unknown>) => void;

/** What a request is charged to: one key per limit. */
export interface Charge {
  limit: LimitName;
  key: string;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterMs: number; limit: LimitName };

/**
 * Who a request is charged to. A partner API key is its own caller (several integrations of one merchant do not
 * share a budget); a token's user is the caller otherwise.
 */
export function callerKey(identity: Identity & { apiKeyId?: string | null }): string {
  return identity.apiKeyId ? `k:${identity.apiKeyId}` : `u:${identity.merchantId}:${identity.userId}`;
}

/**
 * A limit as rate-limiter-flexible counts it: `burst` requests per fixed window of burst / rate (at least a
 * second), so the sustained rate is the configured one and at most `burst` pass at once within a window. The
 * window restarts when it ends; Retry-After says when (see docs/OPERATIONS.md, "Rate limits").
 */
export function windowFor(limit: { perMinute: number; burst: number }): { points: number; duration: number } {
  const duration = Math.max(1, Math.round((limit.burst * 60) / limit.perMinute));
  return { points: Math.max(1, Math.round((limit.perMinute * duration) / 60)), duration };
}

/**
 * The limits of every request, from rate-limiter-flexible: in memory, or in Redis when REDIS_URL is set (one
 * atomic script per limit, with Redis's own expiry as the clock, so every gateway instance draws from the same
 * window). While Redis is away each instance enforces the limits in memory on its own.
 */
export class RateLimitStore {
  private readonly memory: Partial<Record<LimitName, RateLimiterMemory>>;
  private readonly shared: Partial<Record<LimitName, RateLimiterRedis>> | undefined;
  private readonly points: Partial<Record<LimitName, number>>;
  private readonly redis: Redis | undefined;
  private lastWarning = 0;

  constructor(
    limits: Record<LimitName, { perMinute: number; burst: number }>,
    /** `commandTimeoutMs`: how long a request waits for Redis before the in-process limits answer (default 500). */
    redis: { url: string; prefix: string; commandTimeoutMs?: number } | undefined,
    private readonly log: Log,
  ) {
    // A limit set to 0 per minute is off: no limiter, and charges to it are not counted.
    const names = (['merchant', 'caller', 'anonymous'] as const).filter((n) => limits[n].perMinute > 0);
    const each = <T>(make: (name: LimitName, w: { points: number; duration: number }) => T) =>
      Object.fromEntries(names.map((n) => [n, make(n, windowFor(limits[n]))])) as Partial<
        Record<LimitName, T>
      >;
    this.points = each((_n, w) => w.points);
    this.memory = each((n, w) => new RateLimiterMemory({ ...w, keyPrefix: n }));
    if (redis) {
      const client = new Redis(redis.url, {
        // A request must not wait for Redis to come back: fail fast and use the in-process limits meanwhile.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: redis.commandTimeoutMs ?? 500,
        connectTimeout: 2_000,
        // Connected in start(), awaited at gateway start: without the offline queue, a command sent while the
        // first connection is still being made would fail and fall back for no reason.
        lazyConnect: true,
      });
      client.on('error', (err: Error) => this.warn('redis error', err));
      this.redis = client;
      this.shared = each(
        (n, w) =>
          new RateLimiterRedis({
            ...w,
            storeClient: client,
            keyPrefix: `${redis.prefix}${n}`,
            rejectIfRedisNotReady: true,
          }),
      );
    }
  }

  /** Connects to Redis, if any; never throws (the in-process limits answer until it is back). */
  async start(): Promise<void> {
    if (!this.redis) return;
    try {
      await this.redis.connect();
    } catch (err) {
      this.warn('rate limit store unavailable at start; using in-process limits', err);
    }
  }

  /**
   * Takes `cost` points (at most a window's worth) from every limit, or from none: the limits are charged at
   * once, and when one refuses, what the others took is given back, so a caller refused by its merchant's limit
   * does not also drain its own.
   */
  async take(charges: readonly Charge[], cost: number): Promise<TakeResult> {
    const outcomes = await Promise.all(
      charges.map(async (c) => {
        const points = Math.min(cost, this.points[c.limit] ?? 0);
        if (points === 0) return { c, points, limiter: undefined, res: new RateLimiterRes(), allowed: true };
        try {
          const [limiter, res] = await this.consume(c, points);
          return { c, points, limiter, res, allowed: true };
        } catch (err) {
          if (err instanceof RateLimiterRes)
            return { c, points, limiter: undefined, res: err, allowed: false };
          throw err;
        }
      }),
    );
    const refused = outcomes.filter((o) => !o.allowed);
    if (refused.length === 0) return { allowed: true };
    const refunds = outcomes.flatMap((o) => (o.limiter ? [o.limiter.reward(o.c.key, o.points)] : []));
    await Promise.allSettled(refunds);
    const longest = refused.reduce((a, b) => (b.res.msBeforeNext > a.res.msBeforeNext ? b : a));
    return { allowed: false, retryAfterMs: longest.res.msBeforeNext, limit: longest.c.limit };
  }

  /** Charges one limit; says which store took the points, so a refund goes back to the same one. */
  private async consume(c: Charge, points: number): Promise<[RateLimiterAbstract, RateLimiterRes]> {
    const memory = this.memory[c.limit]!; // take() charges only limits that are on
    const shared = this.shared?.[c.limit];
    if (!shared) return [memory, await memory.consume(c.key, points)];
    try {
      return [shared, await shared.consume(c.key, points)];
    } catch (err) {
      if (err instanceof RateLimiterRes) throw err;
      // Availability over precision: while Redis is away each instance still enforces the limits on its own.
      // (Not rate-limiter-flexible's insuranceLimiter: it falls back silently, and operators need to know.)
      this.warn('rate limit store unavailable; using in-process limits', err);
      return [memory, await memory.consume(c.key, points)];
    }
  }

  private warn(message: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < 60_000) return;
    this.lastWarning = now;
    this.log(message, { error: err instanceof Error ? err.message : String(err) });
  }

  close(): Promise<void> {
    this.redis?.disconnect();
    return Promise.resolve();
  }
}

export class RateLimiter {
  constructor(
    private readonly config: RateLimitConfig,
    private readonly store: RateLimitStore,
  ) {}

  /** The limits a request draws from: its merchant's and its caller's, or its address's when anonymous. */
  chargesFor(identity: Identity | null, clientAddress: string): Charge[] {
    const all: Charge[] = identity
      ? [
          { limit: 'merchant', key: identity.merchantId },
          { limit: 'caller', key: callerKey(identity) },
        ]
      : [{ limit: 'anonymous', key: clientAddress }];
    return all.filter((c) => this.config[c.limit].perMinute > 0);
  }

  /**
   * Takes `operations` points (a batch counts each operation) or throws RATE_LIMITED with HTTP 429 and a
   * Retry-After header; thrown from the context function, it fails the request before anything runs.
   */
  async enforce(identity: Identity | null, clientAddress: string, operations = 1): Promise<void> {
    const charges = this.chargesFor(identity, clientAddress);
    if (charges.length === 0) return;
    const result = await this.store.take(charges, operations);
    if (result.allowed) return;
    const retryAfterSeconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    const message = `Too many requests for this ${result.limit}; retry after ${retryAfterSeconds} s`;
    throw new GraphQLError(message, {
      originalError: new DomainError(ErrorCode.RATE_LIMITED, message, {
        retryAfterSeconds,
        limit: result.limit,
      }),
      extensions: {
        code: ErrorCode.RATE_LIMITED,
        http: { status: 429, headers: new Map([['retry-after', String(retryAfterSeconds)]]) },
      },
    });
  }

  start(): Promise<void> {
    return this.store.start();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** In memory, or in Redis when REDIS_URL is set (shared by every instance, falling back to memory if it fails). */
export function createRateLimiter(config: RateLimitConfig, log: Log): RateLimiter {
  const redis =
    config.redisUrl === undefined ? undefined : { url: config.redisUrl, prefix: config.redisKeyPrefix };
  return new RateLimiter(config, new RateLimitStore(config, redis, log));
}
