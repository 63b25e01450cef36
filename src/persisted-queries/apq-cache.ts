import {
  InMemoryLRUCache,
  type KeyValueCache,
  type KeyValueCacheSetOptions,
} from '@apollo/utils.keyvaluecache';
import Redis from 'ioredis';
import { type Config } from '../config/config';
import { type OperationManifest } from './manifest';

/** Apollo Server prefixes the APQ keys it hands to the cache with this. */
const APQ_PREFIX = 'apq:';

/** APQ entries in Redis, shared by every gateway instance, under a configurable prefix. */
export class RedisKeyValueCache implements KeyValueCache<string> {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(this.prefix + key)) ?? undefined;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    if (options?.ttl) await this.redis.set(this.prefix + key, value, 'EX', Math.ceil(options.ttl));
    else await this.redis.set(this.prefix + key, value);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.redis.del(this.prefix + key)) > 0;
  }
}

/**
 * The APQ cache the gateway gives Apollo: manifest operations are always hits (partners and frontends can call
 * them by id without registering, and they cannot be evicted); everything else is in the store. A store that
 * fails (Redis down) behaves as a miss, so clients fall back to sending the full query instead of failing.
 */
export class ApqCache implements KeyValueCache<string> {
  private warned = false;

  constructor(
    private readonly store: KeyValueCache<string>,
    private readonly manifest: OperationManifest,
    private readonly log: (message: string, fields?: Record<string, unknown>) => void,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const fromManifest = key.startsWith(APQ_PREFIX)
      ? this.manifest.get(key.slice(APQ_PREFIX.length))
      : undefined;
    if (fromManifest !== undefined) return fromManifest;
    try {
      return await this.store.get(key);
    } catch (err) {
      this.warn(err);
      return undefined;
    }
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    try {
      await this.store.set(key, value, options);
    } catch (err) {
      this.warn(err);
    }
  }

  async delete(key: string): Promise<boolean | void> {
    try {
      return await this.store.delete(key);
    } catch (err) {
      this.warn(err);
    }
  }

  private warn(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log('APQ cache unavailable; persisted queries fall back to full queries', {
      error: (err as Error).message,
    });
  }
}

export interface ApqStore {
  cache: ApqCache;
  close(): Promise<void>;
}

export function createApqStore(
  config: Config,
  manifest: OperationManifest,
  log: (message: string, fields?: Record<string, unknown>) => void,
): ApqStore {
  if (config.redisUrl === undefined) {
    const memory = new InMemoryLRUCache<string>({ maxSize: config.persistedQueries.apqMemoryBytes });
    return { cache: new ApqCache(memory, manifest, log), close: () => Promise.resolve() };
  }
  const redis = new Redis(config.redisUrl, {
    // A request waits at most about a second for Redis, then APQ degrades to a miss.
    connectTimeout: 2000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 1,
  });
  redis.on('error', () => undefined); // reported through ApqCache.warn on use; ioredis reconnects by itself
  return {
    cache: new ApqCache(new RedisKeyValueCache(redis, config.persistedQueries.redisKeyPrefix), manifest, log),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
