/**
 * Every failure a caller can cause has one stable code, returned in `extensions.code`.
 * Clients switch on these strings; never rename one. docs/SECURITY.md lists them with their HTTP status.
 */
export enum ErrorCode {
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  /** A valid credential for a merchant the gateway has no data for (a typo in the merchant id, or not provisioned). */
  MERCHANT_NOT_PROVISIONED = 'MERCHANT_NOT_PROVISIONED',
  /** An API key (or a token under TOKEN_OPERATIONS=manifest) asked for an operation outside the safelist. */
  OPERATION_NOT_ALLOWED = 'OPERATION_NOT_ALLOWED',
  /** An APQ hash the gateway has not seen: resend with the full query (Apollo's persisted-query link does). */
  PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND',
  EMBEDDING_FAILED = 'EMBEDDING_FAILED',
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
  // Request limits (src/limits/): each limit has its own code so a client can tell which one it hit.
  /** Malformed HTTP request: invalid JSON, a body that is not a GraphQL request. */
  BAD_REQUEST = 'BAD_REQUEST',
  /** POST with a body that is not `application/json`. */
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  /** The request body is larger than API_MAX_BODY_BYTES. */
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  /** The request headers are larger than Node's limit (16 KB), e.g. a giant Authorization header. */
  HEADERS_TOO_LARGE = 'HEADERS_TOO_LARGE',
  /** The operation text is longer than GRAPHQL_MAX_OPERATION_CHARS. */
  QUERY_TOO_LARGE = 'QUERY_TOO_LARGE',
  /** Fields nest deeper than GRAPHQL_MAX_DEPTH. */
  QUERY_TOO_DEEP = 'QUERY_TOO_DEEP',
  /** More field selections and fragment spreads in the operation text than GRAPHQL_MAX_SELECTIONS. */
  TOO_MANY_SELECTIONS = 'TOO_MANY_SELECTIONS',
  /** More aliased fields than GRAPHQL_MAX_ALIASES. */
  TOO_MANY_ALIASES = 'TOO_MANY_ALIASES',
  /** The operation's static cost is above GRAPHQL_MAX_COST. */
  QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX',
  /** An array of operations while batching is off. */
  BATCH_NOT_ALLOWED = 'BATCH_NOT_ALLOWED',
  /** More operations in one batch than GRAPHQL_MAX_BATCH_OPERATIONS. */
  BATCH_TOO_LARGE = 'BATCH_TOO_LARGE',
  /** A rate limit bucket is empty; `extensions.retryAfterSeconds` and the Retry-After header say when to retry. */
  RATE_LIMITED = 'RATE_LIMITED',
  /** A database statement ran longer than DB_STATEMENT_TIMEOUT_MS and was cancelled. */
  QUERY_TIMEOUT = 'QUERY_TIMEOUT',
}
