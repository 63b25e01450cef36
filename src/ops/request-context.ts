import crypto from 'node:crypto';

/**
 * What the gateway knows about the HTTP request being served, filled in as the request goes along. It travels
 * explicitly (res.locals, then the GraphQL context, then the TenantSession), not in an AsyncLocalStorage: on
 * Node 20 one active AsyncLocalStorage turns on promise hooks for every promise of the process, which cost the
 * retrieval hot path 6–7% of the gateway's CPU (docs/benchmarks/setting-ab-request-context-c*.md).
 */
export interface RequestState {
  readonly id: string;
  readonly startedAt: number;
  /** Set by the GraphQL plugin once the operation is known. */
  operation?: string;
  /** `ok` or the first error's `extensions.code`; set by the GraphQL plugin. */
  outcome?: string;
  merchantId?: string;
}

/** The state trackRequests (src/ops/http.ts) gave the response; on every route mounted after it. */
export function requestStateOf(res: { locals: Record<string, unknown> }): RequestState | undefined {
  return res.locals.request as RequestState | undefined;
}

/** What a request's transactions are called in PostgreSQL: `srg:<request id>` (at most 60 of the 63 bytes kept). */
export function applicationNameFor(requestId: string): string {
  return `srg:${requestId}`;
}

/**
 * Names the transaction `manager` is in after the request (transaction-locally: it reverts at COMMIT/ROLLBACK),
 * for a TypeORM transaction a request opens on the owner's connection. A TenantSession's transactions do it in
 * their first query instead, a round trip fewer.
 */
export async function nameTransaction(
  manager: { query(sql: string, parameters: unknown[]): Promise<unknown> },
  requestId: string,
): Promise<void> {
  await manager.query(`SELECT set_config('application_name', $1, true)`, [applicationNameFor(requestId)]);
}

/**
 * Accepts a caller's id when it is short and plain (it ends up in logs and in PostgreSQL's application_name,
 * which keeps 63 bytes of printable ASCII), otherwise makes one.
 */
const ACCEPTED_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,55}$/;

export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && ACCEPTED_ID.test(header) ? header : crypto.randomUUID();
}
