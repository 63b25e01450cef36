import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod/v4';
import { distance } from 'fastest-levenshtein';

/*
 * The environment table: each variable is declared once, with its type, range, default and meaning; `--help`, the
 * README check and the misspelling warnings below all read it. loadConfig (config.ts) parses it and applies the
 * rules between variables.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The default model size (text-embedding-3-small); corpus versions may use other sizes. */
export const EMBEDDING_DIMENSIONS = 1536;

/**
 * Vector sizes the gateway accepts. Below 64 no published embedding model (Matryoshka models such as
 * nomic-embed-text-v1.5 shorten to 64 at the least) keeps useful retrieval quality, so a smaller number is a typo.
 * 16,000 is pgvector's limit for the `vector` type. Above 2,000 pgvector builds no HNSW index on `vector`, so a large
 * merchant is served by the exact and quantized scans only (docs/INGESTION.md); models that shorten (the
 * text-embedding-3 family, with the API's `dimensions`) are better used at 2,000 or less.
 */
export const EMBEDDING_DIMENSIONS_RANGE = { min: 64, max: 16_000 } as const;
/** Largest size pgvector indexes with HNSW (`vector`). */
const HNSW_MAX_DIMENSIONS = 2000;

/** Largest size each known OpenAI model returns; ada-002 returns exactly 1536 and cannot be shortened. */
const OPENAI_MODEL_DIMENSIONS: Record<string, { max: number; fixed?: boolean }> = {
  'text-embedding-3-small': { max: 1536 },
  'text-embedding-3-large': { max: 3072 },
  'text-embedding-ada-002': { max: 1536, fixed: true },
};

/** Why `dimensions` cannot be used with `model`, or undefined when it can (config, `reembed` and its mutation). */
export function embeddingDimensionsProblem(model: string, dimensions: number): string | undefined {
  const { min, max } = EMBEDDING_DIMENSIONS_RANGE;
  if (!Number.isInteger(dimensions) || dimensions < min || dimensions > max) {
    return (
      `dimensions must be an integer between ${min} and ${max} (smaller is no real embedding model; ${max} is ` +
      `pgvector's limit; above ${HNSW_MAX_DIMENSIONS} there is no HNSW index)`
    );
  }
  const known = OPENAI_MODEL_DIMENSIONS[model];
  if (known?.fixed && dimensions !== known.max) return `${model} returns exactly ${known.max} dimensions`;
  if (known && dimensions > known.max) return `${model} returns at most ${known.max} dimensions`;
  return undefined;
}

/** Whether an OpenAI-compatible endpoint can be called without OPENAI_API_KEY: only one on this machine. */
export function endpointNeedsKey(baseUrl: string): boolean {
  try {
    const host = new URL(baseUrl).hostname;
    return !['localhost', '127.0.0.1', '[::1]', '::1'].includes(host);
  } catch {
    return true;
  }
}

// ---- field types: each parses one raw variable (trimmed, blank = unset) and says what a bad value must be ----

type Meta = { shownDefault: string; meaning: string; secret?: boolean };
const blankIsUnset = (v: unknown): unknown =>
  typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim()) : v;

