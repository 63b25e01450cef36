import { GraphQLError } from 'graphql';
import { type Identity } from '../auth/identity';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';
import { type Bucket, MemoryTokenBuckets, RedisTokenBuckets, type TokenBucketStore } from './token-buckets';

type RateLimitConfig = Config['rateLimit'];

/**
 * Who a request is charged to. A partner API key is its own caller (several integrations of one merchant do not
 * share a budget); a token's user is the caller otherwise. The identity work adds `apiKeyId` to Identity for
 * requests authenticated by an API key; until then no identity has one.
 */
export function callerKey(identity: Identity & { apiKeyId?: string | null }): string {
  return identity.apiKeyId ? `k:${identity.apiKeyId}` : `u:${identity.merchantId}:${identity.userId}`;
}

export class RateLimiter {
  constructor(
    private readonly config: RateLimitConfig,
    private readonly store: TokenBucketStore,
  ) {}

  /** The buckets a request draws from: its merchant's and its caller's, or its address's when anonymous. */
  bucketsFor(identity: Identity | null, clientAddress: string): Bucket[] {
    const { merchant, caller, anonymous } = this.config;
    const all: Bucket[] = identity
      ? [
          { name: 'merchant', key: `m:${identity.merchantId}`, ...merchant },
          { name: 'caller', key: `c:${callerKey(identity)}`, ...caller },
        ]
      : [{ name: 'anonymous', key: `a:${clientAddress}`, ...anonymous }];
    return all.filter((b) => b.perMinute > 0);
  }

  /**
   * Takes `operations` tokens (a batch counts each operation) or throws RATE_LIMITED with HTTP 429 and a
   * Retry-After header; thrown from the context function, it fails the request before anything runs.
   */
  async enforce(identity: Identity | null, clientAddress: string, operations = 1): Promise<void> {
    const buckets = this.bucketsFor(identity, clientAddress);
    if (buckets.length === 0) return;
    const result = await this.store.take(buckets, operations);
    if (result.allowed) return;
    const retryAfterSeconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    const message = `Too many requests for this ${result.bucket}; retry after ${retryAfterSeconds} s`;
    throw new GraphQLError(message, {
      originalError: new DomainError(ErrorCode.RATE_LIMITED, message, {
        retryAfterSeconds,
        limit: result.bucket,
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
export function createRateLimiter(
  config: RateLimitConfig,
  log: (message: string, fields?: Record<string, unknown>) => void,
): RateLimiter {
  const memory = new MemoryTokenBuckets();
  const store =
    config.redisUrl === undefined
      ? memory
      : new RedisTokenBuckets(config.redisUrl, config.redisKeyPrefix, memory, log);
  return new RateLimiter(config, store);
}
