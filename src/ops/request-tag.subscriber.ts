import { type EntitySubscriberInterface, EventSubscriber, type TransactionStartEvent } from 'typeorm';
import { currentRequest } from './request-context';

/** What a request's transactions are called in PostgreSQL: `srg:<request id>` (at most 60 of the 63 bytes kept). */
export function applicationNameFor(requestId: string): string {
  return `srg:${requestId}`;
}

/**
 * Tags every TypeORM transaction opened while serving a request with the request id, as PostgreSQL's
 * application_name. A caller's own transactions (TenantSession, src/db/session.ts) do not start through TypeORM:
 * they set the same name with `SET LOCAL` in the query that opens them, one round trip fewer.
 *
 * Why application_name: it is the one per-statement label PostgreSQL itself puts in its logs (`%a` in
 * log_line_prefix, and a field of its own in csvlog/jsonlog), in pg_stat_activity (who holds this lock?) and in
 * auto_explain/slow-query lines, without changing any SQL text. `set_config(..., true)` is transaction-local: it
 * reverts at COMMIT/ROLLBACK, so nothing leaks to the next user of a pooled connection — which matters doubly on
 * PGlite, where every request shares one session. Statements outside a transaction (single autocommit reads) keep
 * the pool's name `support-rag-gateway`; every write and every retrieval search runs in a transaction.
 *
 * This one statement is infrastructure rather than data access, so it lives here and not in a repository.
 */
@EventSubscriber() // TypeORM only instantiates listed subscribers that carry the decorator
export class RequestTagSubscriber implements EntitySubscriberInterface {
  async afterTransactionStart(event: TransactionStartEvent): Promise<void> {
    const request = currentRequest();
    if (request === undefined) return;
    await event.queryRunner.query(`SELECT set_config('application_name', $1, true)`, [
      applicationNameFor(request.id),
    ]);
  }
}
