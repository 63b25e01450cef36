import path from 'node:path';
import type { z } from 'zod/v4';
import { projectRoot } from '../common/project-root';
import type { Config, EmbeddingProvider, Environment, PlaygroundMode } from './config.types';
import {
  embeddingDimensionsProblem,
  endpointNeedsKey,
  ENV_SCHEMA,
  metaOf,
  type Env,
  type Values,
  type VariableName,
} from './config.variables';

export * from './config.types';
export {
  CONFIG_VARIABLES,
  configDefault,
  describeVariables,
  EMBEDDING_DIMENSIONS,
  EMBEDDING_DIMENSIONS_RANGE,
  embeddingDimensionsProblem,
  endpointNeedsKey,
  unknownVariableWarnings,
  type VariableName,
} from './config.variables';

/*
 * The environment is parsed by one zod schema (VARIABLES below): each variable is declared once, with its type,
 * range, default and meaning, and `--help`, the README check and the misspelling warnings all read that table. What
 * stays hand-written here is our own rules between variables (production needs a key, overlap under half the chunk
 * size, ...), which no schema library knows.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** One line per problem, naming the variable, the value (unless secret) and what it must be. */
function describeIssue(issue: z.core.$ZodIssue, env: Env): string {
  const name = String(issue.path[0]) as VariableName;
  if (issue.message.startsWith(name)) return issue.message;
  if (metaOf(name).secret) return `${name} ${issue.message}`;
  return `${name}=${JSON.stringify((env[name] ?? '').trim())} ${issue.message}`;
}