function integer(fallback: number, min: number, max: number) {
  const error = `must be an integer between ${min} and ${max}`;
  return z.preprocess(
    blankIsUnset,
    z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error }).default(fallback),
  );
}
const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];
/** true/false (also 1/0, yes/no, on/off); undefined when unset, so the default may depend on other variables. */
function flag() {
  return z.preprocess(
    blankIsUnset,
    z
      .string()
      .optional()
      .transform((v, ctx): boolean | undefined => {
        if (v === undefined) return undefined;
        if (TRUE.includes(v.toLowerCase())) return true;
        if (FALSE.includes(v.toLowerCase())) return false;
        ctx.addIssue({ code: 'custom', message: 'must be true or false' });
        return z.NEVER;
      }),
  );
}
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(
    blankIsUnset,
    z.enum(values, { error: `must be one of ${values.join(', ')}` }).optional(),
  );
}
function text(fallback: string) {
  return z.preprocess(blankIsUnset, z.string().default(fallback));
}
function optionalText() {
  return z.preprocess(blankIsUnset, z.string().optional());
}
function url(schemes: readonly string[], what: string) {
  return z.preprocess(
    blankIsUnset,
    z
      .string()
      .refine((v) => schemes.some((s) => v.startsWith(`${s}://`)), { error: `must be ${what}` })
      .optional(),
  );
}
function list(fallback: string) {
  return text(fallback).transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );
}
function existingFile() {
  return optionalText()
    .transform((v) => (v === undefined ? undefined : path.resolve(v)))
    .refine((v) => v === undefined || fs.existsSync(v), { error: 'names no file that exists' });
}
/** A claim name as issuers write them: `merchant_id`, `tid`, or a namespaced URL such as `https://acme.example/roles`. */
function claimName(fallback: string) {
  return text(fallback).refine((v) => /^[\x21-\x7e]{1,200}$/.test(v), {
    error: 'must be a claim name of printable ASCII without spaces',
  });
}
const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
function roleList(fallback: string) {
  return list(fallback).superRefine((roles, ctx) => {
    if (roles.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one role' });
    for (const r of roles) {
      if (!ROLE_NAME.test(r))
        ctx.addIssue({ code: 'custom', message: `has ${JSON.stringify(r)}, not a role name` });
    }
  });
}
const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

/** Attaches what `--help` and the README show. Integers show their real default, so the two cannot drift. */
function v<S extends z.ZodType>(schema: S, meaning: string, shownDefault?: string, secret = false): S {
  let shown = shownDefault;
  if (shown === undefined) {
    const parsed = schema.safeParse(undefined);
    shown = parsed.success && parsed.data !== undefined ? String(parsed.data) : '-';
  }
  const meta: Meta = { shownDefault: shown, meaning, ...(secret ? { secret } : {}) };
  return schema.meta(meta);
}

/**
 * Every variable the gateway and its tools read. loadConfig reads nothing else, so this list (printed by `--help`,
 * checked against the README) cannot fall behind the code.
 */
const VARIABLES = {
  NODE_ENV: v(oneOf(['development', 'test', 'production']), 'development, test or production', 'development'),
  HOST: v(text('127.0.0.1'), 'address the HTTP server listens on'),
  PORT: v(integer(4000, 0, 65535), 'port the HTTP server listens on (0: any free port)'),
  DATABASE_URL: v(
    url(['postgres', 'postgresql'], 'a postgres:// or postgresql:// URL'),
    'native PostgreSQL, the request connection (srg_gateway in production); unset: embedded PGlite',
    '(embedded)',
    true,
  ),
  MIGRATION_DATABASE_URL: v(
    url(['postgres', 'postgresql'], 'a postgres:// or postgresql:// URL'),
    'the tables owner (srg_owner): migrations and admin jobs',
    'DATABASE_URL',
    true,
  ),
  DB_POOL_SIZE: v(integer(10, 1, 1000), 'native connections per gateway process'),
  DB_STATEMENT_TIMEOUT_MS: v(integer(15000, 0, 3_600_000), 'statement timeout on native connections'),
  DB_CONNECT_TIMEOUT_MS: v(
    integer(5000, 100, 600_000),
    'wait for a native pooled connection before SERVICE_UNAVAILABLE',
  ),
  DB_AUTO_ANALYZE: v(
    flag(),
    'ANALYZE document_chunks after writes when due (autovacuum’s rule)',
    'when no autovacuum will (embedded, or autovacuum off), not in tests',
  ),
  PGLITE_DATA_DIR: v(text('./.data'), 'embedded database directory, or memory://'),
  AUTH_JWT_SECRET: v(
    optionalText().refine((s) => s === undefined || s.length >= 32, {
      error: 'must be at least 32 characters (HS256 needs a key as long as its hash)',
    }),
    'HS256 secret, >= 32 chars',
    '(generated in development)',
    true,
  ),
  AUTH_JWT_PUBLIC_KEY_FILE: v(existingFile(), 'PEM public key: RSA (RS256) or P-256 (ES256)'),
  AUTH_JWKS_FILE: v(existingFile(), 'JSON Web Key Set file (RS256/ES256)'),
  AUTH_JWKS_URL: v(url(['https', 'http'], 'an http(s) URL'), 'JSON Web Key Set URL, fetched and cached'),
  AUTH_JWKS_CACHE_SECONDS: v(integer(600, 10, 86400), 'how long a fetched JWKS is used'),
  AUTH_JWT_ISSUER: v(optionalText(), 'required iss claim'),
  AUTH_JWT_AUDIENCE: v(list(''), 'comma-separated accepted aud values', '-'),
  // A few seconds covers clocks kept by NTP; minutes would keep an expired token alive that long.
  AUTH_CLOCK_SKEW_SECONDS: v(integer(30, 0, 300), 'tolerance for exp/nbf'),
  // Bounded like the skew: it is how long a withdrawn signing key's tokens may still be accepted.
  AUTH_TOKEN_CACHE_SECONDS: v(
    integer(30, 0, 300),
    'how long a verified token is remembered (never past exp); 0 verifies every request',
  ),
  AUTH_CLAIM_MERCHANT_ID: v(claimName('merchant_id'), 'claim holding the merchant id'),
  AUTH_CLAIM_SUBJECT: v(claimName('sub'), 'claim holding the user id'),
  AUTH_CLAIM_ROLES: v(claimName('roles'), 'claim holding the roles (an array)'),
  API_KEY_ADMIN_ROLES: v(roleList('admin'), 'roles that manage partner API keys', 'admin'),
  API_KEY_LAST_USED_INTERVAL_SECONDS: v(
    integer(60, 1, 86400),
    'last_used_at written at most this often per key',
  ),
  TOKEN_OPERATIONS: v(oneOf(['any', 'manifest']), 'any, or manifest: tokens limited to the safelist', 'any'),
  REDIS_URL: v(
    url(['redis', 'rediss'], 'a redis:// or rediss:// URL'),
    'Redis shared by gateway instances: the APQ cache and the rate-limit buckets',
    '(in memory)',
    true,
  ),
  REDIS_KEY_PREFIX: v(text('srg:'), 'prefix of this gateway’s Redis keys'),
  APQ_TTL_SECONDS: v(integer(86400, 1, 365 * 86400), 'lifetime of an APQ entry'),
  APQ_MEMORY_BYTES: v(integer(30 * 1024 * 1024, 1024, 4 * 1024 * 1024 * 1024), 'in-memory APQ cache size'),
  PERSISTED_DOCUMENTS_FILE: v(
    optionalText(),
    'the partner safelist manifest',
    'generated/client/persisted-documents.json',
  ),
  INGEST_ROLES: v(roleList('admin'), 'comma-separated roles allowed to ingest', 'admin'),
  SEED_ON_EMPTY: v(flag(), 'load seeds/ into an empty database', 'true when embedded'),
  WEB_CONCURRENCY: v(integer(1, 1, 64), 'gateway processes sharing the port (native only)'),
  EMBEDDING_PROVIDER: v(oneOf(['local', 'openai']), 'local (offline) or openai (compatible API)', 'local'),
  EMBEDDING_MODEL: v(optionalText(), 'model for new merchants', 'local-hash-v1 / text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: v(
    integer(EMBEDDING_DIMENSIONS, EMBEDDING_DIMENSIONS_RANGE.min, EMBEDDING_DIMENSIONS_RANGE.max),
    `vector size of that model (${EMBEDDING_DIMENSIONS_RANGE.min}-${EMBEDDING_DIMENSIONS_RANGE.max})`,
  ),
  OPENAI_BASE_URL: v(
    url(['https', 'http'], 'an http(s) URL'),
    'OpenAI-compatible endpoint',
    'https://api.openai.com/v1',
  ),
  OPENAI_API_KEY: v(optionalText(), 'key for that endpoint (never logged)', '-', true),
  EMBEDDING_TIMEOUT_MS: v(integer(30000, 100, 600000), 'per embeddings request'),
  EMBEDDING_BATCH_SIZE: v(integer(96, 1, 2048), 'inputs per embeddings request'),
  EMBEDDING_CONCURRENCY: v(integer(4, 1, 64), 'embeddings requests in flight per call'),
  EMBEDDING_MAX_RETRIES: v(integer(4, 0, 20), 'retries of 429/5xx/timeouts, with backoff'),
  EMBEDDING_CACHE_ENTRIES: v(integer(5000, 0, 1_000_000), 'in-memory vector cache size (0: off)'),
  CHUNK_TARGET_TOKENS: v(integer(350, 64, 8000), 'chunk size'),
  CHUNK_OVERLAP_TOKENS: v(integer(40, 0, 4000), 'overlap between chunks'),
  MAX_DOCUMENT_CHARS: v(integer(500000, 1, 50_000_000), 'largest document or ticket accepted'),
  MAX_QUERY_CHARS: v(integer(2000, 1, 100000), 'longest retrieval query accepted'),
  RETRIEVAL_EXACT_SCAN_MAX_ROWS: v(integer(1000, 0, 10_000_000), 'exact search up to this many rows'),
  RETRIEVAL_HNSW_EF_SEARCH: v(integer(200, 1, 1000), 'hnsw.ef_search on a dedicated index'),
  RETRIEVAL_HNSW_CANDIDATES: v(integer(40, 1, 1000), 'HNSW rows before the exact re-sort'),
  RETRIEVAL_HNSW_MAX_SCAN_TUPLES: v(integer(20000, 1, 10_000_000), 'hnsw.max_scan_tuples (iterative scan)'),
  RETRIEVAL_QUANTIZED_RERANK: v(integer(800, 10, 10_000), 'quantized-scan candidates re-ranked exactly'),
  RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: v(
    integer(10000, 1, 1_000_000_000),
    'merchant size that gets its own HNSW index',
  ),
  RETRIEVAL_DEDICATED_INDEX_M: v(integer(32, 4, 100), 'm of those indexes'),
  RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION: v(integer(128, 16, 1000), 'ef_construction of those'),
  RETRIEVAL_DEDICATED_INDEX_TAIL_MIN_ROWS: v(
    integer(2000, 0, 10_000_000),
    'chunks newer than the graph, scanned exactly, before it is rebuilt',
  ),
  RETRIEVAL_DEDICATED_INDEX_TAIL_PERCENT: v(
    integer(20, 0, 10_000),
    '… or this percentage of the chunks it covers, if more',
  ),
  RETRIEVAL_INDEX_BUILD_MEMORY_MB: v(integer(512, 64, 65_536), 'maintenance_work_mem of those builds, MB'),
  RETRIEVAL_INDEX_AUTOBUILD: v(flag(), 'build them in the background', 'true when native'),
  RETRIEVAL_CALIBRATION_SAMPLE: v(
    integer(50, 5, 10_000),
    "merchant's own chunks used as calibration queries",
  ),
  RETRIEVAL_CALIBRATION_BUDGET_MS: v(
    integer(60_000, 100, 3_600_000),
    'time for the settings’ trials, after the exact answers',
  ),
  RETRIEVAL_CALIBRATION_GROWTH_PERCENT: v(integer(20, 1, 10_000), 're-calibrate after this much growth'),
  RETRIEVAL_CALIBRATION_RETRY_MINUTES: v(
    integer(10, 1, 1440),
    'retry a calibration that ran out of budget after this, doubled per attempt',
  ),
  RETRIEVAL_CALIBRATION_AUTO: v(flag(), 'calibrate in the background', 'true when native, not in tests'),
  RETRIEVAL_SEND_AHEAD: v(flag(), "a warm retrieval's three statements in one round trip", 'true'),
  PLAYGROUND: v(
    oneOf(['on', 'admin', 'off']),
    'GraphQL IDE on /playground: on, admin or off',
    'on; off in production',
  ),
  PLAYGROUND_DEV_TOKENS: v(flag(), 'demo tokens in the IDE tabs', 'true; false in production'),
  PLAYGROUND_ASSETS_DIR: v(optionalText(), 'bundled IDE assets', 'dist/playground'),
  LOG_LEVEL: v(oneOf(LOG_LEVELS), LOG_LEVELS.join(', '), 'info (silent in test)'),
  SHUTDOWN_TIMEOUT_MS: v(integer(10000, 0, 600_000), 'wait for in-flight requests on SIGTERM'),
  METRICS_ENABLED: v(flag(), 'serve Prometheus metrics on /metrics', 'true'),
  METRICS_TOKEN: v(
    z.preprocess(blankIsUnset, z.string().min(16, { error: 'must be at least 16 characters' }).optional()),
    'bearer token a scraper sends to /metrics, >= 16 chars',
    '(none: /metrics open outside production, 403 in production)',
    true,
  ),
  METRICS_MAX_OPERATIONS: v(integer(100, 1, 10_000), 'distinct operation names as metric labels'),
  READINESS_TIMEOUT_MS: v(integer(2000, 100, 60_000), '/readyz fails when its checks take longer'),
  // Request limits: docs/SECURITY.md.
  API_MAX_BODY_BYTES: v(
    integer(2 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    'largest request body (PAYLOAD_TOO_LARGE)',
  ),
  GRAPHQL_MAX_OPERATION_CHARS: v(integer(20_000, 100, 1_000_000), 'longest operation (QUERY_TOO_LARGE)'),
  GRAPHQL_MAX_SELECTIONS: v(integer(150, 1, 100_000), 'fields + spreads (TOO_MANY_SELECTIONS)'),
  GRAPHQL_MAX_DEPTH: v(integer(8, 1, 100), 'field depth (QUERY_TOO_DEEP)'),
  GRAPHQL_MAX_ALIASES: v(integer(30, 0, 10_000), 'aliases (TOO_MANY_ALIASES)'),
  GRAPHQL_MAX_COST: v(integer(1_000, 1, 10_000_000), 'static cost (QUERY_TOO_COMPLEX)'),
  GRAPHQL_MAX_BATCH_OPERATIONS: v(integer(0, 0, 100), 'operations per batched request (0: off)'),
  GRAPHQL_INTROSPECTION: v(flag(), 'introspection for everyone: true/false', '(PLAYGROUND mode)'),
  CORS_ORIGINS: v(
    optionalText().transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const origins = raw
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o.length > 0);
      for (const o of origins) {
        if (o !== '*' && !ORIGIN.test(o)) {
          ctx.addIssue({
            code: 'custom',
            message: `CORS_ORIGINS entry ${JSON.stringify(o)} must be an origin like https://app.example.com (no path), or *`,
          });
        }
      }
      return origins;
    }),
    'allowed origins, comma-separated, or *',
    '* outside production',
  ),
  RATE_LIMIT_MERCHANT_PER_MINUTE: v(integer(3_000, 0, 10_000_000), 'per-merchant refill (0: off)'),
  RATE_LIMIT_MERCHANT_BURST: v(integer(300, 1, 10_000_000), 'per-merchant bucket size'),
  RATE_LIMIT_CALLER_PER_MINUTE: v(integer(600, 0, 10_000_000), 'per API key / user refill (0: off)'),
  RATE_LIMIT_CALLER_BURST: v(integer(100, 1, 10_000_000), 'per API key / user bucket size'),
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: v(integer(300, 0, 10_000_000), 'per address without credential'),
  RATE_LIMIT_ANONYMOUS_BURST: v(integer(100, 1, 10_000_000), 'bucket size for those'),
  RATE_LIMIT_REDIS_PREFIX: v(text('srg:rl:'), 'Redis key prefix of those buckets'),
};

