import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type DataSource } from 'typeorm';
import { ErrorCode } from '../common/errors/error-code';
import { type ServiceEvents } from './service-events';

/** Outcome label values: `ok`, a known error code, or `other`; never a string a caller chose. */
const KNOWN_OUTCOMES = new Set<string>([
  'ok',
  'aborted',
  ...Object.values(ErrorCode),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/** Operation label values that are not client-chosen names. */
export const ANONYMOUS_OPERATION = 'anonymous';
export const OTHER_OPERATION = 'other';
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

interface PoolLike {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options?: { max?: number };
}

/**
 * The gateway's Prometheus metrics, in a registry of its own: tests run several gateways in one process, and a
 * gateway must not report another's counts. Label values are bounded: operation names are GraphQL names cut to
 * 64 characters, the first `maxOperations` distinct ones kept and the rest counted as `other`; outcomes come
 * from the fixed set of error codes.
 */
export class GatewayMetrics implements ServiceEvents {
  readonly registry = new Registry();
  private readonly operations = new Set<string>();
  private readonly maxOperations: number;
  private readonly requests: Counter<'operation' | 'outcome'>;
  private readonly duration: Histogram<'operation' | 'outcome'>;
  readonly inFlight: Gauge;
  private readonly retrievals: Counter<'mode' | 'strategy'>;
  private readonly sources: Counter<'kind' | 'result'>;
  private readonly chunks: Counter<'kind' | 'how'>;
  private readonly embeddingCalls: Counter<'model' | 'outcome'>;
  private readonly embeddingSeconds: Histogram<'model'>;
  private readonly embeddedTexts: Counter<'model'>;
  private readonly cacheHits: Counter<'model'>;
  private readonly calibrations: Counter<'path'>;
  private readonly calibrationRecall: Gauge<'reader'>;
  private readonly retrievalSettings: Counter<'source'>;

  constructor(options: { dataSource: DataSource; maxOperations: number; processMetrics?: boolean }) {
    const registers = [this.registry];
    this.maxOperations = options.maxOperations;
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'srg_graphql_requests_total',
      help: 'GraphQL requests by operation name and outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'srg_graphql_request_duration_seconds',
      help: 'Time from receiving a GraphQL request to the end of its response',
      labelNames: ['operation', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'srg_http_requests_in_flight',
      help: 'HTTP requests being served',
      registers,
    });
    this.retrievals = new Counter({
      name: 'srg_retrievals_total',
      help: 'Retrievals by mode and the search strategy chosen (see docs/RETRIEVAL.md)',
      labelNames: ['mode', 'strategy'],
      registers,
    });
    this.sources = new Counter({
      name: 'srg_ingested_sources_total',
      help: 'Documents and tickets written by ingestion: created, updated or unchanged',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.chunks = new Counter({
      name: 'srg_ingested_chunks_total',
      help: 'Chunks written by ingestion: embedded now, reused (vector kept), or deleted',
      labelNames: ['kind', 'how'],
      registers,
    });
    this.embeddingCalls = new Counter({
      name: 'srg_embedding_calls_total',
      help: 'Calls to the embedding provider (each may batch and retry inside)',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.embeddingSeconds = new Histogram({
      name: 'srg_embedding_call_duration_seconds',
      help: 'Duration of calls to the embedding provider',
      labelNames: ['model'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.embeddedTexts = new Counter({
      name: 'srg_embedded_texts_total',
      help: 'Texts sent to the embedding provider',
      labelNames: ['model'],
      registers,
    });
    this.cacheHits = new Counter({
      name: 'srg_embedding_cache_hits_total',
      help: 'Texts answered from the in-memory embedding cache instead of the provider',
      labelNames: ['model'],
      registers,
    });
    this.calibrations = new Counter({
      name: 'srg_retrieval_calibrations_total',
      help: "Retrieval calibrations stored, by the approximate path chosen ('none': answered exactly)",
      labelNames: ['path'],
      registers,
    });
    this.calibrationRecall = new Gauge({
      name: 'srg_retrieval_calibration_recall',
      help: 'recall@10 against exact answers of the setting chosen by the last calibration, per reader',
      labelNames: ['reader'],
      registers,
    });
    this.retrievalSettings = new Counter({
      name: 'srg_retrieval_settings_total',
      help: "Retrievals with a vector side by where its approximate settings came from: the merchant's calibration, a stale one (measured on another graph than the merchant's index now, or a 'none' the time budget caused whose back-off has passed; a re-measure is due), or the defaults (uncalibrated)",
      labelNames: ['source'],
      registers,
    });
    const dataSource = options.dataSource;
    new Gauge({
      name: 'srg_db_pool_connections',
      help: 'Database pool connections: total open, idle, and requests waiting for one; max is the pool size',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = primaryPool(dataSource);
        if (pool === undefined) return;
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
        if (pool.options?.max !== undefined) this.set({ state: 'max' }, pool.options.max);
      },
    });
  }

  /** The label for a client-supplied operation name. */
  operationLabel(name: string | null | undefined): string {
    if (name === null || name === undefined || name === '') return ANONYMOUS_OPERATION;
    if (!GRAPHQL_NAME.test(name)) return OTHER_OPERATION;
    if (this.operations.has(name)) return name;
    if (this.operations.size >= this.maxOperations) return OTHER_OPERATION;
    this.operations.add(name);
    return name;
  }

  requestServed(operation: string, outcome: string, seconds: number): void {
    const labels = { operation, outcome: KNOWN_OUTCOMES.has(outcome) ? outcome : 'other' };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }

  calibrated(path: string, recallFull: number, recallNarrow: number | null): void {
    this.calibrations.inc({ path });
    this.calibrationRecall.set({ reader: 'full' }, recallFull);
    if (recallNarrow !== null) this.calibrationRecall.set({ reader: 'narrow' }, recallNarrow);
  }

  retrieved(mode: string, strategy: string, settings: string | null): void {
    this.retrievals.inc({ mode, strategy });
    if (settings !== null) this.retrievalSettings.inc({ source: settings });
  }

  sourcesWritten(
    kind: 'document' | 'ticket',
    outcomes: Parameters<ServiceEvents['sourcesWritten']>[1],
  ): void {
    for (const o of outcomes) {
      this.sources.inc({ kind, result: o.created ? 'created' : o.unchanged ? 'unchanged' : 'updated' });
      if (o.embeddedChunks > 0) this.chunks.inc({ kind, how: 'embedded' }, o.embeddedChunks);
      if (o.reusedChunks > 0 && !o.unchanged) this.chunks.inc({ kind, how: 'reused' }, o.reusedChunks);
      if (o.deletedChunks > 0) this.chunks.inc({ kind, how: 'deleted' }, o.deletedChunks);
    }
  }

  embeddingCall(model: string, texts: number, seconds: number, ok: boolean): void {
    this.embeddingCalls.inc({ model, outcome: ok ? 'ok' : 'error' });
    this.embeddingSeconds.observe({ model }, seconds);
    if (ok) this.embeddedTexts.inc({ model }, texts);
  }

  embeddingCacheHits(model: string, hits: number): void {
    this.cacheHits.inc({ model }, hits);
  }
}

/** TypeORM's Postgres driver keeps its pg.Pool as `master` (and replicas as `slaves`); not in its public types. */
function primaryPool(dataSource: DataSource): PoolLike | undefined {
  if (!dataSource.isInitialized) return undefined;
  return (dataSource.driver as unknown as { master?: PoolLike }).master;
}
