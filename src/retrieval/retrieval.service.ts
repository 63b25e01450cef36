import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { badInput, type DomainError } from '../common/errors/domain-error';
import { assertDate, assertSourceId, assertText, normalizeMetadata } from '../common/validation';
import { type Config } from '../config/config';
import { type TenantSession } from '../db/session';
import { type Row } from '../db/sql-client';
import { type EmbedderRegistry } from '../embeddings/embedder.registry';
import { NO_SERVICE_EVENTS, type ServiceEvents } from '../ops/service-events';
import { TicketStatus } from '../tickets/ticket-status';
import { DEFAULT_VECTOR_WEIGHT, fuse } from './fusion';
import { givenEmbedding } from './query-vector';
import {
  type MerchantFacts,
  type SearchStrategy,
  type SettingsSource,
  settingsSource,
  type StrategyExplain,
} from './search-strategy';
import { type ChunkHit, type ChunkSearchFilter, type SearchOutcome, type SearchPlan } from './search.types';

/**
 * Told when a retrieval finds the merchant's active version uncalibrated, or calibrated on another graph than its
 * dedicated index now (CalibrationService schedules a measurement).
 */
export interface CalibrationTrigger {
  noteNeedsCalibration(merchantId: string): void;
}

export const MAX_K = 50;
export const DEFAULT_K = 5;
export const DEFAULT_HYBRID_WEIGHT = DEFAULT_VECTOR_WEIGHT; // chosen by eval: src/retrieval/fusion.ts
const MAX_FILTER_IDS = 100;

export type RetrievalMode = 'vector' | 'keyword' | 'hybrid';

export interface RetrieveFilter {
  sourceType?: 'document' | 'ticket' | null;
  metadata?: unknown;
  documentIds?: string[] | null;
  ticketIds?: string[] | null;
  customerId?: string | null;
  ticketStatuses?: TicketStatus[] | null;
  category?: string | null;
  updatedSince?: Date | null;
}

export interface RetrieveQuery {
  query: string;
  k: number;
  mode?: RetrievalMode | null;
  /** A precomputed query vector from the active model; the query text may then be empty. */
  embedding?: readonly number[] | null;
  /** The same, as base64 of little-endian float32 values (src/retrieval/query-vector.ts); never with `embedding`. */
  embeddingBase64?: string | null;
  /** Weight of the vector side in HYBRID fusion, 0..1. */
  hybridWeight?: number | null;
  minScore?: number | null;
  filter?: RetrieveFilter | null;
  /** Also return the plan of the vector query (EXPLAIN ANALYZE, BUFFERS); for admin tools. */
  explain?: boolean;
}

export interface RetrievedChunkView extends ChunkHit {
  similarity: number;
  score: number;
  sourceType: 'document' | 'ticket';
}

export interface RetrieveResult {
  chunks: RetrievedChunkView[];
  strategy: string;
  tookMs: number;
  timings: { embedMs: number; searchMs: number };
  plan: string[] | null;
  /** Where the vector side's approximate settings came from; null without a vector side. */
  settings: SettingsSource | null;
}

/** What a retrieval's transaction found: no active corpus, a stale model (embed again), or the two sides. */
type Found =
  | 'no-corpus'
  | 'stale'
  | {
      vectorSide: SearchOutcome['vector'];
      keywordSide: SearchOutcome['keyword'];
      explained: { lines: string[]; choice: StrategyExplain } | null;
    };

/**
 * Top-k chunks of the caller's merchant that the caller may read, in one of three modes: VECTOR (cosine distance),
 * KEYWORD (PostgreSQL full-text search, ranked) or HYBRID (both, fused: src/retrieval/fusion.ts).
 *
 * The vector side never comes back short: pgvector's HNSW scan applies WHERE filters after the index scan, so
 * the tutorial's query returns fewer than k rows whenever the filter is selective. A merchant small enough is
 * searched exactly (recall 1.0); a larger one goes through HNSW with iterative scan, and if that still comes back
 * short the exact search runs. docs/RETRIEVAL.md has the details and measurements.
 */
