import { type EntityManager } from 'typeorm';
import { type ContentAccess } from '../auth/permissions';
import { type JsonObject } from '../common/graphql-scalars';
import { SupportDocument } from './support-document.entity';
import { writtenRows } from '../db/write-result';

export interface DocumentWrite {
  id: string;
  title: string;
  body: string;
  contentHash: string;
  metadata: JsonObject;
  acl: string[];
}

export interface DocumentListFilter {
  category?: string;
  updatedSince?: Date;
}

interface DocumentRow {
  merchant_id: string;
  id: string;
  title: string;
  body: string;
  content_hash: string;
  metadata: JsonObject;
  acl: string[];
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  'd.merchant_id, d.id, d.title, d.body, d.content_hash, d.metadata, d.acl, d.created_at, d.updated_at';

function toEntity(r: DocumentRow): SupportDocument {
  return Object.assign(new SupportDocument(), {
    merchantId: r.merchant_id,
    id: r.id,
    title: r.title,
    body: r.body,
    contentHash: r.content_hash,
    metadata: r.metadata,
    acl: r.acl,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

export class DocumentRepository {
  /** Inserts or replaces; an identical document is left untouched (`changed: false`, updated_at kept). */
  async upsert(
    manager: EntityManager,
    merchantId: string,
    doc: DocumentWrite,
  ): Promise<{ row: SupportDocument; changed: boolean; created: boolean }> {
    const rows: (DocumentRow & { inserted: boolean })[] = await manager.query(
      `INSERT INTO support_documents AS d (merchant_id, id, title, body, content_hash, metadata, acl)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::text[])
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET title = EXCLUDED.title, body = EXCLUDED.body, content_hash = EXCLUDED.content_hash,
             metadata = EXCLUDED.metadata, acl = EXCLUDED.acl, updated_at = EXCLUDED.updated_at
         WHERE (d.title, d.body, d.metadata, d.acl) IS DISTINCT FROM
               (EXCLUDED.title, EXCLUDED.body, EXCLUDED.metadata, EXCLUDED.acl)
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [merchantId, doc.id, doc.title, doc.body, doc.contentHash, JSON.stringify(doc.metadata), doc.acl],
    );
    if (rows.length > 0) return { row: toEntity(rows[0]), changed: true, created: rows[0].inserted };
    const existing = await this.findForUpdate(manager, merchantId, doc.id);
    return { row: existing!, changed: false, created: false };
  }

  /**
   * The stored rows of `docs` when EVERY one is stored exactly as given (title and text by content hash, metadata,
   * ACL: what upsert's IS DISTINCT FROM compares), else null: a re-ingest of unchanged documents answers from this
   * one read instead of a write transaction. One statement for the batch; the ACL travels as jsonb (unnest would
   * flatten a text[][]).
   */
  async findAllStoredAsGiven(
    manager: EntityManager,
    merchantId: string,
    docs: readonly DocumentWrite[],
  ): Promise<SupportDocument[] | null> {
    const rows: (DocumentRow & { i: number })[] = await manager.query(
      `SELECT ${COLUMNS}, g.i FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[])
                 WITH ORDINALITY AS g (id, title, content_hash, metadata, acl, i)
         JOIN support_documents d ON d.merchant_id = $1 AND d.id = g.id
        WHERE d.title = g.title AND d.content_hash = g.content_hash AND d.metadata = g.metadata
          AND d.acl = ARRAY(SELECT jsonb_array_elements_text(g.acl))
        ORDER BY g.i`,
      [
        merchantId,
        docs.map((d) => d.id),
        docs.map((d) => d.title),
        docs.map((d) => d.contentHash),
        docs.map((d) => JSON.stringify(d.metadata)),
        docs.map((d) => JSON.stringify(d.acl)),
      ],
    );
    return rows.length === docs.length ? rows.map(toEntity) : null;
  }

  /** What decides whether a document is stored exactly so, for many ids at once (the folder loader's skip). */
  async fingerprints(
    manager: EntityManager,
    merchantId: string,
    ids: readonly string[],
  ): Promise<Map<string, { contentHash: string; acl: string[]; metadata: JsonObject }>> {
    const rows: { id: string; content_hash: string; acl: string[]; metadata: JsonObject }[] =
      await manager.query(
        `SELECT id, content_hash, acl, metadata FROM support_documents WHERE merchant_id = $1 AND id = ANY($2::text[])`,
        [merchantId, [...ids]],
      );
    return new Map(
      rows.map((r) => [r.id, { contentHash: r.content_hash, acl: r.acl, metadata: r.metadata }]),
    );
  }

  async findForUpdate(
    manager: EntityManager,
    merchantId: string,
    id: string,
  ): Promise<SupportDocument | null> {
    const rows: DocumentRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM support_documents d WHERE d.merchant_id = $1 AND d.id = $2 FOR UPDATE`,
      [merchantId, id],
    );
    return rows[0] ? toEntity(rows[0]) : null;
  }

  async updateAccess(
    manager: EntityManager,
    merchantId: string,
    id: string,
    change: { acl?: string[]; metadata?: JsonObject },
  ): Promise<SupportDocument | null> {
    const rows = writtenRows<DocumentRow>(
      await manager.query(
        `UPDATE support_documents d
          SET acl = coalesce($3::text[], d.acl), metadata = coalesce($4::jsonb, d.metadata), updated_at = now()
        WHERE d.merchant_id = $1 AND d.id = $2
        RETURNING ${COLUMNS}`,
        [
          merchantId,
          id,
          change.acl ?? null,
          change.metadata === undefined ? null : JSON.stringify(change.metadata),
        ],
      ),
    );
    return rows[0] ? toEntity(rows[0]) : null;
  }

  async delete(manager: EntityManager, merchantId: string, id: string): Promise<boolean> {
    const rows = writtenRows<{ id: string }>(
      await manager.query(`DELETE FROM support_documents WHERE merchant_id = $1 AND id = $2 RETURNING id`, [
        merchantId,
        id,
      ]),
    );
    return rows.length > 0;
  }

  /** Documents the caller may see, for the given ids (missing or hidden ones are absent). */
  async findVisibleByIds(
    manager: EntityManager,
    access: ContentAccess,
    ids: readonly string[],
  ): Promise<SupportDocument[]> {
    const rows: DocumentRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM support_documents d
        WHERE d.merchant_id = $1 AND d.id = ANY($2::text[]) AND ($4 OR d.acl && $3::text[])`,
      [access.scope.merchantId, [...ids], [...access.scope.principals], access.manageAll],
    );
    return rows.map(toEntity);
  }

  /** Keyset pagination by id: `after` is the last id of the previous page. Returns up to `limit + 1` rows. */
  async listVisible(
    manager: EntityManager,
    access: ContentAccess,
    page: { after?: string; limit: number },
    filter: DocumentListFilter,
  ): Promise<SupportDocument[]> {
    const params: unknown[] = [access.scope.merchantId, [...access.scope.principals], access.manageAll];
    const clauses = ['d.merchant_id = $1', '($3 OR d.acl && $2::text[])'];
    if (page.after !== undefined) {
      params.push(page.after);
      clauses.push(`d.id > $${params.length}`);
    }
    if (filter.category !== undefined) {
      params.push(JSON.stringify({ category: filter.category }));
      clauses.push(`d.metadata @> $${params.length}::jsonb`);
    }
    if (filter.updatedSince !== undefined) {
      params.push(filter.updatedSince.toISOString());
      clauses.push(`d.updated_at >= $${params.length}::timestamptz`);
    }
    params.push(page.limit + 1);
    const rows: DocumentRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM support_documents d WHERE ${clauses.join(' AND ')} ORDER BY d.id LIMIT $${params.length}`,
      params,
    );
    return rows.map(toEntity);
  }
}
