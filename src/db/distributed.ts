import { escapeLiteral } from 'pg';
import { type EntityManager } from 'typeorm';

/**
 * Citus (scale-out, docs/SCALE-OUT.md) runs each statement's shard query on a worker, in a transaction of its own
 * there. Settings made with `set_config(…, true)` stay on the coordinator; `SET LOCAL` is carried to the workers
 * (with `citus.propagate_set_commands = 'local'`). Whatever a worker must see — the tenant settings the policies
 * read, the planner and pgvector settings of a search — is therefore set with SET LOCAL there.
 */

/** Whether the database distributes its tables (Citus): asked once per DataSource, inside its first transaction. */
const distributedDatabases = new WeakMap<object, Promise<boolean>>();

export function isDistributed(manager: Pick<EntityManager, 'query' | 'connection'>): Promise<boolean> {
  let known = distributedDatabases.get(manager.connection);
  if (known === undefined) {
    known = manager
      .query<{ citus: boolean }[]>(
        `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus`,
      )
      .then((rows) => rows[0]?.citus === true);
    // Asked again after a failure (the transaction that asked fails with it).
    known.catch(() => distributedDatabases.delete(manager.connection));
    distributedDatabases.set(manager.connection, known);
  }
  return known;
}

/**
 * Sets transaction-local settings where the query will run: `set_config(…, true)` on a single node (one statement,
 * bound values), `SET LOCAL` in one simple-protocol round trip on Citus (SET takes no bind parameters: the values
 * are quoted with pg's escapeLiteral; names are ours, never a caller's).
 */
export async function setLocal(
  manager: Pick<EntityManager, 'query' | 'connection'>,
  settings: Record<string, string>,
): Promise<void> {
  const entries = Object.entries(settings);
  for (const [name] of entries) {
    if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(name))
      throw new Error(`invalid setting name ${name}`);
  }
  if (await isDistributed(manager)) {
    await manager.query(
      [`SET LOCAL citus.propagate_set_commands = 'local'`]
        .concat(entries.map(([name, value]) => `SET LOCAL ${name} = ${escapeLiteral(value)}`))
        .join('; '),
    );
    return;
  }
  await manager.query(
    `SELECT ${entries.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
    entries.flat(),
  );
}