export class RetrievalService {
  /**
   * Each merchant's facts as last read: its active model (to embed before the transaction) and what the search
   * statement is built from (sent ahead, searchAhead). Always read again, and checked, in the transaction.
   */
  private readonly activeModels = new Map<string, MerchantFacts>();

  constructor(
    private readonly embedders: EmbedderRegistry,
    private readonly strategy: SearchStrategy,
    private readonly config: Config,
    private readonly events: ServiceEvents = NO_SERVICE_EVENTS,
    private readonly calibration: CalibrationTrigger = { noteNeedsCalibration: () => undefined },
  ) {}

  async retrieve(session: TenantSession, q: RetrieveQuery): Promise<RetrieveResult> {
    const result = await this.search(session, q);
    this.events.retrieved(q.mode ?? 'hybrid', result.strategy, result.settings);
    return result;
  }

  private async search(session: TenantSession, q: RetrieveQuery): Promise<RetrieveResult> {
    const scope = session.scope;
    const started = performance.now();
    const mode: RetrievalMode = q.mode ?? 'hybrid';
    if (!Number.isInteger(q.k) || q.k < 1 || q.k > MAX_K)
      throw badInput(`k must be between 1 and ${MAX_K}`, { field: 'k' });
    const givenVector = givenEmbedding(q.embedding, q.embeddingBase64);
    const given = givenVector?.values ?? null;
    const text =
      given !== null && q.query.trim() === '' && mode !== 'keyword'
        ? ''
        : assertText('query', q.query, this.config.limits.maxQueryChars);
    const weight = q.hybridWeight ?? DEFAULT_HYBRID_WEIGHT;
    if (!Number.isFinite(weight) || weight < 0 || weight > 1)
      throw badInput('hybridWeight must be between 0 and 1', { field: 'hybridWeight' });
    if (q.minScore !== undefined && q.minScore !== null && !Number.isFinite(q.minScore)) {
      throw badInput('minScore must be a finite number', { field: 'minScore' });
    }
    const filter = normalizeFilter(q.filter);
    const empty = (strategy: string): RetrieveResult => ({
      chunks: [],
      strategy,
      tookMs: performance.now() - started,
      timings: { embedMs: 0, searchMs: 0 },
      plan: null,
      settings: null,
    });
    if (scope.principals.length === 0) return empty(mode);

    // HYBRID fuses two candidate lists; each is longer than k so that fusion can promote items from lower down.
    const pool = mode === 'hybrid' ? Math.min(200, Math.max(4 * q.k, 50)) : q.k;
    const keywordText = mode === 'vector' || text === '' ? null : text;
    // Per model: a retrieval asked again (the facts changed under it) does not call the provider again for one.
    const embeddedBy = new Map<string, ArrayLike<number>>();
    const embedWith = async (m: { embeddingModel: string; dimensions: number }) => {
      const key = `${m.embeddingModel}/${m.dimensions}`;
      let vector = embeddedBy.get(key);
      if (vector === undefined)
        embeddedBy.set(key, (vector = await this.embedQuery(m.embeddingModel, m.dimensions, text)));
      return vector;
    };
    for (let attempt = 1; ; attempt++) {
      // The query is embedded with the model of the merchant's active version as last seen by this process,
      // before the transaction opens (a provider call must not hold the connection). The transaction reads the
      // active version again in its first statement and searches that version only; if the model turned out to be
      // another (first request, or a flip), nothing it searched is used and the query is embedded again.
      const known = this.activeModels.get(scope.merchantId);
      const embedStarted = performance.now();
      const embedded = given !== null ? given : known ? await embedWith(known) : null;
      const embedMs = performance.now() - embedStarted;
      const searchStarted = performance.now();
      const distributed = await session.distributed();
      const prelude = this.strategy.prelude(pool, scope.merchantId, distributed);
      let settings: SettingsSource | null = null;
      const planFor = (facts: MerchantFacts): SearchPlan =>
        this.strategy.plan(
          facts,
          {
            embedding: embedded!,
            corpus: { version: facts.version, dimensions: facts.dimensions },
            k: pool,
            filter,
          },
          mode !== 'keyword',
          keywordText,
          distributed,
        );
      // What the transaction's facts decide before anything is searched: nothing to search, a query embedded with
      // another model than the active one (embed again), or the plan.
      const decide = (rows: Row[]): 'no-corpus' | 'stale' | { facts: MerchantFacts; plan: SearchPlan } => {
        const facts = this.strategy.facts(rows);
        if (facts === null) return 'no-corpus';
        this.activeModels.set(scope.merchantId, facts);
        settings = settingsSource(facts, this.config.retrieval.calibrationRetryMs);
        if (settings !== 'calibration') this.calibration.noteNeedsCalibration(scope.merchantId);
        if (givenVector !== null) validateEmbedding(givenVector.values, facts, givenVector.field);
        else if (known?.embeddingModel !== facts.embeddingModel || known.dimensions !== facts.dimensions)
          return 'stale';
        return { facts, plan: planFor(facts) };
      };
      // One round trip when this process has seen the merchant: the statement its last facts call for goes out with
      // the BEGIN that reads them again, and counts only if the facts read now call for exactly that statement. If
      // they call for another (they changed since), again from them; a third time the usual way.
      const ahead =
        this.config.retrieval.sendAhead &&
        attempt < 3 &&
        known !== undefined &&
        embedded !== null &&
        // A vector that the last facts would refuse is not sent: the facts read in the transaction judge it.
        (givenVector === null || embeddingProblem(givenVector.values, known, givenVector.field) === null) &&
        !q.explain &&
        !distributed
          ? await this.searchAhead(session, prelude, planFor(known), decide)
          : undefined;
      if (ahead === null) continue;
      const outcome: Found =
        ahead ??
        (await session.read(prelude, async (client, rows): Promise<Found> => {
          const decision = decide(rows);
          if (typeof decision === 'string') return decision;
          const { facts, plan } = decision;
          const out = await this.strategy.run(client, scope, plan);
          const explained = q.explain ? await this.strategy.explain(client, scope, facts, plan) : null;
          return { vectorSide: out.vector, keywordSide: out.keyword, explained };
        }));
      if (outcome === 'no-corpus') return empty(mode);
      if (outcome === 'stale' && attempt < 3) continue;
      if (outcome === 'stale') return empty(mode);
      const searchMs = performance.now() - searchStarted;
      const plan = outcome.explained
        ? [`settings: ${JSON.stringify(outcome.explained.choice)}`, ...outcome.explained.lines]
        : null;

      const { vectorSide, keywordSide } = outcome;
      const view = (h: ChunkHit, score: number): RetrievedChunkView => ({
        ...h,
        similarity: 1 - h.distance,
        score,
        sourceType: h.documentId !== null ? 'document' : 'ticket',
      });
      let ranked: RetrievedChunkView[];
      let strategy: string;
      if (mode === 'vector') {
        ranked = vectorSide!.hits.map((h) => view(h, 1 - h.distance));
        strategy = vectorSide!.strategy;
      } else if (mode === 'keyword') {
        ranked = (keywordSide ?? []).map((h) => view(h, h.rank));
        strategy = 'keyword';
      } else {
        ranked = fuse(vectorSide!.hits, keywordSide ?? [], weight).map(({ item, score }) =>
          view(item, score),
        );
        strategy = `hybrid:${vectorSide!.strategy}${keywordSide ? '+keyword' : ''}`;
      }
      const minScore = q.minScore ?? null;
      const chunks = (minScore === null ? ranked : ranked.filter((c) => c.score >= minScore)).slice(0, q.k);
      return {
        chunks,
        strategy,
        tookMs: performance.now() - started,
        timings: { embedMs, searchMs },
        plan,
        settings: mode === 'keyword' ? null : settings,
      };
    }
  }

