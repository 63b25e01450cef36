/**
 * Every failure a caller can cause has one stable code, returned in `extensions.code`.
 * Clients switch on these strings; never rename one.
 */
export enum ErrorCode {
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  /** An API key (or a token under TOKEN_OPERATIONS=manifest) asked for an operation outside the safelist. */
  OPERATION_NOT_ALLOWED = 'OPERATION_NOT_ALLOWED',
  /** An APQ hash the gateway has not seen: resend with the full query (Apollo's persisted-query link does). */
  PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND',
  EMBEDDING_FAILED = 'EMBEDDING_FAILED',
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}
