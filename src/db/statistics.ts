import { type DataSource } from 'typeorm';

/**
 * Whether document_chunks is due for ANALYZE by autovacuum's default rule (rows changed since the last ANALYZE >
 * 50 + 10% of the table), or was never analyzed. Bulk loads change the table faster than autovacuum's next round,
 * and the embedded database has no autovacuum at all; until then the planner plans a merchant it has no statistics
 * for as one row and picks among that merchant's indexes by chance (docs/INGESTION.md, "Measurements").
 */
export function statisticsDue(t: { reltuples: number; modifiedSinceAnalyze: number }): boolean {
  return t.reltuples < 0 || t.modifiedSinceAnalyze > 50 + 0.1 * t.reltuples;
}

export async function chunkStatisticsDue(dataSource: DataSource): Promise<boolean> {
  const rows = await dataSource.query<{ reltuples: number; modified: string | null }[]>(
    `SELECT c.reltuples, s.n_mod_since_analyze AS modified
       FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.oid = 'document_chunks'::regclass`,
  );
  const r = rows[0];
  return (
    r !== undefined &&
    statisticsDue({ reltuples: Number(r.reltuples), modifiedSinceAnalyze: Number(r.modified ?? 0) })
  );
}

/**
 * ANALYZE of document_chunks. Of the whole table, not a column list: only an ANALYZE of every column resets the
 * count of rows changed since (`n_mod_since_analyze`), without which the table would stay due for our rule and for
 * autovacuum's. The wide columns no plan filters on (vectors, bit vectors, text) have statistics target 0
 * (migration 1765400000000): ANALYZE skips them, which halves its time.
 *
 * SKIP_LOCKED: never waits for the table's lock. A `CREATE INDEX CONCURRENTLY` (a dedicated vector index being
 * built by the gateway, `npm run vector-index` or a load) holds that lock for its whole build and, in its last
 * phases, waits for every transaction older than its snapshot; an ANALYZE queued behind the lock is one of them,
 * and PostgreSQL broke the cycle by killing the index build ("deadlock detected", seen in the ingestion
 * benchmark). A skipped ANALYZE leaves the table due: the caller tries again later.
 *
 * Returns the milliseconds taken, or null when it was skipped (the table locked, or the role not its owner: the
 * table's manual ANALYZE count did not move).
 */
export async function analyzeChunks(dataSource: DataSource): Promise<number | null> {
  const count = async (): Promise<number> => {
    const rows = await dataSource.query<{ n: string | null }[]>(
      `SELECT analyze_count AS n FROM pg_stat_user_tables WHERE relid = 'document_chunks'::regclass`,
    );
    return Number(rows[0]?.n ?? 0);
  };
  const before = await count();
  const t0 = Date.now();
  await dataSource.query(`ANALYZE (SKIP_LOCKED) document_chunks`);
  const ms = Date.now() - t0;
  return (await count()) > before ? ms : null;
}

/**
 * Keeps the planner statistics of document_chunks current after the gateway's own writes where nothing else does:
 * the embedded database has no autovacuum, and a native server may run with it off (this machine's does). On a
 * committed write that changed something, at most once per `recheckMs` (and once more when the window ends, so a
 * burst's last write counts), it checks autovacuum's rule and ANALYZEs when due. Until then a merchant written
 * since the last ANALYZE is planned as one row, and a table never analyzed from defaults: its embedding-cache
 * probe then filtered a merchant's whole index range for each hash (3,502 rows for one ticket's one chunk, 11 ms).
 * On one connection the ANALYZE holds requests back while it runs (~0.6 s per 16,000 chunks).
 *
 * `enabled: 'unless-autovacuum'` decides at the first write: on when the server's autovacuum is off for the table.
 * Either way only when the connection may ANALYZE it (its owner or a superuser: the migration URL's role, not the
 * request role), else one log line says why the statistics are left alone.
 */
export class ChunkStatisticsKeeper {
  private pending: Promise<unknown> = Promise.resolve();
  private lastChecked = Number.NEGATIVE_INFINITY;
  private trailing: NodeJS.Timeout | undefined;
  private closed = false;
  private active: Promise<boolean> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: {
      enabled: boolean | 'unless-autovacuum';
      recheckMs?: number;
      onAnalyzed?: (ms: number) => void;
      /** The table was locked (an index build): not analyzed, retried after `recheckMs`. */
      onSkipped?: () => void;
      /** Why statistics are not kept although they should be (the role may not ANALYZE). */
      onDisabled?: (reason: string) => void;
    },
  ) {}

  noteWrite(): void {
    if (this.options.enabled === false || this.closed) return;
    const wait = this.lastChecked + (this.options.recheckMs ?? 30_000) - Date.now();
    if (wait <= 0) return this.check();
    this.trailing ??= setTimeout(() => {
      this.trailing = undefined;
      this.noteWrite();
    }, wait).unref();
  }

  /** Resolves when the checks scheduled so far have finished. */
  idle(): Promise<unknown> {
    return this.pending;
  }

  /** Runs the check a write still owed (a command that wrote and exits), then takes no more. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.trailing !== undefined) {
      clearTimeout(this.trailing);
      this.trailing = undefined;
      this.check();
    }
    await this.pending;
  }

  private check(): void {
    this.lastChecked = Date.now();
    this.pending = this.pending
      .then(async () => {
        if (!(await (this.active ??= this.decide()))) return;
        if (!(await chunkStatisticsDue(this.dataSource))) return;
        const ms = await analyzeChunks(this.dataSource);
        if (ms !== null) return this.options.onAnalyzed?.(ms);
        // Skipped (an index build holds the table): still due, so try again when the window ends.
        this.options.onSkipped?.();
        this.retryLater();
      })
      .catch((err: unknown) => {
        // Stale statistics cost time, not answers: a log line, and the next write tries again.
        console.error('ANALYZE of document_chunks failed:', err);
      });
  }

  private retryLater(): void {
    if (this.closed || this.trailing !== undefined) return;
    this.trailing = setTimeout(() => {
      this.trailing = undefined;
      this.noteWrite();
    }, this.options.recheckMs ?? 30_000).unref();
  }

  private async decide(): Promise<boolean> {
    const [row] = await this.dataSource.query<{ may_analyze: boolean; autovacuum: boolean }[]>(
      `SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
                OR pg_has_role(current_user, c.relowner, 'USAGE') AS may_analyze,
              current_setting('autovacuum')::boolean
                AND coalesce((SELECT option_value::boolean FROM pg_options_to_table(c.reloptions)
                               WHERE option_name = 'autovacuum_enabled'), true) AS autovacuum
         FROM pg_class c WHERE c.oid = 'document_chunks'::regclass`,
    );
    const wanted = this.options.enabled === true || !row.autovacuum;
    if (wanted && !row.may_analyze) {
      this.options.onDisabled?.(
        'the database role may not ANALYZE document_chunks (only its owner or a superuser): planner statistics ' +
          'go stale after writes; set MIGRATION_DATABASE_URL (the owner) or turn autovacuum on',
      );
    }
    return wanted && row.may_analyze;
  }
}
