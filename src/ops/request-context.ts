import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';

/** What the gateway knows about the HTTP request being served, filled in as the request goes along. */
export interface RequestState {
  readonly id: string;
  readonly startedAt: number;
  /** Set by the GraphQL plugin once the operation is known. */
  operation?: string;
  /** `ok` or the first error's `extensions.code`; set by the GraphQL plugin. */
  outcome?: string;
  merchantId?: string;
}

/**
 * The request id travels with the asynchronous work of a request (resolvers, services, TypeORM), so the database
 * layer can tag its transactions without every service signature carrying it. Only cross-cutting facts live
 * here; tenant scope is still passed explicitly.
 */
const storage = new AsyncLocalStorage<RequestState>();

export function runInRequest<T>(state: RequestState, fn: () => T): T {
  return storage.run(state, fn);
}

export function currentRequest(): RequestState | undefined {
  return storage.getStore();
}

/**
 * Accepts a caller's id when it is short and plain (it ends up in logs and in PostgreSQL's application_name,
 * which keeps 63 bytes of printable ASCII), otherwise makes one.
 */
const ACCEPTED_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,55}$/;

export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && ACCEPTED_ID.test(header) ? header : crypto.randomUUID();
}
