/** The validated configuration's shape: what loadConfig returns and the rest of the gateway reads. */

export type Environment = 'development' | 'test' | 'production';
export type EmbeddingProvider = 'local' | 'openai';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
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
  /** Gateway processes sharing the port (Node cluster); native PostgreSQL only. */
  webConcurrency: number;
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
    /** `Title › Heading` first in every document chunk (src/chunks/chunking/chunker.ts); measured in docs/EVAL.md. */
    contextHeader: boolean;
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
    /**
     * ANALYZE document_chunks after the gateway's writes when due. 'auto': where nothing else will (the embedded
     * database, or a server whose autovacuum is off for the table), decided at the first write.
     */
    autoAnalyze: boolean | 'auto';
  };
  retrieval: {
    /** Searched exactly (no ANN index) when the merchant, or the caller's readable candidates, are at most this many; see docs/RETRIEVAL.md. */
    exactScanMaxRows: number;
    /** Candidates the binary-quantization scan passes to the exact re-rank (at least 8× the rows asked for). */
    quantizedRerank: number;
    /** A merchant with at least this many chunks gets a dedicated HNSW index (see src/vector-index/merchant-index.service.ts). */
    dedicatedIndexMinRows: number;
    dedicatedIndexM: number;
    dedicatedIndexEfConstruction: number;
    /**
     * A dedicated index covers chunks up to an id fixed when it was built; newer ones (the tail) are scanned
     * exactly. It is rebuilt once the tail holds more than max(tailMinRows, tailPercent% of the covered rows).
     */
    dedicatedIndexTailMinRows: number;
    dedicatedIndexTailPercent: number;
    /** maintenance_work_mem (MB) of a dedicated index build: a graph that does not fit is built far slower. */
    indexBuildMemoryMb: number;
    /** Build missing dedicated indexes in the background after writes (off on the embedded database: one session). */
    indexAutoBuild: boolean;
    hnswEfSearch: number;
    /** Rows the HNSW scan yields before the exact re-sort keeps k (at least k). */
    hnswCandidates: number;
    /** pgvector's hnsw.max_scan_tuples for the iterative scan; past it the quantized scan takes over. */
    hnswMaxScanTuples: number;
    /** Per-statement timeout for retrieval and ingestion SQL. */
    statementTimeoutMs: number;
    /** Calibration (src/retrieval/calibration.service.ts): the merchant's own chunks used as queries. */
    calibrationSample: number;
    /** Time a calibration may take before the merchant is answered exactly instead. */
    calibrationBudgetMs: number;
    /** Re-measure when the merchant's version grew by this many percent since it was measured. */
    calibrationGrowthPercent: number;
    /**
     * A 'none' the budget caused is re-measured this long after it was stored, doubled per attempt in a row that ran
     * out too (at most a day).
     */
    calibrationRetryMs: number;
    /** Calibrate in the background (after writes; on a version that has none) — off on the embedded database. */
    calibrationAuto: boolean;
    /**
     * Send the search statement the merchant's last facts call for with the BEGIN that reads them, and the COMMIT
     * (pg pipeline mode: one round trip; RetrievalService.searchAhead). False: three round trips, always.
     */
    sendAhead: boolean;
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
  /** How long a verified token is remembered, never past its expiry (src/auth/jwt.ts); 0: never. */
  tokenCacheSeconds: number;
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
