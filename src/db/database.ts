import pg from 'pg';
import { DataSource, type DataSourceOptions, type QueryRunner } from 'typeorm';
import { migrations } from '../../migrations';
import { type Config } from '../config/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { entities } from './entities';

export type DatabaseKind = 'native' | 'embedded';

export interface Database {
  kind: DatabaseKind;
  /**
   * The owner's connection (MIGRATION_DATABASE_URL, else DATABASE_URL; PGlite's superuser): admin jobs that act
   * for a merchant without a caller, and tests' ground truth. Not subject to row-level security.
   */
  dataSource: DataSource;
  /**
   * What requests use, only through TenantSession (src/db/session.ts): DATABASE_URL on native — the gateway role
   * in production — and the one PGlite connection embedded (which enters the gateway role per transaction).
   * The same object as dataSource when there is only one URL.
   */
  requestDataSource: DataSource;
  /** Safe to print: no password. */
  description: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Run pending migrations after connecting (the gateway does; tools that only read need not). */
  migrate?: boolean;
  /** Native pool size (default DB_POOL_SIZE); the embedded database always uses exactly one connection. */
  poolSize?: number;
}

/**
 * Embedded: how long a request waits for the single connection (a long ingestion may hold it). Native uses
 * DB_CONNECT_TIMEOUT_MS: there a wait means the server is unreachable or the pool exhausted, and failing fast
 * with SERVICE_UNAVAILABLE beats piling up requests.
 */
const EMBEDDED_CONNECTION_WAIT_MS = 30_000;

/**
 * Margin of the client-side read timeout over the server's statement_timeout: a slow query is cancelled by the
 * server first (57014, a clean error on a live connection); only a server that stopped answering altogether
 * (frozen, partitioned: TCP open, no reply) reaches the client timeout.
 */
const QUERY_TIMEOUT_MARGIN_MS = 2_000;

/** pg's own message when query_timeout fires. */
export const QUERY_READ_TIMEOUT = 'Query read timeout';

/**
 * A pg client that abandons its connection when a query times out on the client side. pg's query_timeout fails
 * the query but leaves it pending on the socket; the pool would then hand that connection to the next request,
 * whose queries would queue behind a reply that never comes. Destroying the socket makes the client error out,
 * so the pool drops it and opens a fresh connection for the next request. With a watchdog, its pending queries are
 * also reported, so a server that stopped answering is noticed long before query_timeout (see ServerWatchdog).
 */
export class AbandonOnTimeoutClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig, watchdog?: Pick<ServerWatchdog, 'queryStarted'>) {
    super(config);
    // Patched on the instance because pg.Client.query has a dozen overloads a subclass would have to restate. The
    // prototype's method is looked up per call (not bound once), so instrumentation of pg.Client (the benchmark's
    // SQL recorder) still sees these clients' statements.
    Object.assign(this, {
      query: (...args: unknown[]): unknown => {
        const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
        const result = proto.query.apply(this, args);
        if (result instanceof Promise) {
          const done = watchdog?.queryStarted(this);
          result.then(done, (err: unknown) => {
            done?.();
            if (err instanceof Error && err.message === QUERY_READ_TIMEOUT) this.abandon();
          });
        }
        return result;
      },
    });
  }

  abandon(): void {
    // pg marks the client unusable only when the socket's close reaches it, a tick or more later; a request that
    // releases the connection at once (the usual reaction to its failed query) would give it back to the pool as
    // idle, and the next query would fail with "Connection terminated unexpectedly". pg-pool drops a released client
    // that is not queryable (its own test of pg's flag).
    (this as unknown as { _queryable: boolean })._queryable = false;
    destroySocket(this);
  }
}

function destroySocket(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * Runs `work` without the client-side read timeout on `runner`'s connection, for statements that may rightly run past
 * DB_STATEMENT_TIMEOUT_MS once the caller lifted the server's (`SET statement_timeout = 0`): a dedicated index build
 * takes minutes on a large merchant. pg's query_timeout (the statement timeout + 2 s) would fail such a statement on
 * the client and abandon the connection while the server went on: with the defaults every build past 17 s failed
 * (`npm run vector-index` exited 1 on a 12,400-chunk merchant; its build takes 17.6 s), and a rebuild, whose registry
 * swap follows its CREATE INDEX, was dropped as a leftover and redone by the next attempt. The watchdog still
 * abandons the connection if the server stops answering. Waiting for another process's build (the merchant's
 * advisory lock) is then unbounded too, which is the point: the build it waits for finishes, or the lock goes
 * with that process's connection.
 */
export async function withoutReadTimeout<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  // pg reads query_timeout from the client's connection parameters as each query starts (pg/lib/client.js).
  const params = (
    runner as unknown as { databaseConnection?: { connectionParameters?: { query_timeout?: number } } }
  ).databaseConnection?.connectionParameters;
  if (params === undefined) throw new Error('withoutReadTimeout: the runner is not connected to a pg client');
  const saved = params.query_timeout;
  params.query_timeout = 0;
  try {
    return await work();
  } finally {
    params.query_timeout = saved;
  }
}

