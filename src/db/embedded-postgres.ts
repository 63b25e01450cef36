import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The embedded default: PGlite (PostgreSQL compiled to WASM, with pgvector) served over the Postgres wire
 * protocol on a private unix socket, so the gateway talks to it through the same `pg` driver, TypeORM driver,
 * SQL and transactions as a native server. See docs/DATABASE.md for why this beat an in-process adapter.
 *
 * PGlite is ONE Postgres session. The socket server accepts a single connection and the pool that uses it must
 * have max = 1: a transaction then owns the only connection, so concurrent requests queue instead of
 * interleaving inside each other's transactions, and session state cannot leak between requests.
 */
export interface EmbeddedPostgres {
  socketDir: string;
  port: number;
  pglite: PGlite;
  stop(): Promise<void>;
}

const SOCKET_PORT = 5432;

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) fs.mkdirSync(dataDir, { recursive: true });
  // Reopening a data directory needs the extension too, or Postgres fails with `could not access file "vector"`.
  const pglite = await PGlite.create(inMemory ? dataDir : dataDir, { extensions: { vector } });
  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-pglite-'));
  const server = new PGLiteSocketServer({
    db: pglite,
    path: path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`),
    maxConnections: 1,
  });
  await server.start();
  let stopped = false;
  return {
    socketDir,
    port: SOCKET_PORT,
    pglite,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await pglite.close();
      fs.rmSync(socketDir, { recursive: true, force: true });
    },
  };
}
