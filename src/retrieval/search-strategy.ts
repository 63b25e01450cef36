import pg from 'pg';
import { type TenantScope } from '../auth/identity';
import { type Config } from '../config/config';
import { type Row, type SqlClient } from '../db/sql-client';
import { type HitRow } from './search-statement.sql';
import { outcomeOf, type SearchRepository, type SearchStatement } from './search.repository';
import {
  type ApproximatePath,
  type ChunkSearchParams,
  type SearchOutcome,
  type SearchPlan,
} from './search.types';

/** What a retrieval needs to know about the merchant, read in the round trip of its BEGIN. */
export interface MerchantFacts {
  version: number;
  embeddingModel: string;
  dimensions: number;
  /** The merchant's dedicated HNSW index for this size, when valid. */
  indexName: string | null;
  /** Its bound (chunks above it are the exactly scanned tail), from the same registry row; null: covers all. */
  indexMaxChunkId: string | null;
  /** The measured choice for this corpus version (src/retrieval/calibration.service.ts), or null. */
  calibration: CalibrationChoice | null;
}

/**
 * Why a calibration stored what it did: an approximate setting measured to reach the target, a merchant small
 * enough to be exact without measuring, or 'none' because the time budget ran out ('budget') or no setting
 * reached the target ('unreached').
 */
export enum CalibrationOutcome {
  MEASURED = 'measured',
  SMALL = 'small',
  BUDGET = 'budget',
  UNREACHED = 'unreached',
}

/** The stored outcome of a calibration: which approximate path, tuned how, from how many readable rows. */
export interface CalibrationChoice {
  /** 'none': no approximate setting reached the recall target within the budget: answered exactly. */
  path: ApproximatePath;
  exactMaxReadable: number;
  quantizedRerank: number | null;
  hnswEfSearch: number | null;
  hnswCandidates: number | null;
  recallFull: number | null;
  recallNarrow: number | null;
  sampleSize: number;
  merchantRows: number;
  tookMs: number;
  measuredAt: Date;
  /** Whether the merchant had a dedicated index when measured, and its name (null: none, or not recorded). */
  hadIndex: boolean;
  measuredIndex: string | null;
  /** Null: stored before outcomes were recorded (migration 1765480000000), and not inferable. */
  outcome: CalibrationOutcome | null;
  /** Calibrations of this version in a row that ran out of their budget. */
  budgetAttempts: number;
}

type BudgetFacts = Pick<
  CalibrationChoice,
  'path' | 'outcome' | 'sampleSize' | 'budgetAttempts' | 'measuredAt'
>;

/** The longest back-off between re-measures of a merchant whose calibrations keep running out of budget. */
export const BUDGET_RETRY_MAX_MS = 24 * 60 * 60 * 1000;

/**
 * When a calibration the time budget cut short may be measured again (null: it is not such a row): `retryBaseMs`
 * after it was stored, doubled for every attempt before it that ran out too, at most BUDGET_RETRY_MAX_MS. A busy
 * machine (another merchant's index build beside it) is transient, and until re-measured every reader of the
 * merchant gets an exact scan (60,000 chunks: ~250 ms a query instead of ~15), or a setting kept without its margin
 * measured; a merchant whose trials never fit the budget costs a calibration a day at most. A 'none' stored before
 * outcomes were recorded and not from a small merchant may have been either kind, and is retried like a first budget
 * one. (A gateway of an older release re-measuring during a rolling upgrade writes its path and leaves the outcome
 * as it was: a 'budget' it leaves is measured once more.)
 */
export function budgetRetryAt(c: BudgetFacts, retryBaseMs: number): Date | null {
  const budget =
    c.outcome === CalibrationOutcome.BUDGET || (c.outcome === null && c.path === 'none' && c.sampleSize > 0);
  if (!budget) return null;
  const attempts = Math.max(1, c.budgetAttempts);
  const backOff = Math.min(retryBaseMs * 2 ** Math.min(attempts - 1, 30), BUDGET_RETRY_MAX_MS);
  return new Date(c.measuredAt.getTime() + backOff);
}

export function budgetRetryDue(c: BudgetFacts, retryBaseMs: number, now = Date.now()): boolean {
  const at = budgetRetryAt(c, retryBaseMs);
  return at !== null && at.getTime() <= now;
}