/**
 * Reads and validates the whole configuration at once, so a bad start lists every problem, each by variable name:
 * first each variable against its type and range (a bad one then counts as unset, so the rules between variables
 * still run), then those rules.
 */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const first = ENV_SCHEMA.safeParse(env);
  let values: Values;
  if (first.success) {
    values = first.data;
  } else {
    problems.push(...first.error.issues.map((issue) => describeIssue(issue, env)));
    const bad = new Set(first.error.issues.map((i) => String(i.path[0])));
    values = ENV_SCHEMA.parse(Object.fromEntries(Object.entries(env).filter(([k]) => !bad.has(k))));
  }
  const e = values;
  const envName: Environment = e.NODE_ENV ?? 'development';
  const production = envName === 'production';
  const databaseUrl = e.DATABASE_URL;

  if (e.WEB_CONCURRENCY > 1 && databaseUrl === undefined) {
    problems.push(
      'WEB_CONCURRENCY above 1 needs DATABASE_URL (the embedded database belongs to one process)',
    );
  }
  if (e.MIGRATION_DATABASE_URL !== undefined && databaseUrl === undefined) {
    problems.push('MIGRATION_DATABASE_URL needs DATABASE_URL (the embedded database has one user)');
  }
  if (
    production &&
    e.AUTH_JWT_SECRET === undefined &&
    e.AUTH_JWT_PUBLIC_KEY_FILE === undefined &&
    e.AUTH_JWKS_FILE === undefined &&
    e.AUTH_JWKS_URL === undefined
  ) {
    problems.push(
      'NODE_ENV=production needs a token verification key: set AUTH_JWT_SECRET (HS256), AUTH_JWT_PUBLIC_KEY_FILE, ' +
        'AUTH_JWKS_FILE or AUTH_JWKS_URL (RS256/ES256); the generated development secret is never used in production',
    );
  }
  const claims = {
    merchantId: e.AUTH_CLAIM_MERCHANT_ID,
    subject: e.AUTH_CLAIM_SUBJECT,
    roles: e.AUTH_CLAIM_ROLES,
  };
  if (new Set(Object.values(claims)).size !== 3) {
    problems.push(
      'AUTH_CLAIM_MERCHANT_ID, AUTH_CLAIM_SUBJECT and AUTH_CLAIM_ROLES must name three different claims',
    );
  }

  const provider: EmbeddingProvider = e.EMBEDDING_PROVIDER ?? 'local';
  const baseUrl = (e.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  const model = e.EMBEDDING_MODEL ?? (provider === 'openai' ? 'text-embedding-3-small' : 'local-hash-v1');
  if (provider === 'openai') {
    // Without a key the first request would fail only after the retries (7 s), reported as "unreachable".
    if (e.OPENAI_API_KEY === undefined && endpointNeedsKey(baseUrl)) {
      problems.push(
        `OPENAI_API_KEY is required with EMBEDDING_PROVIDER=openai (endpoint ${baseUrl}); only an endpoint on ` +
          'localhost/127.0.0.1 may go without one',
      );
    }
    const dims = embeddingDimensionsProblem(model, e.EMBEDDING_DIMENSIONS);
    if (dims !== undefined) problems.push(`EMBEDDING_DIMENSIONS=${e.EMBEDDING_DIMENSIONS}: ${dims}`);
  }
  if (e.CHUNK_OVERLAP_TOKENS * 2 >= e.CHUNK_TARGET_TOKENS) {
    problems.push('CHUNK_OVERLAP_TOKENS must be less than half of CHUNK_TARGET_TOKENS');
  }

  // The IDE is a development tool: in production it is off unless asked for, and then only as `admin`, because
  // `on` would answer introspection (the whole schema) for anyone who can reach the port.
  const playgroundMode: PlaygroundMode = e.PLAYGROUND ?? (production ? 'off' : 'on');
  if (production && playgroundMode === 'on') {
    problems.push(
      'PLAYGROUND=on is not allowed when NODE_ENV=production: use admin (introspection for content managers only) or off',
    );
  }
  const playgroundDevTokens = e.PLAYGROUND_DEV_TOKENS ?? !production;
  if (production && playgroundDevTokens) {
    problems.push(
      'PLAYGROUND_DEV_TOKENS must be false when NODE_ENV=production (the page would hand out signed tokens)',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = e.PGLITE_DATA_DIR;
  const bucket = (perMinute: number, burst: number) => ({ perMinute, burst });
  return {
    env: envName,
    host: e.HOST,
    port: e.PORT,
    databaseUrl,
    dbPoolSize: e.DB_POOL_SIZE,
    migrationDatabaseUrl: e.MIGRATION_DATABASE_URL,
    embeddedDataDir: dataDir.startsWith('memory://') ? dataDir : path.resolve(dataDir),
    jwtSecret: e.AUTH_JWT_SECRET,
    auth: {
      publicKeyFile: e.AUTH_JWT_PUBLIC_KEY_FILE,
      jwksFile: e.AUTH_JWKS_FILE,
      jwksUrl: e.AUTH_JWKS_URL,
      jwksCacheSeconds: e.AUTH_JWKS_CACHE_SECONDS,
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      clockSkewSeconds: e.AUTH_CLOCK_SKEW_SECONDS,
      tokenCacheSeconds: e.AUTH_TOKEN_CACHE_SECONDS,
      claims,
      apiKeyAdminRoles: e.API_KEY_ADMIN_ROLES,
      apiKeyLastUsedIntervalSeconds: e.API_KEY_LAST_USED_INTERVAL_SECONDS,
    },
    persistedQueries: {
      manifestFile: path.resolve(
        e.PERSISTED_DOCUMENTS_FILE ?? path.join(projectRoot(), 'generated/client/persisted-documents.json'),
      ),
      tokenOperations: e.TOKEN_OPERATIONS ?? 'any',
      apqTtlSeconds: e.APQ_TTL_SECONDS,
      apqMemoryBytes: e.APQ_MEMORY_BYTES,
      redisKeyPrefix: e.REDIS_KEY_PREFIX,
    },
    redisUrl: e.REDIS_URL,
    ingestRoles: e.INGEST_ROLES,
    seedOnEmpty: e.SEED_ON_EMPTY ?? (databaseUrl === undefined && !production),
    webConcurrency: e.WEB_CONCURRENCY,
    embedding: {
      provider,
      model,
      dimensions: e.EMBEDDING_DIMENSIONS,
      baseUrl,
      apiKey: e.OPENAI_API_KEY,
      timeoutMs: e.EMBEDDING_TIMEOUT_MS,
      batchSize: e.EMBEDDING_BATCH_SIZE,
      concurrency: e.EMBEDDING_CONCURRENCY,
      maxRetries: e.EMBEDDING_MAX_RETRIES,
      cacheEntries: e.EMBEDDING_CACHE_ENTRIES,
    },
    chunking: {
      targetTokens: e.CHUNK_TARGET_TOKENS,
      overlapTokens: e.CHUNK_OVERLAP_TOKENS,
      contextHeader: true,
    },
    limits: { maxDocumentChars: e.MAX_DOCUMENT_CHARS, maxQueryChars: e.MAX_QUERY_CHARS },
    playground: {
      mode: playgroundMode,
      devTokens: playgroundDevTokens,
      assetsDir: path.resolve(e.PLAYGROUND_ASSETS_DIR ?? path.join(projectRoot(), 'dist', 'playground')),
    },
    api: {
      maxBodyBytes: e.API_MAX_BODY_BYTES,
      maxOperationChars: e.GRAPHQL_MAX_OPERATION_CHARS,
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxSelections: e.GRAPHQL_MAX_SELECTIONS,
      maxCost: e.GRAPHQL_MAX_COST,
      maxBatchOperations: e.GRAPHQL_MAX_BATCH_OPERATIONS,
      introspection: e.GRAPHQL_INTROSPECTION,
      // Development accepts any origin (the playground and local frontends); production only what is listed.
      corsOrigins: e.CORS_ORIGINS ?? (production ? [] : ['*']),
    },
    rateLimit: {
      merchant: bucket(e.RATE_LIMIT_MERCHANT_PER_MINUTE, e.RATE_LIMIT_MERCHANT_BURST),
      caller: bucket(e.RATE_LIMIT_CALLER_PER_MINUTE, e.RATE_LIMIT_CALLER_BURST),
      anonymous: bucket(e.RATE_LIMIT_ANONYMOUS_PER_MINUTE, e.RATE_LIMIT_ANONYMOUS_BURST),
      redisUrl: e.REDIS_URL,
      redisKeyPrefix: e.RATE_LIMIT_REDIS_PREFIX,
    },
    database: {
      connectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
      autoAnalyze: e.DB_AUTO_ANALYZE ?? (envName === 'test' ? false : 'auto'),
    },
    retrieval: {
      exactScanMaxRows: e.RETRIEVAL_EXACT_SCAN_MAX_ROWS,
      quantizedRerank: e.RETRIEVAL_QUANTIZED_RERANK,
      dedicatedIndexMinRows: e.RETRIEVAL_DEDICATED_INDEX_MIN_ROWS,
      dedicatedIndexM: e.RETRIEVAL_DEDICATED_INDEX_M,
      dedicatedIndexEfConstruction: e.RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION,
      dedicatedIndexTailMinRows: e.RETRIEVAL_DEDICATED_INDEX_TAIL_MIN_ROWS,
      dedicatedIndexTailPercent: e.RETRIEVAL_DEDICATED_INDEX_TAIL_PERCENT,
      indexBuildMemoryMb: e.RETRIEVAL_INDEX_BUILD_MEMORY_MB,
      indexAutoBuild: e.RETRIEVAL_INDEX_AUTOBUILD ?? databaseUrl !== undefined,
      hnswEfSearch: e.RETRIEVAL_HNSW_EF_SEARCH,
      hnswCandidates: e.RETRIEVAL_HNSW_CANDIDATES,
      hnswMaxScanTuples: e.RETRIEVAL_HNSW_MAX_SCAN_TUPLES,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      calibrationSample: e.RETRIEVAL_CALIBRATION_SAMPLE,
      calibrationBudgetMs: e.RETRIEVAL_CALIBRATION_BUDGET_MS,
      calibrationGrowthPercent: e.RETRIEVAL_CALIBRATION_GROWTH_PERCENT,
      calibrationRetryMs: e.RETRIEVAL_CALIBRATION_RETRY_MINUTES * 60_000,
      calibrationAuto: e.RETRIEVAL_CALIBRATION_AUTO ?? (databaseUrl !== undefined && envName !== 'test'),
      sendAhead: e.RETRIEVAL_SEND_AHEAD ?? true,
    },
    ops: {
      logLevel: e.LOG_LEVEL ?? (envName === 'test' ? 'silent' : 'info'),
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      metricsEnabled: e.METRICS_ENABLED ?? true,
      metricsToken: e.METRICS_TOKEN,
      metricsMaxOperations: e.METRICS_MAX_OPERATIONS,
      readinessTimeoutMs: e.READINESS_TIMEOUT_MS,
    },
  };
}
