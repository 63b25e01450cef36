import { type DataSource } from 'typeorm';
import { type Config } from '../config/config';
import { withoutReadTimeout } from '../db/database';
import { withMerchantIndexLock } from './index-lock';
import { type BuildOutcome, type VectorIndexRepository } from './vector-index.repository';

export type MerchantIndexOutcome = BuildOutcome | 'not-needed';

export interface MerchantIndexReport {
  merchantId: string;
  dimensions: number;
  outcome: MerchantIndexOutcome;
  indexName: string | null;
  ms: number;
}

/**
 * A merchant is checked after a write at most this often (capped counts: its size while it has no index, its
 * tail once it has one). Short enough that a bulk load at 1,000 chunks/s grows the tail by ~10 s of writes past
 * its bound before the rebuild starts.
 */
const RECHECK_MS = 10_000;

/**
 * Merchant-dedicated HNSW indexes: a merchant with at least `dedicatedIndexMinRows` chunks gets a partial HNSW
 * index of its own, which the retrieval of that merchant uses (see src/retrieval/search-strategy.ts). Built CONCURRENTLY on a
 * dedicated connection without statement timeout, one build per merchant at a time across every gateway process
 * (advisory lock). Until the index is valid, the merchant is served by the quantized scan: slower, same recall.
 *
 * The index is a frozen graph: it covers the chunks up to the id it was built at, and newer chunks (the tail) are
 * not inserted into it — retrieval scans them exactly. When the tail holds more than
 * max(RETRIEVAL_DEDICATED_INDEX_TAIL_MIN_ROWS, RETRIEVAL_DEDICATED_INDEX_TAIL_PERCENT% of the covered chunks), the
 * same maintenance builds a replacement covering everything and swaps it in (VectorIndexRepository).
 */
export class MerchantIndexService {
  private readonly lastChecked = new Map<string, number>();
  private pending: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly indexes: VectorIndexRepository,
    private readonly config: Config,
  ) {}

  /**
   * Builds every missing dedicated index and replaces every graph whose tail outgrew its bound (the
   * `npm run vector-index` command, the background maintenance and tests).
   */
  async maintain(
    opts: { merchantId?: string; onProgress?: (r: MerchantIndexReport) => void } = {},
  ): Promise<MerchantIndexReport[]> {
    const r = this.config.retrieval;
    const manager = this.dataSource.manager;
    const needed = await this.indexes.merchantsNeedingHnsw(manager, r.dedicatedIndexMinRows, opts.merchantId);
    const stale = await this.indexes.merchantsNeedingRebuild(manager, this.tailPolicy(), opts.merchantId);
    const reports: MerchantIndexReport[] = [];
    for (const { merchantId, dimensions } of needed) {
      const report = await this.build(merchantId, dimensions, 'ensure');
      opts.onProgress?.(report);
      reports.push(report);
    }
    for (const { merchantId, dimensions } of stale) {
      const report = await this.build(merchantId, dimensions, 'rebuild');
      opts.onProgress?.(report);
      reports.push(report);
    }
    return reports;
  }

  /** Replaces the merchant's graph(s) now by ones covering every chunk, whatever the tail (tests, operations). */
  async rebuild(merchantId: string, dimensions: number): Promise<MerchantIndexReport> {
    return this.build(merchantId, dimensions, 'rebuild');
  }

  tailPolicy(): { minRows: number; percent: number } {
    const r = this.config.retrieval;
    return { minRows: r.dedicatedIndexTailMinRows, percent: r.dedicatedIndexTailPercent };
  }

  /**
   * The merchant's index for this size, built now if the merchant is large enough and it is missing, or replaced
   * now if its tail outgrew the bound (after a re-embedding flip every chunk of the new version is in the tail).
   */
  async ensureFor(merchantId: string, dimensions: number): Promise<MerchantIndexOutcome> {
    const manager = this.dataSource.manager;
    const needed = await this.indexes.merchantsNeedingHnsw(
      manager,
      this.config.retrieval.dedicatedIndexMinRows,
      merchantId,
    );
    if (needed.some((n) => n.dimensions === dimensions))
      return (await this.build(merchantId, dimensions, 'ensure')).outcome;
    const existing = await this.indexes.findMerchantHnswIndex(manager, merchantId, dimensions);
    if (!existing) return dimensions > 2000 ? 'too-large' : 'not-needed';
    const stale = await this.indexes.merchantsNeedingRebuild(manager, this.tailPolicy(), merchantId);
    if (!stale.some((n) => n.dimensions === dimensions)) return 'exists';
    return (await this.build(merchantId, dimensions, 'rebuild')).outcome;
  }

  /**
   * After a committed write: when background builds are on, checks (at most every 10 s per merchant) whether
   * the merchant now needs its index or a new graph (its tail outgrew the bound), and builds it without blocking
   * the caller. Builds run one at a time.
   */
  noteWrite(merchantId: string): void {
    if (!this.config.retrieval.indexAutoBuild || this.closed) return;
    const now = Date.now();
    if (now - (this.lastChecked.get(merchantId) ?? 0) < RECHECK_MS) return;
    this.lastChecked.set(merchantId, now);
    this.pending = this.pending
      .then(() => (this.closed ? [] : this.maintain({ merchantId })))
      .catch((err: unknown) => {
        // A failed build leaves an invalid index that the next attempt drops and rebuilds; retrieval meanwhile
        // uses the quantized scan, so this is worth a log line, not a failed request.
        this.lastChecked.delete(merchantId);
        console.error(`dedicated HNSW index build for merchant ${merchantId} failed:`, err);
      });
  }

  /** Drops the merchant's dedicated indexes (it is then served by the quantized scan). */
  async drop(merchantId: string): Promise<string[]> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      return await withMerchantIndexLock(runner, merchantId, () =>
        this.indexes.dropMerchantHnswIndexes(runner, merchantId),
      );
    } finally {
      await runner.release();
    }
  }

  /** Resolves when background builds scheduled so far have finished; no new ones start after close(). */
  idle(): Promise<unknown> {
    return this.pending;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pending;
  }

  private async build(
    merchantId: string,
    dimensions: number,
    kind: 'ensure' | 'rebuild',
  ): Promise<MerchantIndexReport> {
    const started = Date.now();
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query(`SET statement_timeout = 0`);
      // Rebuilds are routine (the tail's bound): PostgreSQL's default 64 MB holds ~9,000 1536-d vectors of a graph,
      // and a build past it took 823 s for 15,000 (docs/RETRIEVAL.md, Known limits).
      await runner.query(`SELECT set_config('maintenance_work_mem', $1, false)`, [
        `${this.config.retrieval.indexBuildMemoryMb}MB`,
      ]);
      const params = {
        m: this.config.retrieval.dedicatedIndexM,
        efConstruction: this.config.retrieval.dedicatedIndexEfConstruction,
      };
      const r = await withoutReadTimeout(runner, () =>
        withMerchantIndexLock(runner, merchantId, () =>
          kind === 'ensure'
            ? this.indexes.ensureMerchantHnswIndex(runner, merchantId, dimensions, params)
            : this.indexes.rebuildMerchantHnswIndex(runner, merchantId, dimensions, params),
        ),
      );
      return { merchantId, dimensions, ...r, ms: Date.now() - started };
    } finally {
      await runner.query(`RESET statement_timeout`).catch(() => undefined);
      await runner.query(`RESET maintenance_work_mem`).catch(() => undefined);
      await runner.release();
    }
  }
}
