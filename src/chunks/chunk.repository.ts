import { toSql } from 'pgvector';
import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type JsonObject } from '../common/graphql-scalars';

export type ChunkSource = { kind: 'document'; documentId: string } | { kind: 'ticket'; ticketId: string };

export interface NewChunkRow {
  chunkIndex: number;
  text: string;
  contentHash: string;
  headingPath: string[];
  citation: string;
  embedding: number[];
}

export interface ChunkSearchFilter {
  sourceType?: 'document' | 'ticket';
  /** jsonb containment (`metadata @> filter`), bound as one parameter. */
  metadata?: JsonObject;
}

export interface ChunkSearchParams {
  embedding: number[];
  embeddingModel: string;
  k: number;
  filter: ChunkSearchFilter;
}

export interface ChunkHit {
  id: string;
  documentId: string | null;
  ticketId: string | null;
  chunkIndex: number;
  text: string;
  headingPath: string[];
  citation: string;
  metadata: JsonObject;
  distance: number;
}

/** Rows per INSERT statement: 100 rows of 9 columns stays far below the 65,535 bind-parameter limit. */
const INSERT_BATCH_ROWS = 100;

interface HitRow {
  id: string;
  document_id: string | null;
  ticket_id: string | null;
  chunk_index: number;
  chunk_text: string;
  heading_path: string[];
  citation: string;
  metadata: JsonObject;
  distance: number | string;
}

/** All SQL over document_chunks. Every method takes the merchant (or the full tenant scope) explicitly. */
export class ChunkRepository {
  /**
   * Replaces every chunk of one source with `rows`, inside the caller's transaction: the chunks of a source are
   * always one consistent version. Multi-row INSERTs, not one statement per chunk.
   */
  async replaceSourceChunks(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    rows: readonly NewChunkRow[],
    shared: { embeddingModel: string; metadata: JsonObject; acl: readonly string[] },
  ): Promise<{ deleted: number }> {
    const [column, sourceId] =
      source.kind === 'document' ? ['document_id', source.documentId] : ['ticket_id', source.ticketId];
    const deleted: [unknown[], number] = await manager.query(
      `DELETE FROM document_chunks WHERE merchant_id = $1 AND ${column} = $2`,
      [merchantId, sourceId],
    );
    for (let start = 0; start < rows.length; start += INSERT_BATCH_ROWS) {
      const batch = rows.slice(start, start + INSERT_BATCH_ROWS);
      const params: unknown[] = [
        merchantId,
        sourceId,
        shared.embeddingModel,
        JSON.stringify(shared.metadata),
        shared.acl,
      ];
      const values = batch.map((r) => {
        const p = params.length;
        params.push(r.chunkIndex, r.text, r.contentHash, r.headingPath, r.citation, toSql(r.embedding));
        return `($1, $2, $${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}::text[], $${p + 5}, $${p + 6}::vector, $3, $4::jsonb, $5::text[])`;
      });
      await manager.query(
        `INSERT INTO document_chunks
           (merchant_id, ${column}, chunk_index, chunk_text, content_hash, heading_path, citation, embedding,
            embedding_model, metadata, acl)
         VALUES ${values.join(',\n')}`,
        params,
      );
    }
    return { deleted: Array.isArray(deleted) ? Number(deleted[1] ?? 0) : 0 };
  }

  /**
   * How many chunks the merchant has, counted only up to `cap` (an index-only scan of at most cap rows), which is
   * all the strategy choice needs to know.
   */
  async countMerchantChunksUpTo(manager: EntityManager, merchantId: string, cap: number): Promise<number> {
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks WHERE merchant_id = $1 LIMIT $2) capped`,
      [merchantId, cap],
    );
    return Number(rows[0].n);
  }

  /**
   * Exact top-k: distances for every readable candidate of the merchant, then a top-k sort. The MATERIALIZED CTE
   * has no ORDER BY, so the HNSW index cannot be chosen; the merchant btree / ACL GIN indexes drive the scan.
   * Recall is 1.0 by construction.
   */
  async searchExact(manager: EntityManager, scope: TenantScope, p: ChunkSearchParams): Promise<ChunkHit[]> {
    const { where, params } = this.filterSql(scope, p);
    const rows: HitRow[] = await manager.query(
      `WITH candidates AS MATERIALIZED (
         SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
                c.embedding <=> $1::vector AS distance
           FROM document_chunks c
          WHERE ${where}
       )
       SELECT * FROM candidates ORDER BY distance, id LIMIT ${this.limitParam(params, p.k)}`,
      params,
    );
    return rows.map(toHit);
  }

  /**
   * Approximate top-k through the HNSW index with pgvector's iterative scan, so filtered-out candidates make the
   * scan continue instead of coming back short. relaxed_order may return rows slightly out of order: they are
   * re-sorted by exact distance outside. May still return fewer than k rows (max_scan_tuples); the caller falls
   * back to the exact search then.
   */
  async searchHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: { efSearch: number; maxScanTuples: number },
  ): Promise<ChunkHit[]> {
    await manager.query(
      `SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),
              set_config('hnsw.ef_search', $1, true),
              set_config('hnsw.max_scan_tuples', $2, true)`,
      [String(Math.max(tuning.efSearch, p.k)), String(tuning.maxScanTuples)],
    );
    const { where, params } = this.filterSql(scope, p);
    const rows: HitRow[] = await manager.query(
      `WITH nearest AS MATERIALIZED (
         SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
                c.embedding <=> $1::vector AS distance
           FROM document_chunks c
          WHERE ${where}
          ORDER BY c.embedding <=> $1::vector
          LIMIT ${this.limitParam(params, p.k)}
       )
       SELECT * FROM nearest ORDER BY distance, id`,
      params,
    );
    return rows.map(toHit);
  }

  /** The WHERE clause shared by both strategies; every value is a bound parameter, no client text is interpolated. */
  private filterSql(scope: TenantScope, p: ChunkSearchParams): { where: string; params: unknown[] } {
    const params: unknown[] = [toSql(p.embedding), scope.merchantId, [...scope.principals], p.embeddingModel];
    const clauses = ['c.merchant_id = $2', 'c.acl && $3::text[]', 'c.embedding_model = $4'];
    if (p.filter.sourceType === 'document') clauses.push('c.document_id IS NOT NULL');
    if (p.filter.sourceType === 'ticket') clauses.push('c.ticket_id IS NOT NULL');
    if (p.filter.metadata !== undefined && Object.keys(p.filter.metadata).length > 0) {
      params.push(JSON.stringify(p.filter.metadata));
      clauses.push(`c.metadata @> $${params.length}::jsonb`);
    }
    return { where: clauses.join(' AND '), params };
  }

  private limitParam(params: unknown[], k: number): string {
    params.push(k);
    return `$${params.length}`;
  }
}

function toHit(r: HitRow): ChunkHit {
  return {
    id: String(r.id),
    documentId: r.document_id,
    ticketId: r.ticket_id,
    chunkIndex: r.chunk_index,
    text: r.chunk_text,
    headingPath: r.heading_path,
    citation: r.citation,
    metadata: r.metadata,
    distance: Number(r.distance),
  };
}
