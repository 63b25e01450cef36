import crypto from 'node:crypto';
import { type Socket } from 'node:net';
import pg from 'pg';
import { type DataSource, type EntityManager } from 'typeorm';
import { CONTENT_MANAGER_ROLE, GATEWAY_ROLE } from '../../migrations/1764100000000-row-level-security';
import { type Identity, scopeOf, type TenantScope } from '../auth/identity';
import { type ContentAccess, mayManageContent } from '../auth/permissions';
import { type Config } from '../config/config';
import { applicationNameFor } from '../ops/request-context';
import { isDistributed } from './distributed';
import {
  MAX_PREPARED_PER_CONNECTION,
  makeRoomFor,
  pgSqlClient,
  preparedStatementName,
  type Row,
  type SqlClient,
} from './sql-client';

export { CONTENT_MANAGER_ROLE, GATEWAY_ROLE };

export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** Something that runs work in one database transaction; all database work goes through one of these. */
export interface Db {
  transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: IsolationLevel): Promise<T>;
}

/**
 * The owner's connection, for migrations and admin jobs that act for a merchant without a caller (provisioning,
 * seed, the folder loader, re-embedding). The owner is not subject to row-level security.
 */
export class AdminDb implements Db {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: IsolationLevel): Promise<T> {
    return isolation ? this.dataSource.transaction(isolation, work) : this.dataSource.transaction(work);
  }
}

/**
 * One caller's way into the database, created per request from the verified Identity (GraphQL context) and
 * passed down explicitly to every service method that serves a request. Every transaction it opens starts by
 * entering the caller's database role — srg_gateway for readers, srg_content_manager for content managers — and
 * setting the caller's merchant and principals with a claim signed for this connection, all transaction-locally
 * (`SET LOCAL`, which Citus propagates): the row-level security policies (migrations 1764100000000 and
 * 1764200000000) read them only when the claim verifies, and nothing survives the transaction on a pooled or
 * shared (PGlite) session.
 *
 * The role is set in every transaction, not only on the embedded database: connected as srg_gateway, a reader's
 * transaction stays srg_gateway and a manager's enters srg_content_manager; connected as the owner or a superuser
 * (development with one URL, PGlite's only user) it is what makes the policies apply at all.
 */
export class TenantSession implements Db {
  readonly scope: TenantScope;
  readonly access: ContentAccess;

  constructor(
    private readonly dataSource: DataSource,
    readonly identity: Identity,
    manageContent: boolean,
    private readonly claims: TenantClaimSigner,
    /** The HTTP request it serves: its transactions are named after it (`application_name`); none in a CLI. */
    readonly requestId?: string,
  ) {
    this.scope = scopeOf(identity);
    this.access = { scope: this.scope, manageAll: manageContent };
  }

  private requestTag(): string {
    const id = this.requestId;
    return id === undefined
      ? ''
      : `; SET LOCAL application_name = ${pg.escapeLiteral(applicationNameFor(id))}`;
  }

  /** Whether the database is Citus (asked once per process, src/db/distributed.ts). */
  distributed(): Promise<boolean> {
    return isDistributed(this.dataSource.manager);
  }

