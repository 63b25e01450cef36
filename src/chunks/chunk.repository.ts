import { fromSql, toSql } from 'pgvector';
import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
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

export interface ChunkSearchFilter {
  sourceType?: 'document' | 'ticket';
  /** jsonb containment (`metadata @> filter`), bound as one parameter. */
  metadata?: JsonObject;
  documentIds?: string[];
  ticketIds?: string[];
  /** Only chunks of this customer's tickets. */
  customerId?: string;
  /** Only chunks of tickets in these states. */
  ticketStatuses?: string[];
  /** metadata.category equals this. */
  category?: string;
  /** The chunk's document or ticket changed at or after this time. */
  updatedSince?: Date;
}

/** The corpus version being read or written, and its vector size (part of the SQL: it selects the HNSW index). */
export interface VersionRef {
  version: number;
  dimensions: number;
}

export interface ChunkSearchParams {
  embedding: number[];
  corpus: VersionRef;
  k: number;
  filter: ChunkSearchFilter;
}

export interface HnswTuning {
  efSearch: number;
  maxScanTuples: number;
  /**
   * Rows taken from the index scan before the exact re-sort keeps k (at least k). With relaxed_order the scan
   * yields rows only roughly by distance and stops at its LIMIT: asking for more than k lets a near row that came
   * out late still make the top k (it mattered most for narrow readers, see docs/RETRIEVAL.md).
   */
  candidates?: number;
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

export interface KeywordHit extends ChunkHit {
  /** ts_rank_cd normalized to 0..1 (rank / (rank + 1)). */
  rank: number;
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

/**
 * The dimension count is written into the SQL (the HNSW index is a partial expression index per dimension
 * count, and the planner only matches it against the same literal expression). It comes from a corpus_versions
 * row, never from a request, and is checked to be a plain integer here.
 */
function dims(corpus: VersionRef): number {
  if (!Number.isInteger(corpus.dimensions) || corpus.dimensions < 1 || corpus.dimensions > 16000) {
    throw new Error(`invalid vector dimension ${String(corpus.dimensions)}`);
  }
  return corpus.dimensions;
}

function sourceColumn(source: ChunkSource): ['document_id' | 'ticket_id', string] {
  return source.kind === 'document' ? ['document_id', source.documentId] : ['ticket_id', source.ticketId];
}

/** All SQL over document_chunks. Every method takes the merchant (or the full tenant scope) explicitly. */
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

  /**
   * The merchant's own HNSW index for vectors of this size: a partial expression index
   * `WHERE merchant_id = <merchant> AND vector_dims(embedding) = N`, built with CREATE INDEX CONCURRENTLY so the
   * merchant (and everyone else) keeps writing meanwhile. `runner` must be a dedicated connection outside any
   * transaction. The index name comes from a sequence and the merchant id is quoted by format(%L): nothing
   * client-chosen becomes an identifier. A leftover of an interrupted build (invalid) is dropped and rebuilt.
   * pgvector indexes `vector` up to 2,000 dimensions; larger models are searched by the quantized scan.
   */
  async ensureMerchantHnswIndex(
    runner: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
    build: { m: number; efConstruction: number },
  ): Promise<{ outcome: 'exists' | 'created' | 'too-large'; indexName: string | null }> {
    const n = dims({ version: 0, dimensions });
    if (n > 2000) return { outcome: 'too-large', indexName: null };
    if (!Number.isInteger(build.m) || !Number.isInteger(build.efConstruction))
      throw new Error('HNSW build parameters must be integers');
    const registered: { index_name: string }[] = await runner.query(
      `INSERT INTO merchant_vector_indexes (merchant_id, dimensions, index_name)
       VALUES ($1, $2::int, 'document_chunks_hnsw_' || nextval('merchant_vector_indexes_seq') || '_' || $2::int)
       ON CONFLICT (merchant_id, dimensions) DO UPDATE SET merchant_id = EXCLUDED.merchant_id
       RETURNING index_name`,
      [merchantId, n],
    );
    const name = registered[0].index_name;
    const found: { valid: boolean }[] = await runner.query(
      `SELECT i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1`,
      [name],
    );
    if (found[0]?.valid) return { outcome: 'exists', indexName: name };
    const [{ ddl, drop }]: { ddl: string; drop: string }[] = await runner.query(
      `SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON document_chunks
                        USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WITH (m = %s, ef_construction = %s)
                        WHERE merchant_id = %L AND vector_dims(embedding) = %s',
                      $1::text, $2::int, $3::int, $4::int, $5::text, $2::int) AS ddl,
              format('DROP INDEX CONCURRENTLY IF EXISTS %I', $1::text) AS drop`,
      [name, n, build.m, build.efConstruction, merchantId],
    );
    if (found.length > 0) await runner.query(drop);
    await runner.query(ddl);
    return { outcome: 'created', indexName: name };
  }

