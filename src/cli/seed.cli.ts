import 'reflect-metadata';
import { createServices } from '../app';
import { loadConfig } from '../config/config';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';
import { DEFAULT_SEED_DIR, seedDemoData } from '../seed/seed.service';

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log(`Usage: npm run seed [-- <seed folder>]

Loads the demo merchants, documents, tickets and orders (default: ./seeds) into DATABASE_URL, or into the
embedded database in PGLITE_DATA_DIR. Idempotent: running it twice changes nothing.`);
    return;
  }
  const dir = process.argv.slice(2).find((a) => !a.startsWith('-')) ?? DEFAULT_SEED_DIR;
  const config = loadConfig();
  const db = await openDatabase(config, { migrate: true });
  try {
    const started = Date.now();
    const summary = await seedDemoData(createServices(config, db, createEmbedder(config)), dir);
    console.log(`Seeded ${db.description}:`, summary, `in ${Date.now() - started} ms`);
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