  /**
   * A transaction whose first round trip is ONE simple-protocol query: BEGIN (with the isolation level), the tenant
   * settings and the request tag, as in read(); TypeORM's own transaction sends START TRANSACTION, SET TRANSACTION,
   * the tag and the settings as three or four. `work` gets an EntityManager on that connection, which TypeORM is
   * told is inside a transaction (a nested `manager.transaction` becomes a savepoint, never a second BEGIN or an
   * early COMMIT). A write costs per-request round trips: this saves two of each transaction's.
   */
  async transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: IsolationLevel): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    const state = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
    try {
      await runner.connect();
      const settings = await tenantSettingsSql(runner.manager, this.access, this.claims);
      const tag = this.requestTag();
      // From here on the connection may be inside a transaction (BEGIN ran, a later statement of the same query
      // may not have): the finally below ends it. isolation is one of IsolationLevel's literals, never caller text.
      state.isTransactionActive = true;
      state.transactionDepth = 1;
      await runner.query(`BEGIN${isolation ? ` ISOLATION LEVEL ${isolation}` : ''}; ${settings}${tag}`);
      let out: T;
      try {
        out = await work(runner.manager);
      } catch (err) {
        await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
      await runner.commitTransaction();
      return out;
    } finally {
      if (state.isTransactionActive) {
        // The first query or the COMMIT failed (a setting refused, a broken connection): end what BEGIN started.
        await runner.query('ROLLBACK').catch(() => undefined);
        state.isTransactionActive = false;
        state.transactionDepth = 0;
      }
      await runner.release();
    }
  }

  /**
   * The hot read path (retrieval): a REPEATABLE READ, READ ONLY transaction on a pooled `pg` client, without
   * TypeORM around it. Its first round trip is ONE simple-protocol query: BEGIN, the tenant settings (the same
   * statements as enterTenant), the request tag, and `prelude` (the caller's transaction-local tuning and its
   * first read, which may use the settings just made); `work` then sends its statements and the COMMIT is the
   * last round trip. `prelude`'s rows (its last statement's) are handed to `work`. A connection's first claim
   * costs one more statement (its binding, see TenantClaimSigner), once per pooled connection.
   */
  async read<T>(prelude: string, work: (client: SqlClient, preludeRows: Row[]) => Promise<T>): Promise<T> {
    return this.withRequestClient(async (client, opening) => {
      let open = true;
      try {
        const results = (await client.query(`${opening}; ${prelude}`)) as unknown as
          pg.QueryResult<Row> | pg.QueryResult<Row>[];
        const last = Array.isArray(results) ? results[results.length - 1] : results;
        const out = await work(rowsOf(client), last.rows);
        open = false;
        await client.query('COMMIT');
        return out;
      } catch (err) {
        if (open) await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * read() in ONE round trip, for a caller that can write its statement before it sees the prelude's rows (from
   * what the prelude returned last time): the first query of read() (BEGIN, settings, tag, `prelude`), then
   * `statement`, then COMMIT are sent together in pg's pipeline mode, and the three replies read together. All three
   * run in one REPEATABLE READ, READ ONLY transaction, so `statement` saw the snapshot the prelude's rows describe:
   * the caller compares them with what it assumed and uses `rows` only if they agree (else it has read nothing it
   * keeps, and asks again). `statement`'s failure is returned, not thrown, for the same reason: it counts only if
   * the assumption held. A failure of the first query (a refused claim) is thrown: the transaction is then aborted,
   * `statement` was refused unrun, and the COMMIT rolled it back.
   */
  async readAhead(
    prelude: string,
    statement: { text: string; values: readonly unknown[]; prepared: boolean },
  ): Promise<{ preludeRows: Row[] } & ({ rows: Row[] } | { error: unknown })> {
    return this.withRequestClient(async (client, opening) => {
      const name = statement.prepared ? preparedStatementName(statement.text) : undefined;
      if (name !== undefined) await makeRoomFor(client, name, MAX_PREPARED_PER_CONNECTION);
      // Pipeline mode only while this request's three queries are on the wire: pg reads it at every step, and a
      // checked-out client has nothing else queued. Back off only once all three have settled. The socket is
      // corked meanwhile, so the three leave in one write and wake the server once.
      const mode = client as unknown as { pipeline: boolean; connection: { stream: Socket } };
      mode.pipeline = true;
      const sent: Promise<pg.QueryResult<Row> | pg.QueryResult<Row>[]>[] = [];
      let refused: { error: unknown } | undefined;
      mode.connection.stream.cork();
      try {
        sent.push(client.query(`${opening}; ${prelude}`));
        sent.push(
          name !== undefined
            ? client.query<Row>({ name, text: statement.text, values: [...statement.values] })
            : client.query<Row>(statement.text, [...statement.values]),
        );
        sent.push(client.query<Row>('COMMIT'));
      } catch (error) {
        refused = { error }; // thrown before it was sent (pg refuses most things by rejecting instead)
      } finally {
        mode.connection.stream.uncork();
      }
      const settled = await Promise.allSettled(sent);
      mode.pipeline = false;
      if (refused !== undefined) {
        if (sent.length > 0 && sent.length < 3) await client.query('ROLLBACK').catch(() => undefined);
        throw refused.error;
      }
      const [first, search, commit] = settled;
      if (first.status === 'rejected') throw first.reason;
      if (commit.status === 'rejected') throw commit.reason;
      const results = first.value;
      const last = Array.isArray(results) ? results[results.length - 1] : results;
      return search.status === 'rejected'
        ? { preludeRows: last.rows, error: search.reason as unknown }
        : { preludeRows: last.rows, rows: (search.value as pg.QueryResult<Row>).rows };
    });
  }

  /**
   * A pooled `pg` client for one request transaction, and the text that opens it: BEGIN ISOLATION LEVEL REPEATABLE
   * READ READ ONLY, the tenant settings, the request tag. A client whose connection failed is discarded.
   */
  private async withRequestClient<T>(
    use: (client: pg.PoolClient, opening: string) => Promise<T>,
  ): Promise<T> {
    const client = await requestPool(this.dataSource).connect();
    // A checked-out client's connection errors are emitted on the client, not handled by the pool: without a
    // listener a server restart mid-request would crash the process. The failing query rejects on its own.
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    try {
      const settings = await tenantSettingsSql(
        {
          query: (text: string, values?: unknown[]) => rowsOf(client).query(text, values ?? []),
          queryRunner: { databaseConnection: client },
          connection: this.dataSource,
        } as unknown as Pick<EntityManager, 'query' | 'queryRunner' | 'connection'>,
        this.access,
        this.claims,
      );
      const tag = this.requestTag();
      return await use(client, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${settings}${tag}`);
    } finally {
      client.removeListener('error', onError);
      client.release(broken); // a broken connection is discarded, not pooled again
    }
  }
}

function rowsOf(client: pg.PoolClient): SqlClient {
  return pgSqlClient(client);
}

/** The pg pool under a TypeORM postgres DataSource (native, or PGlite behind its socket). */
function requestPool(dataSource: DataSource): pg.Pool {
  return (dataSource.driver as unknown as { master: pg.Pool }).master;
}

/** The claim's lifetime, checked against the start of the transaction that uses it (now()). */
export const CLAIM_TTL_SECONDS = 60;
/** How often the gateway re-reads the newest key (rotation takes effect within this). */
const KEY_REFRESH_MS = 5 * 60_000;

interface ClaimKey {
  id: number;
  secret: Buffer;
}

interface ConnectionFacts {
  binding: string;
  /** Database clock minus local clock, in seconds: claims expire on the database's clock. */
  clockOffset: number;
}

/** What a claim says; `capability` w for content managers (write), r for readers. */
export interface TenantClaim {
  keyId: number;
  expires: number;
  binding: string;
  capability: 'r' | 'w';
  merchant: string;
  principals: string;
}

/** The bytes the HMAC covers: the same text app_verified_capability() builds (migration 1764200000000). */
export function claimMessage(c: Omit<TenantClaim, 'keyId'> & { keyId: number }): string {
  return (
    `${c.keyId}.${c.expires}.${c.binding}.${c.capability}\n` +
    `${Buffer.byteLength(c.merchant, 'utf8')}\n${c.merchant}\n${c.principals}`
  );
}

export function signClaim(secret: Buffer, c: TenantClaim): string {
  const mac = crypto.createHmac('sha256', secret).update(claimMessage(c), 'utf8').digest('hex');
  return `${c.keyId}.${c.expires}.${c.binding}.${c.capability}.${mac}`;
}

/** A text[] literal, as PostgreSQL parses it: every element quoted, backslash and quote escaped. */
export function textArrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(',')}}`;
}

/**
 * Signs tenant claims with the newest key of tenant_claim_keys, read over the owner's connection (the request
 * login cannot read it). One per gateway; remembers each pooled connection's binding (its backend pid).
 */
export class TenantClaimSigner {
  private key: Promise<ClaimKey> | undefined;
  private loadedAt = 0;
  private readonly connections = new WeakMap<object, ConnectionFacts>();

  /** keySource: the owner's connection when requests have their own; null when one connection serves both. */
  constructor(private readonly keySource: Pick<DataSource, 'query'> | null) {}

  private async currentKey(manager: Pick<EntityManager, 'query'>): Promise<ClaimKey> {
    const now = Date.now();
    if (this.keySource === null) {
      // One connection for everything (PGlite, a single DATABASE_URL): it is the owner's, and is inside this
      // transaction before entering the request role, so the key is read right here.
      if (this.key === undefined || now - this.loadedAt > KEY_REFRESH_MS) {
        this.key = Promise.resolve(await this.load(manager));
        this.loadedAt = now;
      }
      return this.key;
    }
    const source = this.keySource;
    if (this.key === undefined) {
      this.loadedAt = now;
      this.key = this.load(source).catch((err: unknown) => {
        this.key = undefined;
        throw err;
      });
    } else if (now - this.loadedAt > KEY_REFRESH_MS) {
      // Refreshed in the background: requests keep signing with the key in hand meanwhile.
      this.loadedAt = now;
      const next = this.load(source);
      next.then(
        () => {
          this.key = next;
        },
        () => undefined,
      );
    }
    return this.key;
  }

  private async load(source: Pick<DataSource, 'query'>): Promise<ClaimKey> {
    let rows: { id: number; secret: Buffer }[];
    try {
      rows = await source.query(
        `SELECT id, secret FROM tenant_claim_keys WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1`,
      );
    } catch (err) {
      throw new Error(
        `Cannot read the tenant claim key (tenant_claim_keys): the gateway needs the owner's connection ` +
          `(MIGRATION_DATABASE_URL) for it; ${(err as Error).message}`,
      );
    }
    if (rows.length === 0) {
      throw new Error('No active tenant claim key: run SELECT rotate_tenant_claim_key() as the owner');
    }
    return { id: Number(rows[0].id), secret: rows[0].secret };
  }

  /** The signed claim for this transaction's connection. */
  async claimFor(
    manager: Pick<EntityManager, 'query' | 'queryRunner'>,
    capability: 'r' | 'w',
    merchant: string,
    principals: string,
  ): Promise<string> {
    const key = await this.currentKey(manager);
    const connection =
      (manager.queryRunner as unknown as { databaseConnection?: object } | undefined)?.databaseConnection ??
      undefined;
    let facts = connection ? this.connections.get(connection) : undefined;
    if (facts === undefined) {
      const rows: { binding: string; now: string }[] = await manager.query(
        `SELECT app_claim_binding() AS binding, extract(epoch FROM now())::float8 AS now`,
      );
      facts = { binding: rows[0].binding, clockOffset: Number(rows[0].now) - Date.now() / 1000 };
      if (connection) this.connections.set(connection, facts);
    }
    const expires = Math.ceil(Date.now() / 1000 + facts.clockOffset) + CLAIM_TTL_SECONDS;
    return signClaim(key.secret, {
      keyId: key.id,
      expires,
      binding: facts.binding,
      capability,
      merchant,
      principals,
    });
  }
}

/**
 * The statements every request transaction starts with, in one round trip. SET LOCAL takes no parameters: the
 * values go in as literals quoted by pg's escapeLiteral, and the principals as a text[] literal every element
 * of which is quoted, so no value can break out of its setting.
 */
export async function enterTenant(
  manager: Pick<EntityManager, 'query' | 'queryRunner' | 'connection'>,
  access: ContentAccess,
  claims: TenantClaimSigner,
): Promise<void> {
  await manager.query(await tenantSettingsSql(manager, access, claims));
}

/** enterTenant's statements as text, so that the read path can send them in the round trip of its BEGIN. */
export async function tenantSettingsSql(
  manager: Pick<EntityManager, 'query' | 'queryRunner' | 'connection'>,
  access: ContentAccess,
  claims: TenantClaimSigner,
): Promise<string> {
  const merchant = access.scope.merchantId;
  const principals = textArrayLiteral(access.scope.principals);
  const claim = await claims.claimFor(manager, access.manageAll ? 'w' : 'r', merchant, principals);
  const sets = [
    `SET LOCAL ROLE ${roleFor(access)}`,
    `SET LOCAL app.merchant_id = ${pg.escapeLiteral(merchant)}`,
    `SET LOCAL app.principals = ${pg.escapeLiteral(principals)}`,
    `SET LOCAL app.claim = ${pg.escapeLiteral(claim)}`,
  ];
  if (!(await isDistributed(manager))) return sets.join('; ');
  // On Citus the SET LOCALs must reach the workers, where the policies run (src/db/distributed.ts). Citus forwards
  // a SET LOCAL by the text of the query it came in, which in a multi-statement query is the whole query (the read
  // path's prelude SELECT included, which a worker refuses to run): each SET is executed on its own, from a DO.
  const body = `BEGIN ${sets.map((set) => `EXECUTE ${pg.escapeLiteral(set)};`).join(' ')} END`;
  return `SET LOCAL citus.propagate_set_commands = 'local'; DO ${pg.escapeLiteral(body)}`;
}

/** The database role a caller's transactions run as. */
export function roleFor(access: ContentAccess): string {
  return access.manageAll ? CONTENT_MANAGER_ROLE : GATEWAY_ROLE;
}

/** Opens tenant sessions on the gateway's request connection. */
export class SessionFactory {
  readonly claims: TenantClaimSigner;

  /** ownerDataSource: the owner's connection, which may read tenant_claim_keys (often the same object). */
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: Config,
    ownerDataSource: DataSource,
  ) {
    this.claims = new TenantClaimSigner(ownerDataSource === dataSource ? null : ownerDataSource);
  }

  open(identity: Identity, requestId?: string): TenantSession {
    const manage = mayManageContent(identity, this.config);
    return new TenantSession(this.dataSource, identity, manage, this.claims, requestId);
  }
}