  /**
   * The search in one round trip (TenantSession.readAhead), built from the facts this process last read. Null when
   * the facts read in the same transaction call for another plan (a flipped version, a new index or calibration):
   * nothing it read is used, and the caller asks again. Undefined when there is no statement to send (a keyword
   * query without terms): the caller goes the usual way.
   */
  private async searchAhead(
    session: TenantSession,
    prelude: string,
    assumed: SearchPlan,
    decide: (rows: Row[]) => 'no-corpus' | 'stale' | { plan: SearchPlan },
  ): Promise<Found | null | undefined> {
    const statement = this.strategy.statement(session.scope, assumed);
    if (statement === null) return undefined;
    const ahead = await session.readAhead(prelude, statement);
    const decision = decide(ahead.preludeRows);
    if (typeof decision === 'string') return decision;
    // The statement is a pure function of the caller's scope and the plan, so the same plan is the same statement.
    // The request's parts (vector, filter) are the same objects in both plans; the facts' parts compare by value.
    if (!isDeepStrictEqual(decision.plan, assumed)) return null;
    if ('error' in ahead) throw ahead.error;
    const out = this.strategy.outcome(decision.plan, ahead.rows);
    return { vectorSide: out.vector, keywordSide: out.keyword, explained: null };
  }

  private async embedQuery(model: string, dimensions: number, text: string): Promise<ArrayLike<number>> {
    const { vectors } = await this.embedders.embed(this.embedders.get(model, dimensions), [text]);
    return vectors[0];
  }
}