  /** Drops the merchant's dedicated HNSW indexes (all sizes) and their registry rows. Same runner rules. */
  async dropMerchantHnswIndexes(runner: Pick<EntityManager, 'query'>, merchantId: string): Promise<string[]> {
    const rows: { index_name: string; drop: string }[] = await runner.query(
      `SELECT index_name, format('DROP INDEX CONCURRENTLY IF EXISTS %I', index_name) AS drop
         FROM merchant_vector_indexes WHERE merchant_id = $1`,
      [merchantId],
    );
    for (const r of rows) await runner.query(r.drop);
    await runner.query(`DELETE FROM merchant_vector_indexes WHERE merchant_id = $1`, [merchantId]);
    return rows.map((r) => r.index_name);
  }

  /** The merchant's dedicated HNSW index for this vector size, when it exists and is ready to be used. */
  async findMerchantHnswIndex(
    manager: EntityManager,
    merchantId: string,
    dimensions: number,
  ): Promise<string | null> {
    const rows: { index_name: string }[] = await manager.query(
      `SELECT v.index_name
         FROM merchant_vector_indexes v
         JOIN pg_class c ON c.relname = v.index_name
         JOIN pg_index i ON i.indexrelid = c.oid
        WHERE v.merchant_id = $1 AND v.dimensions = $2 AND i.indisvalid AND i.indisready`,
      [merchantId, dimensions],
    );
    return rows[0]?.index_name ?? null;
  }

