import path from 'node:path';
import { projectRoot } from '../common/project-root';

export type Environment = 'development' | 'test' | 'production';
export type EmbeddingProvider = 'local' | 'openai';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** `on`: anyone may open the IDE and introspect; `admin`: the page is served, introspection needs a content-manager role; `off`: no page. */
export type PlaygroundMode = 'on' | 'admin' | 'off';

export interface Config {
  env: Environment;
  host: string;
  port: number;
  /**
   * Native PostgreSQL when set; otherwise the embedded PGlite database. The gateway serves requests over this
   * connection: in production it must be the gateway role (srg_gateway), which row-level security applies to.
   */
  databaseUrl: string | undefined;
  /** Connections per gateway process in the native pool (the embedded database always uses one). */
  dbPoolSize: number;
  /**
   * The table owner (srg_owner): migrations and admin jobs (seed, load, reembed). Defaults to databaseUrl, for a
   * development setup with one owner URL (requests then still enter the gateway role per transaction).
   */
  migrationDatabaseUrl: string | undefined;
  /** PGlite data directory, or `memory://` for a throwaway database. */
  embeddedDataDir: string;
  /** HS256 secret; undefined in development means "generate one and say so". */
  jwtSecret: string | undefined;
  /** Roles (without the `role:` prefix) allowed to ingest and manage documents. */
  ingestRoles: string[];
  /** Load the demo data into an empty database at start. */
  seedOnEmpty: boolean;
  embedding: {
    provider: EmbeddingProvider;
    model: string;
    dimensions: number;
    baseUrl: string;
    apiKey: string | undefined;
    timeoutMs: number;
    /** Inputs per embeddings request. */
    batchSize: number;
    /** Embeddings requests in flight at once per call. */
    concurrency: number;
    maxRetries: number;
    /** In-memory (model, content hash) → vector entries; about 6 KB each at 1536 dimensions. */
    cacheEntries: number;
  };
  chunking: {
    targetTokens: number;
    overlapTokens: number;
  };
  limits: {
    maxDocumentChars: number;
    maxQueryChars: number;
  };
  playground: {
    mode: PlaygroundMode;
    /** Put signed demo tokens (Alice, Bob, Ada) into the page's example tabs; never in production. */
    devTokens: boolean;
    /** Where `npm run build` writes the bundled IDE (see src/playground/build-assets.ts). */
    assetsDir: string;
  };
  retrieval: {
    /** Searched exactly (no ANN index) when the merchant, or the caller's readable candidates, are at most this many; see docs/RETRIEVAL.md. */
    exactScanMaxRows: number;
    /** Candidates the binary-quantization scan passes to the exact re-rank (at least 8× the rows asked for). */
    quantizedRerank: number;
    /** A merchant with at least this many chunks gets a dedicated HNSW index (see src/chunks/merchant-index.service.ts). */
    dedicatedIndexMinRows: number;
    dedicatedIndexM: number;
    dedicatedIndexEfConstruction: number;
    /** Build missing dedicated indexes in the background after writes (off on the embedded database: one session). */
    indexAutoBuild: boolean;
    hnswEfSearch: number;
    /** Rows the HNSW scan yields before the exact re-sort keeps k (at least k). */
    hnswCandidates: number;
    /** pgvector's hnsw.max_scan_tuples for the iterative scan; past it the quantized scan takes over. */
    hnswMaxScanTuples: number;
    /** Per-statement timeout for retrieval and ingestion SQL. */
    statementTimeoutMs: number;
  };
  ops: {
    logLevel: LogLevel;
    /** How long a stopping gateway waits for in-flight requests before cutting them. */
    shutdownTimeoutMs: number;
    metricsEnabled: boolean;
    /** Distinct GraphQL operation names kept as metric labels; later ones are counted as `other`. */
    metricsMaxOperations: number;
    /** /readyz answers 503 when its database checks take longer than this. */
    readinessTimeoutMs: number;
  };
}

/**
 * Every variable the gateway and its tools read, with its default and meaning: `--help` prints this table, and
 * loadConfig refuses to read a variable that is not in it, so the list cannot fall behind the code.
 */