export type Env = Record<string, string | undefined>;
export type VariableName = keyof typeof VARIABLES;
export const ENV_SCHEMA = z.object(VARIABLES);
export type Values = z.output<typeof ENV_SCHEMA>;

export function metaOf(name: VariableName): Meta {
  return VARIABLES[name].meta() as Meta;
}

/** Every variable with its default and meaning, in the order `--help` prints them. */
export const CONFIG_VARIABLES: readonly { name: VariableName; default: string; meaning: string }[] = (
  Object.keys(VARIABLES) as VariableName[]
).map((name) => ({ name, default: metaOf(name).shownDefault, meaning: metaOf(name).meaning }));

/** The default `--help` shows for a variable (other commands' help texts quote it rather than repeat it). */
export function configDefault(name: VariableName): string {
  return metaOf(name).shownDefault;
}

// ---- misspelling warnings ----

const KNOWN = new Set<string>(Object.keys(VARIABLES));
/** First words of our variables (`RATE_LIMIT_`, `EMBEDDING_`, ...): an unknown variable starting so is ours. */
const OWN_PREFIXES = [
  ...new Set(
    [...KNOWN].flatMap((name) => {
      const words = name.split('_');
      return words.length > 1
        ? [words.slice(0, words.length > 2 ? 2 : 1).join('_') + '_', `${words[0]}_`]
        : [];
    }),
  ),
].filter((p) => !['NODE_', 'API_', 'MAX_', 'DATABASE_', 'MIGRATION_'].includes(p));