  /**
   * Merchants whose active version holds at least `minRows` chunks of an indexable size and which have no valid
   * dedicated index for it yet: what the index maintenance should build.
   */
  async merchantsNeedingHnsw(
    manager: Pick<EntityManager, 'query'>,
    minRows: number,
    merchantId?: string,
  ): Promise<{ merchantId: string; dimensions: number }[]> {
    const rows: { merchant_id: string; dimensions: number }[] = await manager.query(
      `SELECT v.merchant_id, v.dimensions
         FROM corpus_versions v
        WHERE v.state IN ('active', 'building') AND v.dimensions <= 2000
          AND ($2::text IS NULL OR v.merchant_id = $2)
          AND (SELECT count(*) FROM (SELECT 1 FROM document_chunks c
                                      WHERE c.merchant_id = v.merchant_id AND c.corpus_version = v.version
                                      LIMIT $1) capped) >= $1
          AND NOT EXISTS (
                SELECT 1 FROM merchant_vector_indexes x
                  JOIN pg_class pc ON pc.relname = x.index_name
                  JOIN pg_index pi ON pi.indexrelid = pc.oid
                 WHERE x.merchant_id = v.merchant_id AND x.dimensions = v.dimensions AND pi.indisvalid)
        GROUP BY v.merchant_id, v.dimensions
        ORDER BY v.merchant_id, v.dimensions`,
      [minRows, merchantId ?? null],
    );
    return rows.map((r) => ({ merchantId: r.merchant_id, dimensions: Number(r.dimensions) }));
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

  /**
   * How many chunks the merchant's version has, counted only up to `cap` (an index scan of at most cap rows),
   * which is all the strategy choice needs to know.
   */
  async countVersionChunksUpTo(
    manager: EntityManager,
    merchantId: string,
    version: number,
    cap: number,
  ): Promise<number> {
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks WHERE merchant_id = $1 AND corpus_version = $2 LIMIT $3) capped`,
      [merchantId, version, cap],
    );
    return Number(rows[0].n);
  }

  /**
   * How many chunks the caller may read under these filters, counted only up to `cap`: no distances and no
   * vector reads, so it stops early for a broad reader and costs one pass over the merchant's rows for a narrow one.
   */
  async countReadableUpTo(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    cap: number,
  ): Promise<number> {
    const { where, params } = this.filterSql(scope, p, { vector: false });
    params.push(cap);
    const rows: { n: string }[] = await manager.query(
      `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks c WHERE ${where} LIMIT $${params.length}) capped`,
      params,
    );
    return Number(rows[0].n);
  }

  /**
   * Exact top-k: distances for every readable candidate of the merchant, then a top-k sort. The MATERIALIZED CTE
   * has no ORDER BY, so the HNSW index cannot be chosen; the merchant btree / ACL GIN indexes drive the scan.
   * Recall is 1.0 by construction.
   */
  async searchExact(manager: EntityManager, scope: TenantScope, p: ChunkSearchParams): Promise<ChunkHit[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.exactSql(scope, p);
    const rows: HitRow[] = await manager.query(sql, params);
    return rows.map(toHit);
  }

  /**
   * Binary-quantization scan with exact re-rank: every readable candidate of the merchant is ranked by the Hamming
   * distance between its stored sign bits and the query's (an index-only scan of the covering merchant index: no
   * vector is read), the best `rerank` are fetched and ordered by exact cosine distance. Recall depends on
   * `rerank` (measured in docs/RETRIEVAL.md); cost grows with the merchant's rows at well under a microsecond each.
   */
  async searchQuantized(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
  ): Promise<ChunkHit[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.quantizedSql(scope, p, rerank);
    const rows: HitRow[] = await manager.query(sql, params);
    return rows.map(toHit);
  }

  async explainQuantized(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
    analyze = true,
  ): Promise<string[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.quantizedSql(scope, p, rerank);
    return this.explainSql(manager, sql, params, analyze);
  }

  private quantizedSql(
    scope: TenantScope,
    p: ChunkSearchParams,
    rerank: number,
  ): { sql: string; params: unknown[] } {
    if (!Number.isInteger(rerank) || rerank < 1) throw new Error(`invalid re-rank size ${String(rerank)}`);
    const { where, params, distance } = this.filterSql(scope, p, { vector: true, sizePredicate: false });
    params.push(Math.max(rerank, p.k));
    const rerankParam = `$${params.length}`;
    params.push(p.k);
    const sql = `WITH shortlist AS MATERIALIZED (
         SELECT c.id
           FROM document_chunks c
          WHERE ${where}
          ORDER BY c.embedding_bq <~> binary_quantize($1::vector), c.id
          LIMIT ${rerankParam}
       )
       SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
              ${distance} AS distance
         FROM shortlist s JOIN document_chunks c ON c.id = s.id
        ORDER BY distance, c.id
        LIMIT $${params.length}`;
    return { sql, params };
  }

  /**
   * The exact path reads one merchant's rows through the merchant index and never the whole table: a sequential
   * scan would read every other tenant's pages (and the planner picks one on small tables). enable_sort is
   * restored in case the HNSW path turned it off earlier in the transaction (this is also its fallback); JIT is off
   * because compiling costs more than these millisecond queries.
   */
  private async prepareExact(manager: EntityManager): Promise<void> {
    await manager.query(
      `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'on', true),
              set_config('jit', 'off', true)`,
    );
  }

  private exactSql(scope: TenantScope, p: ChunkSearchParams): { sql: string; params: unknown[] } {
    const { where, params, distance } = this.filterSql(scope, p);
    params.push(p.k);
    const sql = `WITH candidates AS MATERIALIZED (
         SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
                ${distance} AS distance
           FROM document_chunks c
          WHERE ${where}
       )
       SELECT * FROM candidates ORDER BY distance, id LIMIT $${params.length}`;
    return { sql, params };
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
    tuning: HnswTuning,
  ): Promise<ChunkHit[]> {
    const { sql, params } = await this.prepareHnsw(manager, scope, p, tuning);
    const rows: HitRow[] = await manager.query(sql, params);
    return rows.map(toHit);
  }

  /**
   * The plan of exactly the statement searchHnsw runs, with the same settings (for tests and admin tools);
   * `analyze` runs it again with EXPLAIN (ANALYZE, BUFFERS).
   */
  async explainHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
    analyze = false,
  ): Promise<string[]> {
    const { sql, params } = await this.prepareHnsw(manager, scope, p, tuning);
    return this.explainSql(manager, sql, params, analyze);
  }

  async explainExact(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    analyze = true,
  ): Promise<string[]> {
    await this.prepareExact(manager);
    const { sql, params } = this.exactSql(scope, p);
    return this.explainSql(manager, sql, params, analyze);
  }

  private async explainSql(
    manager: EntityManager,
    sql: string,
    params: unknown[],
    analyze: boolean,
  ): Promise<string[]> {
    const options = analyze ? '(ANALYZE, BUFFERS, COSTS OFF)' : '(COSTS OFF)';
    const rows: { 'QUERY PLAN': string }[] = await manager.query(`EXPLAIN ${options} ${sql}`, params);
    return rows.map((r) => r['QUERY PLAN']);
  }

  private async prepareHnsw(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    tuning: HnswTuning,
  ) {
    // enable_sort = off: left alone, the planner often prefers the merchant btree plus a sort (its cost model
    // underrates filtered HNSW scans); this path is only taken for merchants big enough for the index to pay.
    // jit = off: enable_sort works by adding a huge cost, which pushes the plan past jit_above_cost; PostgreSQL
    // then spent ~110 ms JIT-compiling a 2 ms index scan (measured, bench/strategy-threshold).
    await manager.query(
      `SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),
              set_config('hnsw.ef_search', $1, true),
              set_config('hnsw.max_scan_tuples', $2, true),
              set_config('enable_sort', 'off', true),
              set_config('jit', 'off', true)`,
      [String(Math.max(tuning.efSearch, p.k, tuning.candidates ?? 0)), String(tuning.maxScanTuples)],
    );
    const { where, params, distance } = this.filterSql(scope, p);
    params.push(Math.max(p.k, tuning.candidates ?? p.k));
    const candidates = `$${params.length}`;
    params.push(p.k);
    const sql = `WITH nearest AS MATERIALIZED (
         SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
                ${distance} AS distance
           FROM document_chunks c
          WHERE ${where}
          ORDER BY ${distance}
          LIMIT ${candidates}
       )
       SELECT * FROM nearest ORDER BY distance, id LIMIT $${params.length}`;
    return { sql, params };
  }

  /**
   * Full-text candidates: chunks matching ANY of the query's terms (English stemming, stored tsvector, GIN
   * index), ranked by ts_rank_cd with cover density, ties by id. The vector distance is computed for them too, so
   * every result carries its similarity.
   */
  async searchKeyword(
    manager: EntityManager,
    scope: TenantScope,
    p: ChunkSearchParams,
    text: string,
  ): Promise<KeywordHit[]> {
    // Any-term matching: the query's words joined with `or` for websearch_to_tsquery, which never fails on
    // syntax (unlike to_tsquery) and stems and drops stopwords like the stored tsvector.
    const terms = [
      ...new Set(
        text
          .normalize('NFKC')
          .toLowerCase()
          .match(/[\p{L}\p{N}]+/gu) ?? [],
      ),
    ]
      .filter((t) => t !== 'or')
      .slice(0, 64);
    if (terms.length === 0) return [];
    const { where, params, distance } = this.filterSql(scope, p);
    params.push(terms.join(' or '));
    const tsq = `websearch_to_tsquery('english', $${params.length})`;
    params.push(p.k);
    const rows: (HitRow & { rank: number | string })[] = await manager.query(
      `SELECT c.id, c.document_id, c.ticket_id, c.chunk_index, c.chunk_text, c.heading_path, c.citation, c.metadata,
              ${distance} AS distance, ts_rank_cd(c.search_tsv, ${tsq}, 32) AS rank
         FROM document_chunks c
        WHERE c.search_tsv @@ ${tsq} AND ${where}
        ORDER BY rank DESC, c.id
        LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({ ...toHit(r), rank: Number(r.rank) }));
  }

  /**
   * The WHERE clause shared by every strategy; every value is a bound parameter, no client text is interpolated.
   * `vector: false` leaves out the query vector ($1) and the vector-size predicate, for statements that read no
   * vectors; `sizePredicate: false` keeps $1 but leaves out the predicate. The predicate is only needed to match a
   * partial HNSW index, and it would detoast every row it is evaluated on (the trigger already guarantees that a
   * version's vectors share one size).
   */
  private filterSql(
    scope: TenantScope,
    p: ChunkSearchParams,
    options: { vector: boolean; sizePredicate?: boolean } = { vector: true },
  ): { where: string; params: unknown[]; distance: string } {
    const n = dims(p.corpus);
    const params: unknown[] = options.vector ? [toSql(p.embedding)] : [];
    const bindBase = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const clauses = [
      `c.merchant_id = ${bindBase(scope.merchantId)}`,
      `c.acl && ${bindBase([...scope.principals])}::text[]`,
      `c.corpus_version = ${bindBase(p.corpus.version)}`,
    ];
    // Matches the partial HNSW index's predicate, and keeps the cast in `distance` from seeing another size.
    if (options.sizePredicate ?? options.vector) clauses.push(`vector_dims(c.embedding) = ${n}`);
    if (p.filter.sourceType === 'document') clauses.push('c.document_id IS NOT NULL');
    if (p.filter.sourceType === 'ticket') clauses.push('c.ticket_id IS NOT NULL');
    const f = p.filter;
    const bind = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (f.metadata !== undefined && Object.keys(f.metadata).length > 0) {
      clauses.push(`c.metadata @> ${bind(JSON.stringify(f.metadata))}::jsonb`);
    }
    if (f.category !== undefined)
      clauses.push(`c.metadata @> ${bind(JSON.stringify({ category: f.category }))}::jsonb`);
    if (f.documentIds !== undefined) clauses.push(`c.document_id = ANY(${bind(f.documentIds)}::text[])`);
    if (f.ticketIds !== undefined) clauses.push(`c.ticket_id = ANY(${bind(f.ticketIds)}::text[])`);
    if (f.customerId !== undefined || f.ticketStatuses !== undefined) {
      const conds = ['t.merchant_id = c.merchant_id', 't.id = c.ticket_id'];
      if (f.customerId !== undefined) conds.push(`t.customer_id = ${bind(f.customerId)}`);
      if (f.ticketStatuses !== undefined) conds.push(`t.status = ANY(${bind(f.ticketStatuses)}::text[])`);
      clauses.push(`EXISTS (SELECT 1 FROM tickets t WHERE ${conds.join(' AND ')})`);
    }
    if (f.updatedSince !== undefined) {
      const since = bind(f.updatedSince.toISOString());
      clauses.push(
        `(EXISTS (SELECT 1 FROM support_documents d
                   WHERE d.merchant_id = c.merchant_id AND d.id = c.document_id AND d.updated_at >= ${since}::timestamptz)
          OR EXISTS (SELECT 1 FROM tickets t2
                      WHERE t2.merchant_id = c.merchant_id AND t2.id = c.ticket_id AND t2.updated_at >= ${since}::timestamptz))`,
      );
    }
    return {
      where: clauses.join(' AND '),
      params,
      distance: `(c.embedding::vector(${n})) <=> $1::vector(${n})`,
    };
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
