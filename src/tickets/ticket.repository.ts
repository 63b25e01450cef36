import { type EntityManager } from 'typeorm';
import { type JsonObject } from '../common/graphql-scalars';
import { type ContentAccess } from '../auth/permissions';
import { Ticket, type StoredTicketMessage } from './ticket.entity';
import { type TicketStatus } from './ticket-status';
import { isDistributed } from '../db/distributed';
import { type Upserted, upsertOutcomes, writtenRows } from '../db/write-result';

export interface TicketWrite {
  id: string;
  customerId: string;
  subject: string;
  status: string;
  messages: StoredTicketMessage[];
  contentHash: string;
  metadata: JsonObject;
  acl: string[];
}

export interface TicketListFilter {
  status?: TicketStatus;
  customerId?: string;
  updatedSince?: Date;
}

interface TicketRow {
  merchant_id: string;
  id: string;
  customer_id: string;
  subject: string;
  status: TicketStatus;
  messages: StoredTicketMessage[];
  content_hash: string;
  metadata: JsonObject;
  acl: string[];
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  't.merchant_id, t.id, t.customer_id, t.subject, t.status, t.messages, t.content_hash, t.metadata, t.acl, t.created_at, t.updated_at';

function toEntity(r: TicketRow): Ticket {
  return Object.assign(new Ticket(), {
    merchantId: r.merchant_id,
    id: r.id,
    customerId: r.customer_id,
    subject: r.subject,
    status: r.status,
    messages: r.messages,
    contentHash: r.content_hash,
    metadata: r.metadata,
    acl: r.acl,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

/** What an upsert replaces, and when: a stored row identical to the given one is left alone. */
const UPSERT_SET = `customer_id = EXCLUDED.customer_id, subject = EXCLUDED.subject, status = EXCLUDED.status,
             messages = EXCLUDED.messages, content_hash = EXCLUDED.content_hash, metadata = EXCLUDED.metadata,
             acl = EXCLUDED.acl, updated_at = EXCLUDED.updated_at`;
const UPSERT_CHANGED = `(t.customer_id, t.subject, t.status, t.messages, t.metadata, t.acl) IS DISTINCT FROM
               (EXCLUDED.customer_id, EXCLUDED.subject, EXCLUDED.status, EXCLUDED.messages, EXCLUDED.metadata,
                EXCLUDED.acl)`;

export class TicketRepository {
  /**
   * Inserts or replaces each ticket; an identical one is left untouched (`changed: false`). In the given order. Every
   * row is locked when this returns (ON CONFLICT DO UPDATE locks the rows it leaves alone too). One INSERT for the
   * whole batch, in id order, and one read of the rows it left alone; on Citus one statement per ticket.
   */
  async upsertMany(
    manager: EntityManager,
    merchantId: string,
    tickets: readonly TicketWrite[],
  ): Promise<Upserted<Ticket>[]> {
    if (tickets.length === 0) return [];
    if (await isDistributed(manager)) {
      const out = [];
      for (const t of tickets) out.push(await this.upsertOne(manager, merchantId, t));
      return out;
    }
    const written: (TicketRow & { inserted: boolean })[] = await manager.query(
      `INSERT INTO tickets AS t (merchant_id, id, customer_id, subject, status, messages, content_hash, metadata, acl)
       SELECT $1, g.id, g.customer_id, g.subject, g.status, g.messages, g.content_hash, g.metadata,
              ARRAY(SELECT jsonb_array_elements_text(g.acl))
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::jsonb[], $9::jsonb[])
              AS g (id, customer_id, subject, status, messages, content_hash, metadata, acl)
        ORDER BY g.id
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET ${UPSERT_SET}
         WHERE ${UPSERT_CHANGED}
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [
        merchantId,
        tickets.map((t) => t.id),
        tickets.map((t) => t.customerId),
        tickets.map((t) => t.subject),
        tickets.map((t) => t.status),
        tickets.map((t) => JSON.stringify(t.messages)),
        tickets.map((t) => t.contentHash),
        tickets.map((t) => JSON.stringify(t.metadata)),
        tickets.map((t) => JSON.stringify(t.acl)),
      ],
    );
    return upsertOutcomes(
      tickets.map((t) => t.id),
      written,
      (ids) =>
        manager.query<TicketRow[]>(
          `SELECT ${COLUMNS} FROM tickets t WHERE t.merchant_id = $1 AND t.id = ANY($2::text[])`,
          [merchantId, ids],
        ),
      toEntity,
    );
  }

  private async upsertOne(
    manager: EntityManager,
    merchantId: string,
    t: TicketWrite,
  ): Promise<Upserted<Ticket>> {
    const rows: (TicketRow & { inserted: boolean })[] = await manager.query(
      `INSERT INTO tickets AS t (merchant_id, id, customer_id, subject, status, messages, content_hash, metadata, acl)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9::text[])
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET ${UPSERT_SET}
         WHERE ${UPSERT_CHANGED}
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [
        merchantId,
        t.id,
        t.customerId,
        t.subject,
        t.status,
        JSON.stringify(t.messages),
        t.contentHash,
        JSON.stringify(t.metadata),
        t.acl,
      ],
    );
    if (rows.length > 0) return { row: toEntity(rows[0]), changed: true, created: rows[0].inserted };
    const existing: TicketRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM tickets t WHERE t.merchant_id = $1 AND t.id = $2`,
      [merchantId, t.id],
    );
    return { row: toEntity(existing[0]), changed: false, created: false };
  }

  async update(
    manager: EntityManager,
    merchantId: string,
    id: string,
    change: { acl?: string[]; metadata?: JsonObject; status?: TicketStatus },
  ): Promise<Ticket | null> {
    const rows = writtenRows<TicketRow>(
      await manager.query(
        `UPDATE tickets t
          SET acl = coalesce($3::text[], t.acl), metadata = coalesce($4::jsonb, t.metadata),
              status = coalesce($5, t.status), updated_at = now()
        WHERE t.merchant_id = $1 AND t.id = $2
        RETURNING ${COLUMNS}`,
        [
          merchantId,
          id,
          change.acl ?? null,
          change.metadata === undefined ? null : JSON.stringify(change.metadata),
          change.status ?? null,
        ],
      ),
    );
    return rows[0] ? toEntity(rows[0]) : null;
  }

  async delete(manager: EntityManager, merchantId: string, id: string): Promise<boolean> {
    const rows = writtenRows<unknown>(
      await manager.query(`DELETE FROM tickets WHERE merchant_id = $1 AND id = $2 RETURNING id`, [
        merchantId,
        id,
      ]),
    );
    return rows.length > 0;
  }

  async findVisibleByIds(
    manager: EntityManager,
    access: ContentAccess,
    ids: readonly string[],
  ): Promise<Ticket[]> {
    const rows: TicketRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM tickets t
        WHERE t.merchant_id = $1 AND t.id = ANY($2::text[]) AND ($4 OR t.acl && $3::text[])`,
      [access.scope.merchantId, [...ids], [...access.scope.principals], access.manageAll],
    );
    return rows.map(toEntity);
  }

  /** A customer's tickets the caller may see, most recently updated first. */
  async listForCustomer(
    manager: EntityManager,
    access: ContentAccess,
    customerId: string,
    limit: number,
  ): Promise<Ticket[]> {
    const rows: TicketRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM tickets t
        WHERE t.merchant_id = $1 AND t.customer_id = $2 AND ($4 OR t.acl && $3::text[])
        ORDER BY t.updated_at DESC, t.id
        LIMIT $5`,
      [access.scope.merchantId, customerId, [...access.scope.principals], access.manageAll, limit],
    );
    return rows.map(toEntity);
  }

  /** Keyset pagination by id. Returns up to `limit + 1` rows. */
  async listVisible(
    manager: EntityManager,
    access: ContentAccess,
    page: { after?: string; limit: number },
    filter: TicketListFilter,
  ): Promise<Ticket[]> {
    const params: unknown[] = [access.scope.merchantId, [...access.scope.principals], access.manageAll];
    const clauses = ['t.merchant_id = $1', '($3 OR t.acl && $2::text[])'];
    const add = (sql: (p: string) => string, value: unknown): void => {
      params.push(value);
      clauses.push(sql(`$${params.length}`));
    };
    if (page.after !== undefined) add((p) => `t.id > ${p}`, page.after);
    if (filter.status !== undefined) add((p) => `t.status = ${p}`, filter.status);
    if (filter.customerId !== undefined) add((p) => `t.customer_id = ${p}`, filter.customerId);
    if (filter.updatedSince !== undefined)
      add((p) => `t.updated_at >= ${p}::timestamptz`, filter.updatedSince.toISOString());
    params.push(page.limit + 1);
    const rows: TicketRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM tickets t WHERE ${clauses.join(' AND ')} ORDER BY t.id LIMIT $${params.length}`,
      params,
    );
    return rows.map(toEntity);
  }
}
