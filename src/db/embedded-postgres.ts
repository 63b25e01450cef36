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

/** The data directory is held by another process (a running gateway): PGlite serves one process at a time. */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${ownerPid} (a running gateway?). ` +
        'Stop it first, or point DATABASE_URL at a PostgreSQL server.',
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

/**
 * PGlite has no lock of its own: two processes opening one data directory would corrupt it. A lock file with
 * the owner's pid keeps a second gateway (or `npm run seed` next to a running gateway) out; a lock left by a
 * process that no longer exists is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, '.gateway.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new EmbeddedDatabaseInUseError(dataDir, owner);
      }
      fs.rmSync(file, { force: true }); // stale
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const inMemory = dataDir.startsWith('memory://');
  let unlock = (): void => undefined;
  if (!inMemory) {
    fs.mkdirSync(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);
  }
  // Reopening a data directory needs the extension too, or Postgres fails with `could not access file "vector"`.
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dataDir, { extensions: { vector } });
  } catch (err) {
    unlock();
    throw err;
  }
  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-pglite-'));
  const server = new PGLiteSocketServer({
    db: pglite,
    path: path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`),
    maxConnections: 1,
  });
  try {
    await server.start();
  } catch (err) {
    await pglite.close().catch(() => undefined);
    fs.rmSync(socketDir, { recursive: true, force: true });
    unlock();
    throw err;
  }
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
      unlock();
    },
  };
}