/** A query without any reply for this long makes the watchdog ask whether the server still answers. */
const STALL_MS = 2_000;
/** How long the watchdog's probe (a new connection and `SELECT 1`) may take before the server counts as frozen. */
const PROBE_TIMEOUT_MS = 3_000;
const WATCHDOG_TICK_MS = 500;

/**
 * Bounds how long a request can hang on a server that stopped answering (frozen, partitioned: TCP open, no reply),
 * independently of the statement timeout. Without it that bound is query_timeout (statement_timeout + 2 s: 17 s
 * with the defaults), since nothing on the client can tell a frozen server from a slow query. When a query has had
 * no reply for STALL_MS, the watchdog opens a fresh connection and runs `SELECT 1`: if that does not answer within
 * PROBE_TIMEOUT_MS, the server is unresponsive, and the connections with stalled queries are abandoned (their
 * requests fail with SERVICE_UNAVAILABLE); until a probe answers again, queries stalled for a tick are abandoned
 * too. A slow query on a live server is left alone: the probe answers. So a request waits at most about
 * STALL_MS + PROBE_TIMEOUT_MS + a tick (~5.5 s) for a frozen server, plus DB_CONNECT_TIMEOUT_MS when it was
 * opening a connection.
 */
export class ServerWatchdog {
  private readonly pending = new Map<AbandonOnTimeoutClient, { count: number; since: number }>();
  private probing = false;
  private unresponsive = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly probeConfig: pg.ClientConfig) {
    this.timer = setInterval(() => this.tick(), WATCHDOG_TICK_MS);
    this.timer.unref();
  }

  /** A pg Client class whose instances report to this watchdog (for the pool's `Client` option). */
  clientClass(): typeof pg.Client {
    const report = (client: AbandonOnTimeoutClient) => this.queryStarted(client);
    return class extends AbandonOnTimeoutClient {
      constructor(config?: string | pg.ClientConfig) {
        super(config, { queryStarted: report });
      }
    };
  }

  /** Returns the function to call when the query settles. */
  queryStarted(client: AbandonOnTimeoutClient): () => void {
    const entry = this.pending.get(client);
    if (entry) entry.count++;
    else this.pending.set(client, { count: 1, since: Date.now() });
    return () => {
      const e = this.pending.get(client);
      if (!e) return;
      e.count--;
      // pg runs a client's queries one after another: the next one starts now.
      if (e.count <= 0) this.pending.delete(client);
      else e.since = Date.now();
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private stalled(olderThanMs: number): AbandonOnTimeoutClient[] {
    const now = Date.now();
    return [...this.pending].filter(([, e]) => now - e.since >= olderThanMs).map(([c]) => c);
  }

  private abandon(clients: AbandonOnTimeoutClient[]): void {
    for (const c of clients) {
      this.pending.delete(c);
      c.abandon();
    }
  }

  private tick(): void {
    if (this.unresponsive) this.abandon(this.stalled(WATCHDOG_TICK_MS));
    if (this.probing || (!this.unresponsive && this.stalled(STALL_MS).length === 0)) return;
    this.probing = true;
    void this.probe().then((answered) => {
      this.probing = false;
      this.unresponsive = !answered;
      if (!answered) this.abandon(this.stalled(STALL_MS));
    });
  }

  private async probe(): Promise<boolean> {
    const client = new pg.Client({
      ...this.probeConfig,
      connectionTimeoutMillis: PROBE_TIMEOUT_MS,
      query_timeout: PROBE_TIMEOUT_MS,
      application_name: 'support-rag-gateway watchdog',
    });
    // A probe that never gets a reply must not stay pending on its socket.
    const timer = setTimeout(() => destroySocket(client), PROBE_TIMEOUT_MS + 500);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (err) {
      // An error the server sent (too many connections, shutting down, …) means it answers: only silence counts.
      const code = (err as { code?: unknown } | null)?.code;
      return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code); // SQLSTATE (no class starts with E; EPIPE does)
    } finally {
      clearTimeout(timer);
      client.end().catch(() => undefined);
    }
  }
}

/** Advisory lock key held while migrating (any constant unique to this application). */
const MIGRATION_LOCK_KEY = 7_306_411_907;

