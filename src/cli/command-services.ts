import 'reflect-metadata';
import { type Config } from '../config/config';
import { type Database, openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';
import { createServices, type Services } from '../services';
import { openCommandDatabase } from './embedded-lock';

/**
 * The migrated database and the services a command works with. Commands import this module only once their
 * command line is parsed (`await import('./command-services')`): `--help` and usage errors then print without
 * loading TypeORM, the entities and every service (about half a second of a command's start).
 */
export async function openCommandServices(
  config: Config,
  command: string,
  options: { poolSize?: number } = {},
): Promise<{ db: Database; services: Services }> {
  const db = await openCommandDatabase(() => openDatabase(config, { migrate: true, ...options }), command);
  return { db, services: createServices(config, db, createEmbedder(config)) };
}