export const CONFIG_VARIABLES: readonly { name: string; default: string; meaning: string }[] = [
  { name: 'NODE_ENV', default: 'development', meaning: 'development, test or production' },
  { name: 'HOST', default: '127.0.0.1', meaning: 'address the HTTP server listens on' },
  { name: 'PORT', default: '4000', meaning: 'port the HTTP server listens on (0: any free port)' },
  {
    name: 'DATABASE_URL',
    default: '(embedded)',
    meaning: 'native PostgreSQL, the request connection (srg_gateway in production); unset: embedded PGlite',
  },
  {
    name: 'MIGRATION_DATABASE_URL',
    default: 'DATABASE_URL',
    meaning: 'the tables owner (srg_owner): migrations and admin jobs',
  },
  { name: 'DB_POOL_SIZE', default: '10', meaning: 'native connections per gateway process' },
  { name: 'DB_STATEMENT_TIMEOUT_MS', default: '15000', meaning: 'statement timeout on native connections' },
  { name: 'PGLITE_DATA_DIR', default: './.data', meaning: 'embedded database directory, or memory://' },
  { name: 'AUTH_JWT_SECRET', default: '(generated in development)', meaning: 'HS256 secret, >= 32 chars' },
  { name: 'INGEST_ROLES', default: 'admin', meaning: 'comma-separated roles allowed to ingest' },
  { name: 'SEED_ON_EMPTY', default: 'true when embedded', meaning: 'load seeds/ into an empty database' },
  { name: 'EMBEDDING_PROVIDER', default: 'local', meaning: 'local (offline) or openai (compatible API)' },
  { name: 'EMBEDDING_MODEL', default: 'local-hash-v1', meaning: 'model for new merchants' },
  { name: 'EMBEDDING_DIMENSIONS', default: '1536', meaning: 'vector size of that model' },
  { name: 'OPENAI_BASE_URL', default: 'https://api.openai.com/v1', meaning: 'OpenAI-compatible endpoint' },
  { name: 'OPENAI_API_KEY', default: '-', meaning: 'key for that endpoint (never logged)' },
  { name: 'EMBEDDING_TIMEOUT_MS', default: '30000', meaning: 'per embeddings request' },
  { name: 'EMBEDDING_BATCH_SIZE', default: '96', meaning: 'inputs per embeddings request' },
  { name: 'EMBEDDING_CONCURRENCY', default: '4', meaning: 'embeddings requests in flight per call' },
  { name: 'EMBEDDING_MAX_RETRIES', default: '4', meaning: 'retries of 429/5xx/timeouts, with backoff' },
  { name: 'EMBEDDING_CACHE_ENTRIES', default: '5000', meaning: 'in-memory vector cache size (0: off)' },
  { name: 'CHUNK_TARGET_TOKENS', default: '350', meaning: 'chunk size' },
  { name: 'CHUNK_OVERLAP_TOKENS', default: '40', meaning: 'overlap between chunks' },
  { name: 'MAX_DOCUMENT_CHARS', default: '500000', meaning: 'largest document or ticket accepted' },
  { name: 'MAX_QUERY_CHARS', default: '2000', meaning: 'longest retrieval query accepted' },
  { name: 'RETRIEVAL_EXACT_SCAN_MAX_ROWS', default: '1000', meaning: 'exact search up to this many rows' },
  { name: 'RETRIEVAL_HNSW_EF_SEARCH', default: '200', meaning: 'hnsw.ef_search on a dedicated index' },
  { name: 'RETRIEVAL_HNSW_CANDIDATES', default: '40', meaning: 'HNSW rows before the exact re-sort' },
  {
    name: 'RETRIEVAL_HNSW_MAX_SCAN_TUPLES',
    default: '20000',
    meaning: 'hnsw.max_scan_tuples (iterative scan)',
  },
  {
    name: 'RETRIEVAL_QUANTIZED_RERANK',
    default: '800',
    meaning: 'quantized-scan candidates re-ranked exactly',
  },
  {
    name: 'RETRIEVAL_DEDICATED_INDEX_MIN_ROWS',
    default: '10000',
    meaning: 'merchant size that gets its own HNSW index',
  },
  { name: 'RETRIEVAL_DEDICATED_INDEX_M', default: '32', meaning: 'm of those indexes' },
  { name: 'RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION', default: '128', meaning: 'ef_construction of those' },
  { name: 'RETRIEVAL_INDEX_AUTOBUILD', default: 'true when native', meaning: 'build them in the background' },
  {
    name: 'PLAYGROUND',
    default: 'on; off in production',
    meaning: 'GraphQL IDE on /playground: on, admin or off',
  },
  {
    name: 'PLAYGROUND_DEV_TOKENS',
    default: 'true; false in production',
    meaning: 'demo tokens in the IDE tabs',
  },
  { name: 'PLAYGROUND_ASSETS_DIR', default: 'dist/playground', meaning: 'bundled IDE assets' },
  { name: 'LOG_LEVEL', default: 'info (silent in test)', meaning: LOG_LEVELS.join(', ') },
  { name: 'SHUTDOWN_TIMEOUT_MS', default: '10000', meaning: 'wait for in-flight requests on SIGTERM' },
  { name: 'METRICS_ENABLED', default: 'true', meaning: 'serve Prometheus metrics on /metrics' },
  { name: 'METRICS_MAX_OPERATIONS', default: '100', meaning: 'distinct operation names as metric labels' },
  { name: 'READINESS_TIMEOUT_MS', default: '2000', meaning: '/readyz fails when its checks take longer' },
];