export async function openDatabase(config: Config, options: OpenDatabaseOptions = {}): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  const watchdogs: ServerWatchdog[] = [];
  const common = {
    type: 'postgres',
    entities,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
  } as const;
  let dsOptions: DataSourceOptions;
  let requestOptions: DataSourceOptions | undefined;
  let kind: DatabaseKind;
  let description: string;
  const ownerUrl = config.migrationDatabaseUrl ?? config.databaseUrl;
  if (config.databaseUrl !== undefined) {
    kind = 'native';
    const statementTimeout = config.retrieval.statementTimeoutMs;
    const url = new URL(config.databaseUrl);
    description = `PostgreSQL at ${url.hostname}:${url.port || '5432'}${url.pathname} as ${decodeURIComponent(url.username) || 'the default user'}`;
    const pool = (connectUrl: string, max: number, name: string): DataSourceOptions => {
      const watchdog = new ServerWatchdog({ connectionString: connectUrl });
      watchdogs.push(watchdog);
      return poolOptions(connectUrl, max, name, watchdog);
    };
    const poolOptions = (
      connectUrl: string,
      max: number,
      name: string,
      watchdog: ServerWatchdog,
    ): DataSourceOptions => ({
      ...common,
      url: connectUrl,
      extra: {
        Client: watchdog.clientClass(),
        max,
        connectionTimeoutMillis: config.database.connectTimeoutMs,
        statement_timeout: statementTimeout || undefined,
        query_timeout: statementTimeout ? statementTimeout + QUERY_TIMEOUT_MARGIN_MS : undefined,
        // Notices a peer that vanished (host down, connection dropped by a firewall) on idle connections.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        application_name: name,
      },
    });
    if (config.migrationDatabaseUrl !== undefined) {
      // Two roles: requests over DATABASE_URL, admin work over a small owner pool.
      requestOptions = pool(config.databaseUrl, options.poolSize ?? config.dbPoolSize, 'support-rag-gateway');
      dsOptions = pool(config.migrationDatabaseUrl, 2, 'support-rag-gateway admin');
    } else {
      dsOptions = pool(config.databaseUrl, options.poolSize ?? config.dbPoolSize, 'support-rag-gateway');
    }
  } else {
    kind = 'embedded';
    embedded = await startEmbeddedPostgres(config.embeddedDataDir);
    description = `embedded PGlite (${config.embeddedDataDir})`;
    dsOptions = {
      ...common,
      host: embedded.socketDir,
      port: embedded.port,
      username: 'postgres',
      database: 'postgres',
      extra: { max: 1, connectionTimeoutMillis: EMBEDDED_CONNECTION_WAIT_MS, idleTimeoutMillis: 0 },
    };
  }

  const dataSource = new DataSource(dsOptions);
  const requestDataSource = requestOptions ? new DataSource(requestOptions) : dataSource;
  try {
    if (options.migrate !== false && kind === 'native') {
      // Migrations build indexes that may take minutes on a big table: they get their own connection, without
      // the statement timeout that guards request queries.
      const migrator = new DataSource({
        ...common,
        url: ownerUrl,
        extra: { max: 1, application_name: 'support-rag-gateway migrations' },
      });
      await migrator.initialize();
      try {
        // Several gateways may start at once against one database, and TypeORM takes no lock of its own: the
        // first to get this session-level advisory lock migrates, the others wait and then find nothing pending.
        // The pool has one connection, so the lock, the migrations and the unlock share a session.
        await migrator.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        await migrator.runMigrations({ transaction: 'each' });
        await migrator.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      } finally {
        await migrator.destroy();
      }
    }
    await dataSource.initialize();
    if (requestDataSource !== dataSource) await requestDataSource.initialize();
    if (options.migrate !== false && kind === 'embedded')
      await dataSource.runMigrations({ transaction: 'each' });
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    if (requestDataSource.isInitialized) await requestDataSource.destroy().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    for (const w of watchdogs) w.stop();
    throw err;
  }
  let closed = false;
  return {
    kind,
    dataSource,
    requestDataSource,
    description,
    async close() {
      if (closed) return;
      closed = true;
      if (requestDataSource !== dataSource) await requestDataSource.destroy();
      await dataSource.destroy();
      for (const w of watchdogs) w.stop();
      await embedded?.stop();
    },
  };
}

export interface RequestRoleReport {
  user: string;
  superuser: boolean;
  bypassRls: boolean;
  ownsTables: boolean;
}

/**
 * Who the request connection logs in as. Requests enter the gateway role per transaction either way, but only a
 * login that is not a superuser, not the owner and cannot bypass RLS keeps the policies in force for any query
 * that does not go through a TenantSession (deny by default); production insists on it (src/main.ts).
 */
export async function inspectRequestRole(db: Database): Promise<RequestRoleReport> {
  const rows: { usr: string; super: boolean; bypass: boolean; owns: boolean }[] =
    await db.requestDataSource.query(
      `SELECT current_user AS usr, r.rolsuper AS super, r.rolbypassrls AS bypass,
              EXISTS (SELECT 1 FROM pg_tables t WHERE t.tablename = 'document_chunks' AND t.tableowner = current_user) AS owns
         FROM pg_roles r WHERE r.rolname = current_user`,
    );
  const r = rows[0];
  return { user: r.usr, superuser: r.super, bypassRls: r.bypass, ownsTables: r.owns };
}
