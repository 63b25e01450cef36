import { fromSql, toSql } from 'pgvector';
import { type EntityManager } from 'typeorm';
import { type JsonObject } from '../common/graphql-scalars';
import { affectedCount } from '../db/write-result';

export type ChunkSource = { kind: 'document'; documentId: string } | { kind: 'ticket'; ticketId: string };

export interface NewChunkRow {
  chunkIndex: number;
  text: string;
  contentHash: string;
  headingPath: string[];
  citation: string;
  embedding: number[];
}

/** What every chunk of one source shares, written alongside each row. */
export interface SharedChunkFields {
  embeddingModel: string;
  metadata: JsonObject;
  acl: readonly string[];
}

export interface ExistingChunk {
  id: string;
  chunkIndex: number;
  contentHash: string;
  citation: string;
  headingPath: string[];
}

export interface SyncResult {
  /** Rows written (new text, or text that moved to another position). */
  inserted: number;
  /** Rows removed because their position now holds other text, or the source got shorter. */
  removed: number;
  /** Rows left untouched: same text, same position, same citation. */
  kept: number;
  /** Content hashes of the source's chunks before the sync. */
  previousHashes: string[];
}

/** Rows per INSERT statement: 100 rows of 12 columns stays far below the 65,535 bind-parameter limit. */
const INSERT_BATCH_ROWS = 100;

function sourceColumn(source: ChunkSource): ['document_id' | 'ticket_id', string] {
  return source.kind === 'document' ? ['document_id', source.documentId] : ['ticket_id', source.ticketId];
}

/**
 * The write model of document_chunks: what ingestion, re-embedding and source edits write and read back to
 * decide what to write. Every method takes the merchant explicitly. Search lives in
 * src/retrieval/search.repository.ts, per-merchant vector indexes in src/vector-index/.
 */
export class ChunkRepository {
  async listSourceChunks(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
  ): Promise<ExistingChunk[]> {
    const [column, id] = sourceColumn(source);
    const rows: {
      id: string;
      chunk_index: number;
      content_hash: string;
      citation: string;
      heading_path: string[];
    }[] = await manager.query(
      `SELECT id::text AS id, chunk_index, content_hash, citation, heading_path FROM document_chunks
          WHERE merchant_id = $1 AND ${column} = $2 AND corpus_version = $3 ORDER BY chunk_index`,
      [merchantId, id, version],
    );
    return rows.map((r) => ({
      id: r.id,
      chunkIndex: r.chunk_index,
      contentHash: r.content_hash,
      citation: r.citation,
      headingPath: r.heading_path,
    }));
  }

  /** The embedding cache in the database: vectors this version already holds for these texts. */
  async findVectorsByHash(
    manager: EntityManager,
    merchantId: string,
    version: { version: number; embeddingModel: string },
    hashes: readonly string[],
  ): Promise<Map<string, number[]>> {
    if (hashes.length === 0) return new Map();
    // The model is checked too: a vector is reused only if it was computed by this version's model.
    const rows: { content_hash: string; e: string }[] = await manager.query(
      `SELECT DISTINCT ON (content_hash) content_hash, embedding::text AS e FROM document_chunks
        WHERE merchant_id = $1 AND corpus_version = $2 AND embedding_model = $3 AND content_hash = ANY($4::text[])`,
      [merchantId, version.version, version.embeddingModel, [...new Set(hashes)]],
    );
    return new Map(rows.map((r) => [r.content_hash, fromSql(r.e) as number[]]));
  }