function validateEmbedding(vector: ArrayLike<number>, active: MerchantFacts, field: string): void {
  const problem = embeddingProblem(vector, active, field);
  if (problem !== null) throw problem;
}

/** Why a given query vector cannot be searched in this corpus version, or null. */
function embeddingProblem(
  vector: ArrayLike<number>,
  active: MerchantFacts,
  field: string,
): DomainError | null {
  if (vector.length !== active.dimensions) {
    return badInput(
      `${field} has ${vector.length} dimensions; the active model (${active.embeddingModel}) uses ${active.dimensions}`,
      { field },
    );
  }
  // pgvector stores float32: a value can be finite here and infinite there (1e39), or underflow to 0 (1e-50),
  // and huge values overflow the distance computation. Embeddings are small; anything beyond 1e6 is a mistake.
  let norm = 0;
  for (let i = 0; i < vector.length; i++) {
    const f = Math.fround(vector[i]);
    if (!Number.isFinite(f) || Math.abs(f) > 1e6) {
      return badInput(`${field} values must be finite and between -1e6 and 1e6`, { field });
    }
    norm += f * f;
  }
  if (!(norm > 1e-30))
    return badInput(`${field} is (numerically) the zero vector; cosine distance is undefined for it`, {
      field,
    });
  return null;
}

function normalizeFilter(f: RetrieveFilter | null | undefined): ChunkSearchFilter {
  const out: ChunkSearchFilter = {};
  if (!f) return out;
  const ids = (field: string, list: string[] | null | undefined): string[] | undefined => {
    if (list === null || list === undefined) return undefined;
    if (list.length > MAX_FILTER_IDS)
      throw badInput(`filter.${field} holds at most ${MAX_FILTER_IDS} ids`, { field: `filter.${field}` });
    return list.map((id) => assertSourceId(`filter.${field}`, id));
  };
  if (f.sourceType) out.sourceType = f.sourceType;
  if (f.metadata !== undefined && f.metadata !== null)
    out.metadata = normalizeMetadata('filter.metadata', f.metadata);
  out.documentIds = ids('documentIds', f.documentIds);
  out.ticketIds = ids('ticketIds', f.ticketIds);
  if (f.customerId !== undefined && f.customerId !== null)
    out.customerId = assertSourceId('filter.customerId', f.customerId);
  if (f.ticketStatuses !== undefined && f.ticketStatuses !== null) {
    for (const s of f.ticketStatuses) {
      if (!Object.values(TicketStatus).includes(s))
        throw badInput('filter.ticketStatuses has an unknown status', { field: 'filter.ticketStatuses' });
    }
    out.ticketStatuses = [...f.ticketStatuses];
  }
  if (f.category !== undefined && f.category !== null)
    out.category = assertText('filter.category', f.category, 200);
  if (f.updatedSince !== undefined && f.updatedSince !== null) {
    out.updatedSince = assertDate('filter.updatedSince', f.updatedSince);
  }
  for (const key of Object.keys(out) as (keyof ChunkSearchFilter)[])
    if (out[key] === undefined) delete out[key];
  return out;
}
