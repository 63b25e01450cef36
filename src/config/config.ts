import fs from 'node:fs';
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
  /** HS256 secret; undefined in development (with no other key configured) means "generate one and say so". */
  jwtSecret: string | undefined;
  auth: AuthConfig;
  persistedQueries: PersistedQueriesConfig;
  /** Shared state for several gateway instances (APQ cache); unset means in memory. */
  redisUrl: string | undefined;
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
  /** Request limits and HTTP hardening; docs/SECURITY.md explains each and its error code. */
  api: {
    /** Largest request body, in bytes (413 PAYLOAD_TOO_LARGE above). */
    maxBodyBytes: number;
    /** Longest GraphQL operation text, in characters (QUERY_TOO_LARGE). */
    maxOperationChars: number;
    /** Deepest field nesting, introspection fields excluded (QUERY_TOO_DEEP). */
    maxDepth: number;
    /** Most field selections and fragment spreads in the operation text (TOO_MANY_SELECTIONS). */
    maxSelections: number;
    /** Most aliased fields in one operation (TOO_MANY_ALIASES). */
    maxAliases: number;
    /** Highest static cost of one operation (QUERY_TOO_COMPLEX); see src/limits/query-cost.ts. */
    maxCost: number;
    /** Operations in one batched (array) request; 0 turns batching off (BATCH_NOT_ALLOWED). */
    maxBatchOperations: number;
    /** Set: introspection on or off for everyone. Unset: the PLAYGROUND mode decides (src/playground/). */
    introspection: boolean | undefined;
    /** Origins allowed by CORS: exact origins, or `*` for any; empty means no cross-origin browser access. */
    corsOrigins: string[];
  };
  /** Token buckets: `perMinute` refill, `burst` capacity; 0 per minute turns that bucket off. */
  rateLimit: {
    merchant: { perMinute: number; burst: number };
    /** Per caller: a partner API key when the identity has one, otherwise the token's user. */
    caller: { perMinute: number; burst: number };
    /** Requests without a valid credential, per client IP address. */
    anonymous: { perMinute: number; burst: number };
    /** Shared buckets across gateway instances when set; in memory otherwise. */
    redisUrl: string | undefined;
    redisKeyPrefix: string;
  };
  database: {
    /** How long a request waits for a pooled connection (including opening one) before SERVICE_UNAVAILABLE. */
    connectTimeoutMs: number;
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
    /**
     * Bearer token /metrics requires (METRICS_TOKEN). Without one, /metrics is open outside production and closed
     * (403) in production: operation names, merchants' traffic and error rates are not for the internet.
     */
    metricsToken: string | undefined;
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
  {
    name: 'DB_CONNECT_TIMEOUT_MS',
    default: '5000',
    meaning: 'wait for a native pooled connection before SERVICE_UNAVAILABLE',
  },
  { name: 'PGLITE_DATA_DIR', default: './.data', meaning: 'embedded database directory, or memory://' },
  { name: 'AUTH_JWT_SECRET', default: '(generated in development)', meaning: 'HS256 secret, >= 32 chars' },
  { name: 'AUTH_JWT_PUBLIC_KEY_FILE', default: '-', meaning: 'PEM public key: RSA (RS256) or P-256 (ES256)' },
  { name: 'AUTH_JWKS_FILE', default: '-', meaning: 'JSON Web Key Set file (RS256/ES256)' },
  { name: 'AUTH_JWKS_URL', default: '-', meaning: 'JSON Web Key Set URL, fetched and cached' },
  { name: 'AUTH_JWKS_CACHE_SECONDS', default: '600', meaning: 'how long a fetched JWKS is used' },
  { name: 'AUTH_JWT_ISSUER', default: '-', meaning: 'required iss claim' },
  { name: 'AUTH_JWT_AUDIENCE', default: '-', meaning: 'comma-separated accepted aud values' },
  { name: 'AUTH_CLOCK_SKEW_SECONDS', default: '30', meaning: 'tolerance for exp/nbf' },
  { name: 'AUTH_CLAIM_MERCHANT_ID', default: 'merchant_id', meaning: 'claim holding the merchant id' },
  { name: 'AUTH_CLAIM_SUBJECT', default: 'sub', meaning: 'claim holding the user id' },
  { name: 'AUTH_CLAIM_ROLES', default: 'roles', meaning: 'claim holding the roles (an array)' },
  { name: 'API_KEY_ADMIN_ROLES', default: 'admin', meaning: 'roles that manage partner API keys' },
  {
    name: 'API_KEY_LAST_USED_INTERVAL_SECONDS',
    default: '60',
    meaning: 'last_used_at written at most this often per key',
  },
  { name: 'TOKEN_OPERATIONS', default: 'any', meaning: 'any, or manifest: tokens limited to the safelist' },
  { name: 'REDIS_URL', default: '(in memory)', meaning: 'Redis for the shared APQ cache' },
  { name: 'REDIS_KEY_PREFIX', default: 'srg:', meaning: 'prefix of this gateway’s Redis keys' },
  { name: 'APQ_TTL_SECONDS', default: '86400', meaning: 'lifetime of an APQ entry' },
  { name: 'APQ_MEMORY_BYTES', default: '31457280', meaning: 'in-memory APQ cache size' },
  {
    name: 'PERSISTED_DOCUMENTS_FILE',
    default: 'generated/client/persisted-documents.json',
    meaning: 'the partner safelist manifest',
  },
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
  {
    name: 'METRICS_TOKEN',
    default: '(none: /metrics open outside production, 403 in production)',
    meaning: 'bearer token a scraper sends to /metrics, >= 16 chars',
  },
  { name: 'METRICS_MAX_OPERATIONS', default: '100', meaning: 'distinct operation names as metric labels' },
  { name: 'READINESS_TIMEOUT_MS', default: '2000', meaning: '/readyz fails when its checks take longer' },
  // Request limits: docs/SECURITY.md.
  { name: 'API_MAX_BODY_BYTES', default: '2097152', meaning: 'largest request body (PAYLOAD_TOO_LARGE)' },
  { name: 'GRAPHQL_MAX_OPERATION_CHARS', default: '20000', meaning: 'longest operation (QUERY_TOO_LARGE)' },
  { name: 'GRAPHQL_MAX_SELECTIONS', default: '150', meaning: 'fields + spreads (TOO_MANY_SELECTIONS)' },
  { name: 'GRAPHQL_MAX_DEPTH', default: '8', meaning: 'field depth (QUERY_TOO_DEEP)' },
  { name: 'GRAPHQL_MAX_ALIASES', default: '30', meaning: 'aliases (TOO_MANY_ALIASES)' },
  { name: 'GRAPHQL_MAX_COST', default: '1000', meaning: 'static cost (QUERY_TOO_COMPLEX)' },
  { name: 'GRAPHQL_MAX_BATCH_OPERATIONS', default: '0 (off)', meaning: 'operations per batched request' },
  {
    name: 'GRAPHQL_INTROSPECTION',
    default: '(PLAYGROUND mode)',
    meaning: 'introspection for everyone: true/false',
  },
  {
    name: 'CORS_ORIGINS',
    default: '* outside production',
    meaning: 'allowed origins, comma-separated, or *',
  },
  { name: 'RATE_LIMIT_MERCHANT_PER_MINUTE', default: '3000', meaning: 'per-merchant refill (0: off)' },
  { name: 'RATE_LIMIT_MERCHANT_BURST', default: '300', meaning: 'per-merchant bucket size' },
  { name: 'RATE_LIMIT_CALLER_PER_MINUTE', default: '600', meaning: 'per API key / user refill (0: off)' },
  { name: 'RATE_LIMIT_CALLER_BURST', default: '100', meaning: 'per API key / user bucket size' },
  { name: 'RATE_LIMIT_ANONYMOUS_PER_MINUTE', default: '300', meaning: 'per address without credential' },
  { name: 'RATE_LIMIT_ANONYMOUS_BURST', default: '100', meaning: 'bucket size for those' },
  { name: 'REDIS_URL', default: '-', meaning: 'share rate limits between instances through Redis' },
  { name: 'RATE_LIMIT_REDIS_PREFIX', default: 'srg:rl:', meaning: 'Redis key prefix of those buckets' },
];

