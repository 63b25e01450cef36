import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { createServices } from '../../src/services';
import { loadConfig } from '../../src/config/config';
import { openDatabase } from '../../src/db/database';
import { createEmbedder } from '../../src/embeddings/embedder.factory';
import { seedDemoData } from '../../src/seed/seed.service';
import { nativeTestUrl, TEMPLATE_DIR, TEMPLATE_ENV } from './test-env';

/** Migrates and seeds the test database once per run. */
export default async function globalSetup(): Promise<void> {
  const url = nativeTestUrl();
  let config;
  if (url) {
    await ensureDatabaseRoles(url);
    config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url });
  } else {
    fs.rmSync(TEMPLATE_DIR, { recursive: true, force: true });
    config = loadConfig({ NODE_ENV: 'test', PGLITE_DATA_DIR: TEMPLATE_DIR });
    process.env[TEMPLATE_ENV] = TEMPLATE_DIR;
  }
  const db = await openDatabase(config, { migrate: true });
  try {
    await seedDemoData(createServices(config, db, createEmbedder(config)));
  } finally {
    await db.close();
  }
  console.log(
    `\n[test] database: ${url ? `native ${new URL(url).pathname.slice(1)}` : `embedded PGlite (template ${TEMPLATE_DIR})`}`,
  );
}

/**
 * The roles of scripts/db-roles.sql (idempotent), so native tests run the gateway as srg_gateway. Needs a role
 * that may create roles; otherwise they must exist already (CI creates them in .ci/run).
 */
async function ensureDatabaseRoles(url: string): Promise<void> {
  const sql = fs
    .readFileSync(path.join(__dirname, '..', '..', 'scripts', 'db-roles.sql'), 'utf8')
    .replace(/^\\if[\s\S]*?^\\endif$/gm, ''); // psql-only password blocks
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } catch (err) {
    console.warn(`[test] could not create the database roles (${String(err)}); assuming they exist`);
  } finally {
    await client.end();
  }
}
