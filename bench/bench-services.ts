import { loadConfig, type Config } from '../src/config/config';
import { type Database, openDatabase } from '../src/db/database';
import { createEmbedder } from '../src/embeddings/embedder.factory';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { createServices, type Services } from '../src/services';
import { recreateDatabase } from './bench-utils';

/**
 * The set-up the in-process benchmarks share: the database of `url` dropped and re-created (recreateDatabase's
 * rules), migrated, and the product's services on the local embedder (or the provider `env` configures), without a
 * statement timeout or an embedding cache. `env` adds configuration on top. `embedder` is always the local one (the
 * synthetic benchmarks' own); what the services embed with is `services.embedders.defaultEmbedder`.
 */
export async function freshBenchServices(
  url: string,
  env: Record<string, string> = {},
): Promise<{ config: Config; db: Database; embedder: LocalHashEmbedder; services: Services }> {
  await recreateDatabase(url);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    DB_STATEMENT_TIMEOUT_MS: '0',
    EMBEDDING_CACHE_ENTRIES: '0',
    ...env,
  });
  const db = await openDatabase(config, { migrate: true, poolSize: 2 });
  const embedder = new LocalHashEmbedder(config.embedding.dimensions);
  // A provider configured by `env` (bench:real-recall --model) is the services' default model.
  const serving = config.embedding.provider === 'local' ? embedder : createEmbedder(config);
  return { config, db, embedder, services: createServices(config, db, serving) };
}