/**
 * Warnings (not errors: the environment holds other programs' variables too) for variables that look like ours but
 * are not: a near miss of a name (`RATE_LIMT_MERCHANT_BURST`, `EMBEDDING_PROVDER`, `database_url`), or an unknown
 * name under one of our prefixes, itself possibly misspelt (`RATE_LIMT_…`, `DB_POOL`).
 */
export function unknownVariableWarnings(env: Env = process.env): string[] {
  return Object.keys(env)
    .filter((name) => !KNOWN.has(name))
    .sort()
    .flatMap((name) => {
      const near = nearestVariable(name);
      const ours =
        near !== undefined ||
        OWN_PREFIXES.some(
          (p) => name.startsWith(p) || (p.length >= 6 && distance(leadingWords(name, p), p) <= 1),
        );
      if (!ours) return [];
      return [
        `${name} is not a variable this gateway reads${near ? ` (did you mean ${near}?)` : ''}; it is ignored`,
      ];
    });
}

/** As many leading words of `name` as `prefix` has, with the trailing underscore. */
function leadingWords(name: string, prefix: string): string {
  const words = prefix.split('_').length - 1;
  return `${name.split('_').slice(0, words).join('_')}_`;
}

function nearestVariable(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (upper !== name && KNOWN.has(upper)) return upper;
  // Short names get one edit (HOME is not a misspelt HOST); longer ones two.
  const allowed = upper.length <= 8 ? 1 : 2;
  let best: { name: string; d: number } | undefined;
  for (const k of KNOWN) {
    const d = distance(k, upper);
    if (d <= allowed && (best === undefined || d < best.d)) best = { name: k, d };
  }
  return best?.name;
}

/** The variable table as `--help` prints it. */
export function describeVariables(): string {
  const width = Math.max(...CONFIG_VARIABLES.map((c) => c.name.length));
  return CONFIG_VARIABLES.map((c) => `  ${c.name.padEnd(width)}  ${c.meaning} [default: ${c.default}]`).join(
    '\n',
  );
}
