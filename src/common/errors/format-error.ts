import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { DomainError } from './domain-error';
import { ErrorCode } from './error-code';

/** Codes that Apollo Server or type-graphql assign themselves and that describe a caller's mistake. */
const PASS_THROUGH_CODES = new Set<string>([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

export interface FormatErrorOptions {
  /** Unexpected errors are logged here, never sent: their messages can carry SQL or data. */
  onInternalError?: (error: unknown) => void;
}

/**
 * The one place where errors become GraphQL errors. Domain errors keep their code and message; Apollo's own
 * request errors keep theirs; everything else is masked so no SQL, stack or internal detail reaches a caller.
 */
export function createFormatError(options: FormatErrorOptions) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const base = { locations: formatted.locations, path: formatted.path };
    // Errors from the context function (bad credentials) arrive wrapped in a GraphQLError that carries the HTTP status.
    const domain =
      original instanceof DomainError
        ? original
        : original instanceof GraphQLError && original.originalError instanceof DomainError
          ? original.originalError
          : undefined;
    if (domain !== undefined) {
      return {
        ...base,
        message: domain.message,
        extensions: { code: domain.code, ...(domain.details ?? {}) },
      };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && PASS_THROUGH_CODES.has(code)) {
      const extensions: Record<string, unknown> = { code };
      const validationErrors = formatted.extensions?.validationErrors;
      if (Array.isArray(validationErrors)) {
        extensions.validationErrors = validationErrors.map((v: Record<string, unknown>) => ({
          property: v.property,
          constraints: v.constraints,
        }));
      }
      return { ...base, message: clip(formatted.message), extensions };
    }
    // Apollo's own request errors without a code ("provided sha does not match query", "Unsupported persisted
    // query version") carry a 4xx status: the caller's mistake, worded by Apollo, safe to show.
    if (isApolloClientError(error)) {
      return { ...base, message: clip(formatted.message), extensions: { code: ErrorCode.BAD_REQUEST } };
    }
    if (isStatementTimeout(original)) {
      return {
        ...base,
        message:
          'A database statement ran longer than the configured limit and was cancelled; narrow the request',
        extensions: { code: ErrorCode.QUERY_TIMEOUT },
      };
    }
    if (isDatabaseUnavailable(original)) {
      return {
        ...base,
        message: 'The database is unavailable or timed out; retry shortly',
        extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
      };
    }
    options.onInternalError?.(original);
    return {
      ...base,
      message: 'Internal server error',
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/**
 * graphql-js echoes the submitted value in variable coercion messages ("got invalid value [0.1, 0.2, …]"): a
 * 1 MB embedding would come back whole. The start says what was wrong; the rest is the caller's own input.
 */
const MAX_MESSAGE_CHARS = 500;
function clip(message: string): string {
  return message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS)}…`;
}

function isApolloClientError(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.originalError !== undefined || error.path !== undefined) {
    return false;
  }
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** 57014 is query_canceled; PostgreSQL says why in the message (statement timeout vs. a cancel request). */
export function isStatementTimeout(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const withCode = error as Error & { code?: unknown; driverError?: unknown };
  if (withCode.driverError instanceof Error && isStatementTimeout(withCode.driverError)) return true;
  return withCode.code === '57014' && /statement timeout/i.test(error.message);
}

/** SQLSTATE classes and driver errors that mean "not your fault, try again", not a bug. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57014',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
  '53300',
]);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOENT']);

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // When a pooled connection dies between two queries of a transaction (server restart, terminated backend),
  // TypeORM releases the transaction's query runner from the connection's error event; the next query of that
  // transaction then fails with this error instead of the connection error itself.
  if (error instanceof QueryRunnerProviderAlreadyReleasedError) return true;
  const withCode = error as Error & { code?: unknown; driverError?: unknown };
  if (withCode.driverError instanceof Error && isDatabaseUnavailable(withCode.driverError)) return true;
  const code = typeof withCode.code === 'string' ? withCode.code : '';
  if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code)) return true;
  return /timeout exceeded when trying to connect|Connection terminated|connection is closed|Query read timeout|not queryable/i.test(
    error.message,
  );
}