/** Prefixes of the variables above: an unknown variable with one of them is most likely a typo. */
const OWN_PREFIXES = [
  'DB_',
  'PGLITE_',
  'AUTH_',
  'API_KEY_',
  'TOKEN_',
  'REDIS_',
  'APQ_',
  'PERSISTED_',
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
  'API_',
  'GRAPHQL_',
  'CORS_',
  'RATE_LIMIT_',
  'REDIS_',
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

export interface AuthConfig {
  /** PEM file with one public key (RSA for RS256, P-256 EC for ES256). */
  publicKeyFile: string | undefined;
  /** A JSON Web Key Set read from a file, or fetched from a URL and cached. */
  jwksFile: string | undefined;
  jwksUrl: string | undefined;
  jwksCacheSeconds: number;
  /** Required `iss` when set. */
  issuer: string | undefined;
  /** The token's `aud` must contain one of these when any are set. */
  audience: string[];
  /** Tolerance for `exp`/`nbf`/`iat` between our clock and the issuer's. */
  clockSkewSeconds: number;
  claims: { merchantId: string; subject: string; roles: string };
  /** Roles (of the caller's own merchant) that may create, list and revoke partner API keys. */
  apiKeyAdminRoles: string[];
  /** How often at most a key's `last_used_at` is written, per key and gateway instance. */
  apiKeyLastUsedIntervalSeconds: number;
}

export interface PersistedQueriesConfig {
  /** The generated manifest of safelisted operations (sha256 id -> text). */
  manifestFile: string;
  /** `any`: staff tokens may run any operation (and register APQ); `manifest`: only safelisted ones, like partners. */
  tokenOperations: 'any' | 'manifest';
  /** Time to live of an APQ entry in the cache. */
  apqTtlSeconds: number;
  /** In-memory APQ cache size in bytes (when REDIS_URL is unset). */
  apqMemoryBytes: number;
  /** Key prefix for the APQ entries in Redis, so several deployments can share one Redis. */
  redisKeyPrefix: string;
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
  const auth = readAuthConfig(problems, { optional, int });
  if (
    envName === 'production' &&
    jwtSecret === undefined &&
    auth.publicKeyFile === undefined &&
    auth.jwksFile === undefined &&
    auth.jwksUrl === undefined
  ) {
    problems.push(
      'NODE_ENV=production needs a token verification key: set AUTH_JWT_SECRET (HS256), AUTH_JWT_PUBLIC_KEY_FILE, ' +
        'AUTH_JWKS_FILE or AUTH_JWKS_URL (RS256/ES256); the generated development secret is never used in production',
    );
  }
  const redisUrl = optional('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push('REDIS_URL must be a redis:// or rediss:// URL');
  }
  const persistedQueries: PersistedQueriesConfig = {
    manifestFile: path.resolve(
      str('PERSISTED_DOCUMENTS_FILE', path.join(projectRoot(), 'generated/client/persisted-documents.json')),
    ),
    tokenOperations: oneOf<'any' | 'manifest'>('TOKEN_OPERATIONS', 'any', ['any', 'manifest']),
    apqTtlSeconds: int('APQ_TTL_SECONDS', 86400, 1, 365 * 86400),
    apqMemoryBytes: int('APQ_MEMORY_BYTES', 30 * 1024 * 1024, 1024, 4 * 1024 * 1024 * 1024),
    redisKeyPrefix: str('REDIS_KEY_PREFIX', 'srg:'),
  };

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
  // Development accepts any origin (the playground and local frontends); production only what is listed.
  const corsOrigins = (): string[] => {
    const raw = optional('CORS_ORIGINS');
    if (raw === undefined) return envName === 'production' ? [] : ['*'];
    const origins = raw
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o.length > 0);
    for (const o of origins) {
      if (o !== '*' && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o)) {
        problems.push(
          `CORS_ORIGINS entry ${JSON.stringify(o)} must be an origin like https://app.example.com (no path), or *`,
        );
      }
    }
    return origins;
  };
  const bucket = (name: string, perMinute: number, burst: number) => ({
    perMinute: int(`RATE_LIMIT_${name}_PER_MINUTE`, perMinute, 0, 10_000_000),
    burst: int(`RATE_LIMIT_${name}_BURST`, burst, 1, 10_000_000),
  });

  const config: Config = {
    env: envName,
    host: str('HOST', '127.0.0.1'),
    port: int('PORT', 4000, 0, 65535),
    databaseUrl,
    dbPoolSize: int('DB_POOL_SIZE', 10, 1, 1000),
    migrationDatabaseUrl,
    embeddedDataDir,
    jwtSecret,
    auth,
    persistedQueries,
    redisUrl,
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
    api: {
      maxBodyBytes: int('API_MAX_BODY_BYTES', 2 * 1024 * 1024, 1024, 512 * 1024 * 1024),
      maxOperationChars: int('GRAPHQL_MAX_OPERATION_CHARS', 20_000, 100, 1_000_000),
      maxDepth: int('GRAPHQL_MAX_DEPTH', 8, 1, 100),
      maxAliases: int('GRAPHQL_MAX_ALIASES', 30, 0, 10_000),
      maxSelections: int('GRAPHQL_MAX_SELECTIONS', 150, 1, 100_000),
      maxCost: int('GRAPHQL_MAX_COST', 1_000, 1, 10_000_000),
      maxBatchOperations: int('GRAPHQL_MAX_BATCH_OPERATIONS', 0, 0, 100),
      introspection:
        optional('GRAPHQL_INTROSPECTION') === undefined ? undefined : bool('GRAPHQL_INTROSPECTION', false),
      corsOrigins: corsOrigins(),
    },
    rateLimit: {
      merchant: bucket('MERCHANT', 3_000, 300),
      caller: bucket('CALLER', 600, 100),
      anonymous: bucket('ANONYMOUS', 300, 100),
      redisUrl,
      redisKeyPrefix: str('RATE_LIMIT_REDIS_PREFIX', 'srg:rl:'),
    },
    database: {
      connectTimeoutMs: int('DB_CONNECT_TIMEOUT_MS', 5000, 100, 600_000),
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
      metricsToken: (() => {
        const token = optional('METRICS_TOKEN');
        if (token !== undefined && token.length < 16)
          problems.push('METRICS_TOKEN must be at least 16 characters');
        return token;
      })(),
      metricsMaxOperations: int('METRICS_MAX_OPERATIONS', 100, 1, 10_000),
      readinessTimeoutMs: int('READINESS_TIMEOUT_MS', 2000, 100, 60_000),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A claim name as issuers write them: `merchant_id`, `tid`, or a namespaced URL such as `https://acme.example/roles`. */
const CLAIM_NAME = /^[\x21-\x7e]{1,200}$/;
const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

function readAuthConfig(
  problems: string[],
  read: {
    optional: (name: string) => string | undefined;
    int: (name: string, fallback: number, min: number, max: number) => number;
  },
): AuthConfig {
  const { optional, int } = read;
  const file = (name: string): string | undefined => {
    const v = optional(name);
    if (v === undefined) return undefined;
    const resolved = path.resolve(v);
    if (!fs.existsSync(resolved)) problems.push(`${name}=${JSON.stringify(v)}: no such file`);
    return resolved;
  };
  const claim = (name: string, fallback: string): string => {
    const v = optional(name) ?? fallback;
    if (!CLAIM_NAME.test(v)) {
      problems.push(`${name}=${JSON.stringify(v)} must be a claim name of printable ASCII without spaces`);
      return fallback;
    }
    return v;
  };
  const roleList = (name: string, fallback: string): string[] => {
    const roles = (optional(name) ?? fallback)
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r.length > 0);
    if (roles.length === 0) problems.push(`${name} must name at least one role`);
    for (const r of roles) {
      if (!ROLE_NAME.test(r)) problems.push(`${name}: ${JSON.stringify(r)} is not a role name`);
    }
    return roles;
  };
  const jwksUrl = optional('AUTH_JWKS_URL');
  if (jwksUrl !== undefined) {
    let ok = false;
    try {
      const u = new URL(jwksUrl);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`AUTH_JWKS_URL=${JSON.stringify(jwksUrl)} must be an http(s) URL`);
  }
  const audience = (optional('AUTH_JWT_AUDIENCE') ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
  const claims = {
    merchantId: claim('AUTH_CLAIM_MERCHANT_ID', 'merchant_id'),
    subject: claim('AUTH_CLAIM_SUBJECT', 'sub'),
    roles: claim('AUTH_CLAIM_ROLES', 'roles'),
  };
  if (new Set(Object.values(claims)).size !== 3) {
    problems.push(
      'AUTH_CLAIM_MERCHANT_ID, AUTH_CLAIM_SUBJECT and AUTH_CLAIM_ROLES must name three different claims',
    );
  }
  return {
    publicKeyFile: file('AUTH_JWT_PUBLIC_KEY_FILE'),
    jwksFile: file('AUTH_JWKS_FILE'),
    jwksUrl,
    jwksCacheSeconds: int('AUTH_JWKS_CACHE_SECONDS', 600, 10, 86400),
    issuer: optional('AUTH_JWT_ISSUER'),
    audience,
    // A few seconds covers clocks kept by NTP; minutes would keep an expired token alive that long.
    clockSkewSeconds: int('AUTH_CLOCK_SKEW_SECONDS', 30, 0, 300),
    claims,
    apiKeyAdminRoles: roleList('API_KEY_ADMIN_ROLES', 'admin'),
    apiKeyLastUsedIntervalSeconds: int('API_KEY_LAST_USED_INTERVAL_SECONDS', 60, 1, 86400),
  };
}