/** Prefixes of the variables above: an unknown variable with one of them is most likely a typo. */
const OWN_PREFIXES = [
  'DB_',
  'PGLITE_',
  'AUTH_',
  'INGEST_',
  'SEED_',
  'EMBEDDING_',
  'OPENAI_',
  'CHUNK_',
  'RETRIEVAL_',
  'LOG_',
  'SHUTDOWN_',
  'METRICS_',
  'READINESS_',
];
const KNOWN = new Set(CONFIG_VARIABLES.map((v) => v.name));

/** Warnings (not errors: the environment may hold other programs' variables) for likely misspelt variables. */
export function unknownVariableWarnings(env: Env = process.env): string[] {
  return Object.keys(env)
    .filter((name) => !KNOWN.has(name) && OWN_PREFIXES.some((p) => name.startsWith(p)))
    .sort()
    .map((name) => {
      const near = [...KNOWN].find((k) => editDistance(k, name) <= 2);
      return `${name} is not a variable this gateway reads${near ? ` (did you mean ${near}?)` : ''}; it is ignored`;
    });
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The variable table as `--help` prints it. */
export function describeVariables(): string {
  const width = Math.max(...CONFIG_VARIABLES.map((v) => v.name.length));
  return CONFIG_VARIABLES.map((v) => `  ${v.name.padEnd(width)}  ${v.meaning} [default: ${v.default}]`).join(
    '\n',
  );
}

/** The default model size (text-embedding-3-small); corpus versions may use other sizes. */
export const EMBEDDING_DIMENSIONS = 1536;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads and validates the whole configuration at once, so a bad start lists every problem, each by variable name. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    if (!KNOWN.has(name)) throw new Error(`${name} is read but missing from CONFIG_VARIABLES`);
    return env[name];
  };
  const str = (name: string, fallback: string): string => {
    const v = read(name);
    return v === undefined || v.trim() === '' ? fallback : v.trim();
  };
  const optional = (name: string): string | undefined => {
    const v = read(name);
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = optional(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be an integer between ${min} and ${max}`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = optional(name);
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    problems.push(`${name}=${JSON.stringify(raw)} must be true or false`);
    return fallback;
  };
  const oneOf = <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
    const raw = optional(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return raw as T;
  };

  const envName = oneOf<Environment>('NODE_ENV', 'development', ['development', 'test', 'production']);

  const databaseUrl = optional('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const migrationDatabaseUrl = optional('MIGRATION_DATABASE_URL');
  if (migrationDatabaseUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(migrationDatabaseUrl))
      problems.push('MIGRATION_DATABASE_URL must be a postgres:// or postgresql:// URL');
    if (databaseUrl === undefined)
      problems.push('MIGRATION_DATABASE_URL needs DATABASE_URL (the embedded database has one user)');
  }
  const dataDirRaw = str('PGLITE_DATA_DIR', './.data');
  const embeddedDataDir = dataDirRaw.startsWith('memory://') ? dataDirRaw : path.resolve(dataDirRaw);

  const jwtSecret = optional('AUTH_JWT_SECRET');
  if (jwtSecret !== undefined && jwtSecret.length < 32) {
    problems.push('AUTH_JWT_SECRET must be at least 32 characters (HS256 needs a key as long as its hash)');
  }
  if (envName === 'production' && jwtSecret === undefined) {
    problems.push('AUTH_JWT_SECRET is required when NODE_ENV=production');
  }

  const provider = oneOf<EmbeddingProvider>('EMBEDDING_PROVIDER', 'local', ['local', 'openai']);
  const apiKey = optional('OPENAI_API_KEY');
  const dimensions = int('EMBEDDING_DIMENSIONS', EMBEDDING_DIMENSIONS, 1, 16000);
  const baseUrl = str('OPENAI_BASE_URL', 'https://api.openai.com/v1').replace(/\/+$/, '');
  if (provider === 'openai') {
    if (!/^https?:\/\//.test(baseUrl)) problems.push('OPENAI_BASE_URL must be an http(s) URL');
    if (apiKey === undefined && /^https:\/\/api\.openai\.com\b/.test(baseUrl)) {
      problems.push('OPENAI_API_KEY is required with EMBEDDING_PROVIDER=openai and the OpenAI endpoint');
    }
  }

  const targetTokens = int('CHUNK_TARGET_TOKENS', 350, 64, 8000);
  const overlapTokens = int('CHUNK_OVERLAP_TOKENS', 40, 0, 4000);
  if (overlapTokens * 2 >= targetTokens) {
    problems.push('CHUNK_OVERLAP_TOKENS must be less than half of CHUNK_TARGET_TOKENS');
  }

  const ingestRoles = str('INGEST_ROLES', 'admin')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  if (ingestRoles.length === 0) problems.push('INGEST_ROLES must name at least one role');

  // The IDE is a development tool: in production it is off unless asked for, and then only as `admin`, because
  // `on` would answer introspection (the whole schema) for anyone who can reach the port.
  const playgroundMode = oneOf<PlaygroundMode>('PLAYGROUND', envName === 'production' ? 'off' : 'on', [
    'on',
    'admin',
    'off',
  ]);
  if (envName === 'production' && playgroundMode === 'on') {
    problems.push(
      'PLAYGROUND=on is not allowed when NODE_ENV=production: use admin (introspection for content managers only) or off',
    );
  }
  const playgroundDevTokens = bool('PLAYGROUND_DEV_TOKENS', envName !== 'production');
  if (envName === 'production' && playgroundDevTokens) {
    problems.push(
      'PLAYGROUND_DEV_TOKENS must be false when NODE_ENV=production (the page would hand out signed tokens)',
    );
  }

  const config: Config = {
    env: envName,
    host: str('HOST', '127.0.0.1'),
    port: int('PORT', 4000, 0, 65535),
    databaseUrl,
    dbPoolSize: int('DB_POOL_SIZE', 10, 1, 1000),
    migrationDatabaseUrl,
    embeddedDataDir,
    jwtSecret,
    ingestRoles,
    seedOnEmpty: bool('SEED_ON_EMPTY', databaseUrl === undefined && envName !== 'production'),
    embedding: {
      provider,
      model: str('EMBEDDING_MODEL', provider === 'openai' ? 'text-embedding-3-small' : 'local-hash-v1'),
      dimensions,
      baseUrl,
      apiKey,
      timeoutMs: int('EMBEDDING_TIMEOUT_MS', 30000, 100, 600000),
      batchSize: int('EMBEDDING_BATCH_SIZE', 96, 1, 2048),
      concurrency: int('EMBEDDING_CONCURRENCY', 4, 1, 64),
      maxRetries: int('EMBEDDING_MAX_RETRIES', 4, 0, 20),
      cacheEntries: int('EMBEDDING_CACHE_ENTRIES', 5000, 0, 1_000_000),
    },
    chunking: { targetTokens, overlapTokens },
    limits: {
      maxDocumentChars: int('MAX_DOCUMENT_CHARS', 500000, 1, 50_000_000),
      maxQueryChars: int('MAX_QUERY_CHARS', 2000, 1, 100000),
    },
    playground: {
      mode: playgroundMode,
      devTokens: playgroundDevTokens,
      assetsDir: path.resolve(str('PLAYGROUND_ASSETS_DIR', path.join(projectRoot(), 'dist', 'playground'))),
    },
    retrieval: {
      exactScanMaxRows: int('RETRIEVAL_EXACT_SCAN_MAX_ROWS', 1000, 0, 10_000_000),
      quantizedRerank: int('RETRIEVAL_QUANTIZED_RERANK', 800, 10, 10_000),
      dedicatedIndexMinRows: int('RETRIEVAL_DEDICATED_INDEX_MIN_ROWS', 10000, 1, 1_000_000_000),
      dedicatedIndexM: int('RETRIEVAL_DEDICATED_INDEX_M', 32, 4, 100),
      dedicatedIndexEfConstruction: int('RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION', 128, 16, 1000),
      indexAutoBuild: bool('RETRIEVAL_INDEX_AUTOBUILD', databaseUrl !== undefined),
      hnswEfSearch: int('RETRIEVAL_HNSW_EF_SEARCH', 200, 1, 1000),
      hnswCandidates: int('RETRIEVAL_HNSW_CANDIDATES', 40, 1, 1000),
      hnswMaxScanTuples: int('RETRIEVAL_HNSW_MAX_SCAN_TUPLES', 20000, 1, 10_000_000),
      statementTimeoutMs: int('DB_STATEMENT_TIMEOUT_MS', 15000, 0, 3_600_000),
    },
    ops: {
      logLevel: oneOf<LogLevel>('LOG_LEVEL', envName === 'test' ? 'silent' : 'info', LOG_LEVELS),
      shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10000, 0, 600_000),
      metricsEnabled: bool('METRICS_ENABLED', true),
      metricsMaxOperations: int('METRICS_MAX_OPERATIONS', 100, 1, 10_000),
      readinessTimeoutMs: int('READINESS_TIMEOUT_MS', 2000, 100, 60_000),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