  /**
   * Makes the source's chunks in `version` equal to `rows`, inside the caller's transaction, writing as little as
   * possible: a row whose position, text and citation are unchanged is not touched (no new tuple, no new HNSW
   * entry); other old rows are deleted and the missing ones inserted with multi-row INSERTs. ACL and metadata of
   * the kept rows are brought up to date in one UPDATE.
   */
  async syncSourceChunks(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
    rows: readonly NewChunkRow[],
    shared: SharedChunkFields,
  ): Promise<SyncResult> {
    const [column, sourceId] = sourceColumn(source);
    const existing = await this.listSourceChunks(manager, merchantId, source, version);
    const wanted = new Map(rows.map((r) => [r.chunkIndex, r]));
    const keep = new Set<number>();
    const remove: string[] = [];
    for (const e of existing) {
      const w = wanted.get(e.chunkIndex);
      const same =
        w !== undefined &&
        w.contentHash === e.contentHash &&
        w.citation === e.citation &&
        w.headingPath.join('\u0000') === e.headingPath.join('\u0000');
      if (same) keep.add(e.chunkIndex);
      else remove.push(e.id);
    }
    if (remove.length > 0) {
      await manager.query(`DELETE FROM document_chunks WHERE merchant_id = $1 AND id = ANY($2::bigint[])`, [
        merchantId,
        remove,
      ]);
    }
    if (keep.size > 0) {
      await manager.query(
        `UPDATE document_chunks SET metadata = $4::jsonb, acl = $5::text[], updated_at = now()
          WHERE merchant_id = $1 AND ${column} = $2 AND corpus_version = $3
            AND (metadata IS DISTINCT FROM $4::jsonb OR acl IS DISTINCT FROM $5::text[])`,
        [merchantId, sourceId, version, JSON.stringify(shared.metadata), shared.acl],
      );
    }
    const toInsert = rows.filter((r) => !keep.has(r.chunkIndex));
    await this.insertChunks(manager, merchantId, source, version, toInsert, shared);
    return {
      inserted: toInsert.length,
      removed: remove.length,
      kept: keep.size,
      previousHashes: existing.map((e) => e.contentHash),
    };
  }

  async insertChunks(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
    rows: readonly NewChunkRow[],
    shared: SharedChunkFields,
  ): Promise<void> {
    const [column, sourceId] = sourceColumn(source);
    for (let start = 0; start < rows.length; start += INSERT_BATCH_ROWS) {
      const batch = rows.slice(start, start + INSERT_BATCH_ROWS);
      const params: unknown[] = [
        merchantId,
        sourceId,
        shared.embeddingModel,
        JSON.stringify(shared.metadata),
        shared.acl,
        version,
      ];
      const values = batch.map((r) => {
        const p = params.length;
        params.push(r.chunkIndex, r.text, r.contentHash, r.headingPath, r.citation, toSql(r.embedding));
        return `($1, $2, $6, $${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}::text[], $${p + 5}, $${p + 6}::vector, $3, $4::jsonb, $5::text[])`;
      });
      await manager.query(
        `INSERT INTO document_chunks
           (merchant_id, ${column}, corpus_version, chunk_index, chunk_text, content_hash, heading_path, citation,
            embedding, embedding_model, metadata, acl)
         VALUES ${values.join(',\n')}`,
        params,
      );
    }
  }