/**
 * Whether a calibration was measured on the graph the merchant has now. Index names come from a sequence, so a
 * rebuilt or replaced graph has a new name; a row from before names were recorded (had an index, no name) was
 * measured on a graph nobody can name and never counts as current while an index exists.
 */
export function measuredOnCurrentIndex(c: CalibrationChoice, indexName: string | null): boolean {
  return c.hadIndex ? c.measuredIndex !== null && c.measuredIndex === indexName : indexName === null;
}

/**
 * Where a retrieval's approximate settings came from: the merchant's calibration; a stale one, still used and to be
 * re-measured (measured on another graph than the merchant's current index, see measuredOnCurrentIndex, or cut
 * short by the budget and its back-off passed, see budgetRetryAt); or the defaults.
 */
export type SettingsSource = 'calibration' | 'stale-calibration' | 'defaults';

export function settingsSource(facts: MerchantFacts, retryBaseMs: number, now = Date.now()): SettingsSource {
  const c = facts.calibration;
  if (c === null) return 'defaults';
  return measuredOnCurrentIndex(c, facts.indexName) && !budgetRetryDue(c, retryBaseMs, now)
    ? 'calibration'
    : 'stale-calibration';
}

export interface StrategyExplain {
  source: SettingsSource;
  /** The merchant's dedicated index now (the calibration names the one it measured). */
  indexName: string | null;
  plan: SearchPlan['vector'];
  calibration: CalibrationChoice | null;
}

/**
 * The one place that decides how a retrieval is answered, and its EXPLAIN twin: the plan shown is the plan of
 * the statement this decision builds. Three statements whatever the path:
 *  1. BEGIN, the tenant settings, the search tuning and the merchant's facts (active version, dedicated index,
 *     calibration; the HNSW ef_search comes from the calibration in the same SELECT);
 *  2. one search statement: the readable count, the exact or approximate vector side and the full-text side
 *     (SearchRepository.run);
 *  3. COMMIT.
 * Three round trips the first time a process serves a merchant (TenantSession.read); after that one: the statement
 * the merchant's last facts call for is sent with the other two (TenantSession.readAhead) and used only if the
 * facts read in its own transaction call for the same statement (RetrievalService.searchAhead).
 * The choice: the exact scan when the caller's readable candidates are at most the threshold (recall 1.0), else
 * the merchant's measured approximate path — its dedicated HNSW index (quantized scan if that comes back short)
 * or the quantized scan, tuned as measured — or, uncalibrated, the configured defaults. docs/RETRIEVAL.md.
 */
export class SearchStrategy {
  constructor(
    private readonly search: SearchRepository,
    private readonly config: Config,
  ) {}

  /**
   * The SQL that follows the tenant settings in the first round trip (SELECTs only; its last one: the facts).
   * Every table is filtered by the merchant as a literal (the policies still require it to be the claim's): on
   * Citus that makes the statement a single-shard router query that runs whole on the merchant's worker, so its
   * set_config tuning takes effect in the worker's transaction, which the search statement then uses
   * (docs/SCALE-OUT.md). The index check is a function for the same reason (migration 1765200000001).
   */
  prelude(k: number, merchantId: string, distributed: boolean): string {
    const r = this.config.retrieval;
    const merchant = pg.escapeLiteral(merchantId);
    const ef = `greatest(coalesce(cal.hnsw_ef_search, ${int(r.hnswEfSearch)}), ${int(k)}, coalesce(cal.hnsw_candidates, ${int(r.hnswCandidates)}))`;
    // Name and bound: the one registry row (primary key merchant, size), its index's readiness asked once.
    return `SELECT v.version, v.embedding_model, v.dimensions,
       x.index_name, x.max_chunk_id::text AS index_max_chunk_id,
       cal.path, cal.exact_max_readable, cal.quantized_rerank, cal.hnsw_ef_search, cal.hnsw_candidates,
       cal.recall_full, cal.recall_narrow, cal.sample_size, cal.merchant_rows, cal.took_ms, cal.measured_at,
       cal.had_index, cal.measured_index, cal.outcome, cal.budget_attempts,
       ${this.search.tuningSql({ efSearch: ef, maxScanTuples: r.hnswMaxScanTuples, genericPlans: !distributed })}
  FROM corpus_versions v
  LEFT JOIN retrieval_calibrations cal ON cal.merchant_id = ${merchant} AND cal.corpus_version = v.version
  LEFT JOIN LATERAL (SELECT x.index_name, x.max_chunk_id FROM merchant_vector_indexes x
         WHERE x.merchant_id = ${merchant} AND x.dimensions = v.dimensions AND vector_index_ready(x.index_name)) x
    ON true
 WHERE v.merchant_id = ${merchant} AND v.state = 'active'`;
  }

