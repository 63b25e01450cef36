import { type DataSource } from 'typeorm';
import { migrations } from '../../migrations';
import { type Config } from '../config/config';
import { type Embedder } from '../embeddings/embedder';
import { HealthRepository } from './health.repository';

export interface CheckResult {
  ok: boolean;
  [detail: string]: unknown;
}

export interface Readiness {
  ready: boolean;
  checks: { database: CheckResult; migrations: CheckResult; embedder: CheckResult };
}

/**
 * Whether this process should receive traffic: the database answers within the timeout, every migration this
 * build knows is applied (a gateway started against an older schema, or before a migration job finished, must
 * stay out of rotation), and the default embedder is configured. The embedder check does not call the provider:
 * a provider outage breaks ingestion and model-based retrieval on every gateway alike, and taking them all out of
 * rotation would also stop what still works (listing, keyword retrieval, the local embedder).
 */
export class ReadinessCheck {
  private readonly health: HealthRepository;

  constructor(
    dataSource: DataSource,
    private readonly expectedMigrations: readonly string[],
    private readonly embedder: Embedder,
    private readonly config: Config,
  ) {
    this.health = new HealthRepository(dataSource);
  }

  async check(): Promise<Readiness> {
    const started = performance.now();
    let database: CheckResult;
    let migrations: CheckResult;
    try {
      const applied = await withTimeout(this.health.appliedMigrations(), this.config.ops.readinessTimeoutMs);
      database = { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
      const pending = this.expectedMigrations.filter((name) => !applied.includes(name));
      const unknown = applied.filter((name) => !this.expectedMigrations.includes(name));
      migrations = {
        ok: pending.length === 0,
        applied: applied.length,
        pending,
        // Applied by a newer build: fine for this one (migrations are additive), reported for the operator.
        ...(unknown.length > 0 ? { newerThanThisBuild: unknown } : {}),
      };
    } catch (err) {
      database = { ok: false, error: describeFailure(err) };
      migrations = { ok: false, error: 'not checked: the database did not answer' };
    }
    const e = this.config.embedding;
    const embedderProblem =
      this.embedder.dimensions !== e.dimensions
        ? `the embedder returns ${this.embedder.dimensions} dimensions, EMBEDDING_DIMENSIONS is ${e.dimensions}`
        : e.provider === 'openai' && e.apiKey === undefined && /^https:\/\/api\.openai\.com\b/.test(e.baseUrl)
          ? 'OPENAI_API_KEY is not set'
          : undefined;
    const embedder: CheckResult = {
      ok: embedderProblem === undefined,
      provider: e.provider,
      model: this.embedder.model,
      dimensions: this.embedder.dimensions,
      ...(embedderProblem ? { error: embedderProblem } : {}),
    };
    return { ready: database.ok && migrations.ok && embedder.ok, checks: { database, migrations, embedder } };
  }
}

/** The migrations this build ships, by the name TypeORM records for them. */
export function knownMigrationNames(): string[] {
  return migrations.map((M) => new M().name ?? M.name);
}

class CheckTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A short reason for the operator, without connection strings or SQL. */
function describeFailure(err: unknown): string {
  if (err instanceof CheckTimeout) return err.message;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message.split('\n')[0].slice(0, 200) : 'unknown error';
  return code ? `${code}: ${message}` : message;
}
