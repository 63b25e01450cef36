import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_SEED_DIR, seedDemoData } from '../seed/seed.service';
import { loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';

const HELP = `Usage: npm run seed [-- <seed folder>]

Loads the demo merchants, documents, tickets and orders (default: ./seeds) into DATABASE_URL, or into the
embedded database in PGLITE_DATA_DIR. A seed folder holds one folder per merchant with merchant.yaml,
documents/*.md (front matter: id, title, acl, metadata), tickets.yaml and orders.yaml. Idempotent: running it
twice changes nothing. For one merchant's folder of Markdown files use npm run load instead.`;

async function main(): Promise<void> {
  const { positionals } = parseCommandLine(HELP, { allowPositionals: true, options: {} });
  if (positionals.length > 1) usageError(HELP, `one seed folder at most (got ${positionals.length})`);
  const dir = positionals[0] === undefined ? DEFAULT_SEED_DIR : path.resolve(positionals[0]);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    usageError(HELP, `${dir} is not a folder`);
  }
  const config = loadCommandConfig();
  const { openCommandServices } = await import('./command-services');
  const { db, services } = await openCommandServices(config, 'seed');
  try {
    const started = Date.now();
    const summary = await seedDemoData(services, dir);
    console.log(`Seeded ${db.description}:`, summary, `in ${Date.now() - started} ms`);
  } finally {
    await services.statistics.close(); // the statistics of what was written (embedded), before closing
    await db.close();
  }
}

runCommand(main);
