import { type EntityManager } from 'typeorm';
import { type ContentAccess } from '../auth/permissions';
import { type JsonObject } from '../common/graphql-scalars';
import { SupportDocument } from './support-document.entity';
import { isDistributed } from '../db/distributed';
import { type SqlClient } from '../db/sql-client';
import { type Upserted, upsertOutcomes, writtenRows } from '../db/write-result';

export interface DocumentWrite {
  id: string;
  title: string;
  body: string;
  contentHash: string;
  metadata: JsonObject;
  acl: string[];
  /** The chunker signature its chunks are cut with (source-preparation.ts, chunkerSignature). */
  chunkedWith: string;
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

/**
 * The given documents as rows `g` (id, title, content_hash, metadata, acl, chunked_with, i) joined to the stored
 * `d` that matches every one of them exactly ($2–$7 from givenParams; the ACL travels as jsonb, since unnest would
 * flatten a text[][]). What findAllStoredAsGiven and findUnchanged share.
 */
const STORED_AS_GIVEN = `unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[])
           WITH ORDINALITY AS g (id, title, content_hash, metadata, acl, chunked_with, i)
         JOIN support_documents d ON d.merchant_id = $1 AND d.id = g.id
          AND d.title = g.title AND d.content_hash = g.content_hash AND d.metadata = g.metadata
          AND d.acl = ARRAY(SELECT jsonb_array_elements_text(g.acl)) AND d.chunked_with = g.chunked_with`;

function givenParams(merchantId: string, docs: readonly DocumentWrite[]): unknown[] {
  return [
    merchantId,
    docs.map((d) => d.id),
    docs.map((d) => d.title),
    docs.map((d) => d.contentHash),
    docs.map((d) => JSON.stringify(d.metadata)),
    docs.map((d) => JSON.stringify(d.acl)),
    docs.map((d) => d.chunkedWith),
  ];
}

/** What an upsert replaces, and when: a stored row identical to the given one is left alone. */
const UPSERT_SET = `title = EXCLUDED.title, body = EXCLUDED.body, content_hash = EXCLUDED.content_hash,
             metadata = EXCLUDED.metadata, acl = EXCLUDED.acl, updated_at = EXCLUDED.updated_at,
             chunked_with = EXCLUDED.chunked_with`;
const UPSERT_CHANGED = `(d.title, d.body, d.metadata, d.acl) IS DISTINCT FROM
               (EXCLUDED.title, EXCLUDED.body, EXCLUDED.metadata, EXCLUDED.acl)`;

export class DocumentRepository {
  /**
   * Inserts or replaces each document; an identical one is left untouched (`changed: false`, updated_at kept). In
   * the given order. Every row is locked when this returns: ON CONFLICT DO UPDATE locks the rows it leaves alone
   * too. One INSERT for the whole batch, in id order (two batches sharing documents lock them in the same order),
   * and one read of the rows it left alone; on Citus one statement per document (a router query each).
   */
  async upsertMany(
    manager: EntityManager,
    merchantId: string,
    docs: readonly DocumentWrite[],
  ): Promise<Upserted<SupportDocument>[]> {
    if (docs.length === 0) return [];
    if (await isDistributed(manager)) {
      const out = [];
      for (const doc of docs) out.push(await this.upsertOne(manager, merchantId, doc));
      return out;
    }
    const written: (DocumentRow & { inserted: boolean })[] = await manager.query(
      `INSERT INTO support_documents AS d (merchant_id, id, title, body, content_hash, metadata, acl, chunked_with)
       SELECT $1, g.id, g.title, g.body, g.content_hash, g.metadata, ARRAY(SELECT jsonb_array_elements_text(g.acl)),
              g.chunked_with
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[])
              AS g (id, title, body, content_hash, metadata, acl, chunked_with)
        ORDER BY g.id
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET ${UPSERT_SET}
         WHERE ${UPSERT_CHANGED}
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [
        merchantId,
        docs.map((d) => d.id),
        docs.map((d) => d.title),
        docs.map((d) => d.body),
        docs.map((d) => d.contentHash),
        docs.map((d) => JSON.stringify(d.metadata)),
        docs.map((d) => JSON.stringify(d.acl)),
        docs.map((d) => d.chunkedWith),
      ],
    );
    return upsertOutcomes(
      docs.map((d) => d.id),
      written,
      (ids) =>
        manager.query<DocumentRow[]>(
          `SELECT ${COLUMNS} FROM support_documents d WHERE d.merchant_id = $1 AND d.id = ANY($2::text[])`,
          [merchantId, ids],
        ),
      toEntity,
    );
  }

  private async upsertOne(
    manager: EntityManager,
    merchantId: string,
    doc: DocumentWrite,
  ): Promise<Upserted<SupportDocument>> {
    const rows: (DocumentRow & { inserted: boolean })[] = await manager.query(
      `INSERT INTO support_documents AS d (merchant_id, id, title, body, content_hash, metadata, acl, chunked_with)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::text[], $8)
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET ${UPSERT_SET}
         WHERE ${UPSERT_CHANGED}
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [
        merchantId,
        doc.id,
        doc.title,
        doc.body,
        doc.contentHash,
        JSON.stringify(doc.metadata),
        doc.acl,
        doc.chunkedWith,
      ],
    );
    if (rows.length > 0) return { row: toEntity(rows[0]), changed: true, created: rows[0].inserted };
    const existing = await this.findForUpdate(manager, merchantId, doc.id);
    return { row: existing!, changed: false, created: false };
  }

