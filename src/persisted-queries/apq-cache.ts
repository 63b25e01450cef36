import KeyvRedis, { Keyv } from '@keyv/redis';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import {
  InMemoryLRUCache,
  type KeyValueCache,
  type KeyValueCacheSetOptions,
} from '@apollo/utils.keyvaluecache';
import { type Config } from '../config/config';
import { type OperationManifest } from './manifest';

/** Apollo Server prefixes the APQ keys it hands to the cache with this. */
const APQ_PREFIX = 'apq:';

type Log = (message: string, fields?: Record<string, unknown>) => void;

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
    private readonly log: Log,
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

  warn(err: unknown): void {
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

/**
 * In memory (Apollo's InMemoryLRUCache, bounded in bytes), or in Redis when REDIS_URL is set: Apollo's
 * KeyvAdapter over Keyv and @keyv/redis, keys `<prefix>apq:<sha256>` shared by every instance.
 */
export function createApqStore(config: Config, manifest: OperationManifest, log: Log): ApqStore {
  if (config.redisUrl === undefined) {
    const memory = new InMemoryLRUCache<string>({ maxSize: config.persistedQueries.apqMemoryBytes });
    return { cache: new ApqCache(memory, manifest, log), close: () => Promise.resolve() };
  }
  const redis = new KeyvRedis<string>(
    {
      url: config.redisUrl,
      // A request waits at most about a second for Redis, then APQ degrades to a miss. No reconnection loop in
      // the background and no offline queue: while Redis is away each request tries one connection (refused at
      // once, or given up after a second) and goes on without the cache.
      disableOfflineQueue: true,
      commandOptions: { timeout: 1000 },
      socket: { connectTimeout: 1000, reconnectStrategy: false },
    },
    {
      namespace: config.persistedQueries.redisKeyPrefix,
      keyPrefixSeparator: '',
      throwOnConnectError: false,
      connectionTimeout: 1000,
    },
  );
  const keyv = new Keyv<string>({
    store: redis,
    namespace: config.persistedQueries.redisKeyPrefix,
    useKeyPrefix: false,
  });
  const cache = new ApqCache(new KeyvAdapter(keyv, { disableBatchReads: true }), manifest, log);
  // Keyv reports store failures as events and answers them as misses; the first one is logged.
  keyv.on('error', (err: unknown) => cache.warn(err));
  return {
    cache,
    async close() {
      await keyv.disconnect().catch(() => undefined);
    },
  };
}
