import { ErrorCode } from './error-code';

/** A failure with a caller-facing message and a stable code; anything else is masked as internal. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const badInput = (message: string, details?: Record<string, unknown>): DomainError =>
  new DomainError(ErrorCode.BAD_USER_INPUT, message, details);

export const unauthenticated = (message: string): DomainError =>
  new DomainError(ErrorCode.UNAUTHENTICATED, message);

export const forbidden = (message: string): DomainError => new DomainError(ErrorCode.FORBIDDEN, message);

export const notFound = (message: string): DomainError => new DomainError(ErrorCode.NOT_FOUND, message);
