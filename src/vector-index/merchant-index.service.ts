import { type DataSource } from 'typeorm';
import { type Config } from '../config/config';
import { withMerchantIndexLock } from './index-lock';
import { type VectorIndexRepository } from './vector-index.repository';

export type MerchantIndexOutcome = 'exists' | 'created' | 'too-large' | 'not-needed';

export interface MerchantIndexReport {
  merchantId: string;
  dimensions: number;
  outcome: MerchantIndexOutcome;
  indexName: string | null;
  ms: number;
}

/** A merchant is checked after a write at most this often (the check is a capped count). */
const RECHECK_MS = 60_000;

/**
 * Merchant-dedicated HNSW indexes: a merchant with at least `dedicatedIndexMinRows` chunks gets a partial HNSW
 * index of its own, which the retrieval of that merchant uses (see src/retrieval/search-strategy.ts). Built CONCURRENTLY on a
 * dedicated connection without statement timeout, one build per merchant at a time across every gateway process
 * (advisory lock). Until the index is valid, the merchant is served by the quantized scan: slower, same recall.
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

  /** Builds every missing dedicated index (the `npm run vector-index` command and tests). */
  async maintain(
    opts: { merchantId?: string; onProgress?: (r: MerchantIndexReport) => void } = {},
  ): Promise<MerchantIndexReport[]> {
    const needed = await this.indexes.merchantsNeedingHnsw(
      this.dataSource.manager,
      this.config.retrieval.dedicatedIndexMinRows,
      opts.merchantId,
    );
    const reports: MerchantIndexReport[] = [];
    for (const { merchantId, dimensions } of needed) {
      const report = await this.build(merchantId, dimensions);
      opts.onProgress?.(report);
      reports.push(report);
    }
    return reports;
  }

  /** The merchant's index for this size, built now if the merchant is large enough and it is missing. */
  async ensureFor(merchantId: string, dimensions: number): Promise<MerchantIndexOutcome> {
    const needed = await this.indexes.merchantsNeedingHnsw(
      this.dataSource.manager,
      this.config.retrieval.dedicatedIndexMinRows,
      merchantId,
    );
    if (!needed.some((n) => n.dimensions === dimensions)) {
      const existing = await this.indexes.findMerchantHnswIndex(
        this.dataSource.manager,
        merchantId,
        dimensions,
      );
      return existing ? 'exists' : dimensions > 2000 ? 'too-large' : 'not-needed';
    }
    return (await this.build(merchantId, dimensions)).outcome;
  }

  /**
   * After a committed write: when background builds are on, checks (at most once a minute per merchant) whether
   * the merchant now needs its index, and builds it without blocking the caller. Builds run one at a time.
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

  private async build(merchantId: string, dimensions: number): Promise<MerchantIndexReport> {
    const started = Date.now();
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query(`SET statement_timeout = 0`);
      const r = await withMerchantIndexLock(runner, merchantId, () =>
        this.indexes.ensureMerchantHnswIndex(runner, merchantId, dimensions, {
          m: this.config.retrieval.dedicatedIndexM,
          efConstruction: this.config.retrieval.dedicatedIndexEfConstruction,
        }),
      );
      return { merchantId, dimensions, ...r, ms: Date.now() - started };
    } finally {
      await runner.query(`RESET statement_timeout`).catch(() => undefined);
      await runner.release();
    }
  }
}
