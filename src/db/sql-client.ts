import crypto from 'node:crypto';
import type pg from 'pg';
import { type EntityManager } from 'typeorm';

// How hot-path repositories send SQL: through a checked-out pg client (with statements prepared per connection,
// under a bound) or through TypeORM's EntityManager (admin jobs, benchmarks, tests: the same SQL).

export type Row = Record<string, unknown>;

/** What hot-path repositories send statements through: parameterized text, rows back. */
export interface SqlClient {
  /**
   * `prepared`: sent as a named statement, parsed once per connection and kept (see preparedStatementName); with
   * `plan_cache_mode = force_generic_plan` in the transaction its plan is made once too. Ignored by TypeORM.
   */
  query<R extends Row = Row>(
    text: string,
    values: readonly unknown[],
    options?: { prepared?: boolean },
  ): Promise<R[]>;
}

/** An EntityManager seen as a SqlClient (admin jobs, benchmarks and tests run the same SQL through TypeORM). */
export function managerClient(manager: Pick<EntityManager, 'query'>): SqlClient {
  return { query: (text, values) => manager.query(text, [...values]) };
}

/**
 * A pg client as a SqlClient. Prepared statements are named by a hash of their text (the same text, the same name,
 * on every connection), and each connection keeps at most `maxPrepared` of them: the least recently used is
 * DEALLOCATEd first. Texts that embed a merchant (its dedicated index's predicate) are one per such merchant, so
 * without the bound a long-lived connection would keep a plan for every merchant it ever served.
 */
export function pgSqlClient(client: pg.ClientBase, maxPrepared = MAX_PREPARED_PER_CONNECTION): SqlClient {
  return {
    query: async <R extends Row>(
      text: string,
      values: readonly unknown[],
      options?: { prepared?: boolean },
    ) => {
      if (options?.prepared !== true) return (await client.query<R>(text, [...values])).rows;
      const name = preparedStatementName(text);
      await makeRoomFor(client, name, maxPrepared);
      return (await client.query<R>({ name, text, values: [...values] })).rows;
    },
  };
}

export const MAX_PREPARED_PER_CONNECTION = 64;

/** The name a prepared statement of this text has on every connection. */
export function preparedStatementName(text: string): string {
  return `srg_${crypto.createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
}

/** Per connection: the names it has prepared, least recently used first (a Map keeps insertion order). */
const preparedByConnection = new WeakMap<object, Map<string, true>>();

export async function makeRoomFor(client: pg.ClientBase, name: string, max: number): Promise<void> {
  let names = preparedByConnection.get(client);
  if (names === undefined) preparedByConnection.set(client, (names = new Map<string, true>()));
  if (names.delete(name)) {
    names.set(name, true);
    return;
  }
  // pg remembers what it parsed on the connection (and would send no Parse for a name it knows): forgotten there
  // too, so that a statement evicted here and needed again is parsed again.
  const parsed = (client as unknown as { connection?: { parsedStatements?: Record<string, string> } })
    .connection?.parsedStatements;
  while (names.size >= max) {
    const oldest = names.keys().next().value as string;
    names.delete(oldest);
    if (parsed !== undefined && oldest in parsed) {
      await client.query(`DEALLOCATE ${oldest}`);
      delete parsed[oldest];
    }
  }
  names.set(name, true);
}