  /**
   * The stored rows of `docs` when EVERY one is stored exactly as given (title and text by content hash, metadata,
   * ACL: what upsert's IS DISTINCT FROM compares; and the chunker signature, which the write must record if it
   * differs), else null: the writer answers a re-ingest whose chunks it found as given from this read instead of
   * a write transaction. One statement for the batch.
   */
  async findAllStoredAsGiven(
    manager: EntityManager,
    merchantId: string,
    docs: readonly DocumentWrite[],
  ): Promise<SupportDocument[] | null> {
    const rows: (DocumentRow & { i: number })[] = await manager.query(
      `SELECT ${COLUMNS}, g.i FROM ${STORED_AS_GIVEN} ORDER BY g.i`,
      givenParams(merchantId, docs),
    );
    return rows.length === docs.length ? rows.map(toEntity) : null;
  }

  /**
   * Records the chunker signature of documents whose row the upsert left alone (same content) but whose chunks the
   * same transaction brought up to date: rows written before `chunked_with` existed, or re-chunked after a chunking
   * change. Rows already so are not touched.
   */
  async markChunkedWith(
    manager: EntityManager,
    merchantId: string,
    ids: readonly string[],
    signature: string,
  ): Promise<void> {
    if (ids.length === 0) return;
    await manager.query(
      `UPDATE support_documents SET chunked_with = $3
        WHERE merchant_id = $1 AND id = ANY($2::text[]) AND chunked_with IS DISTINCT FROM $3`,
      [merchantId, [...ids], signature],
    );
  }

  /**
   * The re-ingest fast path, before any chunking: the stored rows of `docs` with their chunk counts in the active
   * corpus version, when EVERY one is stored exactly as given (title and text by content hash, metadata, ACL, and
   * the chunker signature its chunks were cut with) and no other corpus version is being built (a write would go
   * to that one too); else null. One statement, whatever the batch size.
   */
  async findUnchanged(
    client: SqlClient,
    merchantId: string,
    docs: readonly DocumentWrite[],
  ): Promise<{ row: SupportDocument; chunkCount: number }[] | null> {
    const rows = (await client.query(
      `SELECT ${COLUMNS.replace('d.body, ', '')},
              (SELECT count(*)::int FROM document_chunks c
                WHERE c.merchant_id = $1 AND c.document_id = d.id AND c.corpus_version = v.version) AS chunk_count
         FROM corpus_versions v CROSS JOIN ${STORED_AS_GIVEN}
        WHERE v.merchant_id = $1 AND v.state = 'active'
          AND NOT EXISTS (SELECT 1 FROM corpus_versions b WHERE b.merchant_id = $1 AND b.state = 'building')
        ORDER BY g.i`,
      givenParams(merchantId, docs),
    )) as unknown as (Omit<DocumentRow, 'body'> & { chunk_count: number })[];
    if (rows.length !== docs.length || rows.some((r) => r.chunk_count === 0)) return null;
    // The body is not read back (it may be large and TOASTed): equal content hashes mean it is the given one.
    return rows.map((r, i) => ({ row: toEntity({ ...r, body: docs[i].body }), chunkCount: r.chunk_count }));
  }

  /** What decides whether a document is stored exactly so, for many ids at once (the folder loader's skip). */
  async fingerprints(
    manager: EntityManager,
    merchantId: string,
    ids: readonly string[],
  ): Promise<
    Map<string, { contentHash: string; acl: string[]; metadata: JsonObject; chunkedWith: string | null }>
  > {
    const rows: {
      id: string;
      content_hash: string;
      acl: string[];
      metadata: JsonObject;
      chunked_with: string | null;
    }[] = await manager.query(
      `SELECT id, content_hash, acl, metadata, chunked_with FROM support_documents
        WHERE merchant_id = $1 AND id = ANY($2::text[])`,
      [merchantId, [...ids]],
    );
    return new Map(
      rows.map((r) => [
        r.id,
        { contentHash: r.content_hash, acl: r.acl, metadata: r.metadata, chunkedWith: r.chunked_with },
      ]),
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