  facts(rows: readonly Row[]): MerchantFacts | null {
    const r = rows[0];
    if (r === undefined) return null;
    return {
      version: Number(r.version),
      embeddingModel: String(r.embedding_model),
      dimensions: Number(r.dimensions),
      indexName: (r.index_name as string | null) ?? null,
      indexMaxChunkId: r.index_name == null ? null : ((r.index_max_chunk_id as string | null) ?? null),
      calibration: r.path === null || r.path === undefined ? null : calibrationOf(r),
    };
  }

  /** The search plan for these facts and this request. */
  plan(
    facts: MerchantFacts,
    params: ChunkSearchParams,
    vector: boolean,
    keyword: string | null,
    distributed: boolean,
  ): SearchPlan {
    return { params, keyword, distributed, vector: vector ? this.vectorPlan(facts, params.k) : null };
  }

  async run(client: SqlClient, scope: TenantScope, plan: SearchPlan): Promise<SearchOutcome> {
    return this.search.run(client, scope, plan);
  }

  /** The statement `run` sends for this plan, for a caller that sends it itself (TenantSession.readAhead). */
  statement(scope: TenantScope, plan: SearchPlan): SearchStatement | null {
    return this.search.statement(scope, plan);
  }

  /** What that statement's rows answer. */
  outcome(plan: SearchPlan, rows: readonly Row[]): SearchOutcome {
    return outcomeOf(plan, rows as HitRow[]);
  }

  /** EXPLAIN (ANALYZE, BUFFERS) of the very statement `run` sends for this plan, and where its settings came from. */
  async explain(
    client: SqlClient,
    scope: TenantScope,
    facts: MerchantFacts,
    plan: SearchPlan,
  ): Promise<{ lines: string[]; choice: StrategyExplain }> {
    const lines = await this.search.explain(client, scope, plan, true, !plan.distributed);
    return {
      lines,
      choice: {
        source: settingsSource(facts, this.config.retrieval.calibrationRetryMs),
        indexName: facts.indexName,
        plan: plan.vector,
        calibration: facts.calibration,
      },
    };
  }

  private vectorPlan(facts: MerchantFacts, k: number): NonNullable<SearchPlan['vector']> {
    const r = this.config.retrieval;
    const c = facts.calibration;
    // HYBRID asks for a pool of up to 200: the re-rank keeps at least 8× the rows asked for.
    const rerank = (measured: number | null) => Math.max(measured ?? r.quantizedRerank, 8 * k);
    if (c !== null) {
      const approximate: ApproximatePath =
        c.path === 'hnsw' && facts.indexName === null ? 'quantized' : c.path;
      return {
        approximate,
        exactMaxReadable: c.exactMaxReadable,
        rerank: rerank(c.quantizedRerank),
        hnswCandidates: c.hnswCandidates ?? r.hnswCandidates,
        graphMaxId: facts.indexMaxChunkId,
      };
    }
    return {
      approximate: facts.indexName !== null ? 'hnsw' : 'quantized',
      exactMaxReadable: r.exactScanMaxRows,
      rerank: rerank(null),
      hnswCandidates: r.hnswCandidates,
      graphMaxId: facts.indexMaxChunkId,
    };
  }
}

function int(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid integer setting ${String(n)}`);
  return n;
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function calibrationOf(r: Row): CalibrationChoice {
  return {
    path: r.path as ApproximatePath,
    exactMaxReadable: Number(r.exact_max_readable),
    quantizedRerank: num(r.quantized_rerank),
    hnswEfSearch: num(r.hnsw_ef_search),
    hnswCandidates: num(r.hnsw_candidates),
    recallFull: num(r.recall_full),
    recallNarrow: num(r.recall_narrow),
    sampleSize: Number(r.sample_size),
    merchantRows: Number(r.merchant_rows),
    tookMs: Number(r.took_ms),
    measuredAt: new Date(r.measured_at as string),
    hadIndex: r.had_index === true,
    measuredIndex: (r.measured_index as string | null | undefined) ?? null,
    outcome: (r.outcome as CalibrationOutcome | null | undefined) ?? null,
    budgetAttempts: Number(r.budget_attempts ?? 0),
  };
}