  /**
   * Sources (documents or tickets) whose chunks differ between two versions of a merchant's corpus, in text,
   * position, citation, ACL or metadata, or that exist in only one of them. Empty means `to` mirrors `from`.
   */
  async differingSources(
    manager: EntityManager,
    merchantId: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<ChunkSource[]> {
    const rows: { document_id: string | null; ticket_id: string | null }[] = await manager.query(
      `WITH cols AS (
         SELECT corpus_version AS v, document_id, ticket_id, chunk_index, content_hash, citation, heading_path, acl, metadata
           FROM document_chunks WHERE merchant_id = $1 AND corpus_version IN ($2, $3)
       ), diff AS (
         (SELECT document_id, ticket_id, chunk_index, content_hash, citation, heading_path, acl, metadata FROM cols WHERE v = $2
          EXCEPT ALL
          SELECT document_id, ticket_id, chunk_index, content_hash, citation, heading_path, acl, metadata FROM cols WHERE v = $3)
         UNION ALL
         (SELECT document_id, ticket_id, chunk_index, content_hash, citation, heading_path, acl, metadata FROM cols WHERE v = $3
          EXCEPT ALL
          SELECT document_id, ticket_id, chunk_index, content_hash, citation, heading_path, acl, metadata FROM cols WHERE v = $2)
       )
       SELECT DISTINCT document_id, ticket_id FROM diff ORDER BY document_id NULLS LAST, ticket_id LIMIT $4`,
      [merchantId, from, to, limit],
    );
    return rows.map((r) =>
      r.document_id !== null
        ? { kind: 'document', documentId: r.document_id }
        : { kind: 'ticket', ticketId: r.ticket_id! },
    );
  }

  /** Everything needed to re-create a source's chunks in another version, except the vectors. */
  async readSourceForCopy(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
  ): Promise<{ rows: Omit<NewChunkRow, 'embedding'>[]; metadata: JsonObject; acl: string[] } | null> {
    const [column, id] = sourceColumn(source);
    const rows: {
      chunk_index: number;
      chunk_text: string;
      content_hash: string;
      heading_path: string[];
      citation: string;
      metadata: JsonObject;
      acl: string[];
    }[] = await manager.query(
      `SELECT chunk_index, chunk_text, content_hash, heading_path, citation, metadata, acl FROM document_chunks
        WHERE merchant_id = $1 AND ${column} = $2 AND corpus_version = $3 ORDER BY chunk_index`,
      [merchantId, id, version],
    );
    if (rows.length === 0) return null;
    return {
      rows: rows.map((r) => ({
        chunkIndex: r.chunk_index,
        text: r.chunk_text,
        contentHash: r.content_hash,
        headingPath: r.heading_path,
        citation: r.citation,
      })),
      metadata: rows[0].metadata,
      acl: rows[0].acl,
    };
  }

  async deleteSourceChunks(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
  ): Promise<void> {
    const [column, id] = sourceColumn(source);
    await manager.query(
      `DELETE FROM document_chunks WHERE merchant_id = $1 AND ${column} = $2 AND corpus_version = $3`,
      [merchantId, id, version],
    );
  }

  /** Deletes up to `batch` chunks of a version; returns how many. Old versions are removed in steps like this. */
  async deleteVersionChunks(
    manager: EntityManager,
    merchantId: string,
    version: number,
    batch: number,
  ): Promise<number> {
    const raw: unknown = await manager.query(
      `DELETE FROM document_chunks WHERE id IN (
         SELECT id FROM document_chunks WHERE merchant_id = $1 AND corpus_version = $2 LIMIT $3)
       RETURNING 1`,
      [merchantId, version, batch],
    );
    return affectedCount(raw);
  }

  /** Chunks of a version whose vector has another size or another model than the version's (zero before a flip). */
  async countForeignVectors(
    manager: EntityManager,
    merchantId: string,
    version: { version: number; embeddingModel: string; dimensions: number },
  ): Promise<number> {
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM document_chunks
        WHERE merchant_id = $1 AND corpus_version = $2 AND (vector_dims(embedding) <> $3 OR embedding_model <> $4)`,
      [merchantId, version.version, version.dimensions, version.embeddingModel],
    );
    return Number(rows[0].n);
  }

  /** Locks a document or ticket row for the rest of the transaction; false when it no longer exists. */
  async lockSource(manager: EntityManager, merchantId: string, source: ChunkSource): Promise<boolean> {
    const [table, id] =
      source.kind === 'document' ? ['support_documents', source.documentId] : ['tickets', source.ticketId];
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM ${table} WHERE merchant_id = $1 AND id = $2 FOR UPDATE`,
      [merchantId, id],
    );
    return rows.length > 0;
  }

  /** New ACL and/or metadata on every chunk of a source, in every corpus version, without re-embedding. */
  async updateSourceAccess(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    change: { acl?: readonly string[]; metadata?: JsonObject },
  ): Promise<number> {
    const [column, sourceId] = sourceColumn(source);
    const sets: string[] = [];
    const params: unknown[] = [merchantId, sourceId];
    if (change.acl !== undefined) {
      params.push([...change.acl]);
      sets.push(`acl = $${params.length}::text[]`);
    }
    if (change.metadata !== undefined) {
      params.push(JSON.stringify(change.metadata));
      sets.push(`metadata = $${params.length}::jsonb`);
    }
    if (sets.length === 0) return 0;
    return affectedCount(
      await manager.query(
        `UPDATE document_chunks SET ${sets.join(', ')}, updated_at = now() WHERE merchant_id = $1 AND ${column} = $2`,
        params,
      ),
    );
  }
}
