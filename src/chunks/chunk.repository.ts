import { toSql } from 'pgvector';
import { type EntityManager } from 'typeorm';
import { isDistributed } from '../db/distributed';
import { type JsonObject } from '../common/graphql-scalars';
import { affectedCount } from '../db/write-result';
import { vectorFromBinary } from '../db/vector-binary';
import { vectorArrayParameter, vectorTypeOid } from './vector-parameter';

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

/** New chunks of one source in one corpus version, with what they share. */
export interface ChunkGroup {
  source: ChunkSource;
  version: number;
  shared: SharedChunkFields;
  rows: readonly NewChunkRow[];
}

/** The key of listChunksOfSources' answer. */
export const sourceKey = (version: number, sourceId: string): string => `${version}:${sourceId}`;

/** Rows per INSERT statement: bounds one statement's parameters (~8 KB per 1536-d row: text, binary vector). */
const INSERT_BATCH_ROWS = 1000;

function sourceColumn(source: ChunkSource): ['document_id' | 'ticket_id', string] {
  return source.kind === 'document' ? ['document_id', source.documentId] : ['ticket_id', source.ticketId];
}

/**
 * The merchant condition (`merchant_id = …`, parameter $1) of a write-path lookup by a selective key (content hash,
 * source id). Planned with the merchant's value, a merchant the planner's statistics predate (onboarded since the
 * last ANALYZE: autovacuum waits for 10% of the table to change, and a load takes seconds) is estimated at one row,
 * every merchant-leading index of document_chunks looks equally cheap, and PostgreSQL picks the smallest, the
 * (merchant_id, id) btree: each lookup then walks all of the merchant's rows. A second 12,000-chunk load ran 3×
 * slower than the first, 75% of it in the embedding-cache probe (docs/INGESTION.md). As an InitPlan, `(SELECT
 * $1::text)`, the value is unknown at planning, the merchant is estimated as an average one, and the key's own
 * index wins whatever the statistics say (test/chunk-statistics.test.ts). Citus routes a statement to one shard
 * only when the distribution column equals a constant, so there it stays `$1`.
 */
async function merchantOfKeyedLookup(manager: Pick<EntityManager, 'query' | 'connection'>): Promise<string> {
  return (await isDistributed(manager)) ? 'merchant_id = $1' : 'merchant_id = (SELECT $1::text)';
}

/**
 * The write model of document_chunks: what ingestion, re-embedding and source edits write and read back to
 * decide what to write. Every method takes the merchant explicitly. Search lives in
 * src/retrieval/ (the statement in search-statement.sql.ts), per-merchant vector indexes in src/vector-index/.
 */
export class ChunkRepository {
  /** The embedding cache in the database: vectors this version already holds for these texts. */
  async findVectorsByHash(
    manager: EntityManager,
    merchantId: string,
    version: { version: number; embeddingModel: string },
    hashes: readonly string[],
  ): Promise<Map<string, number[]>> {
    if (hashes.length === 0) return new Map();
    // The model is checked too: a vector is reused only if it was computed by this version's model. One index
    // probe per hash, equality on every column of (merchant_id, corpus_version, content_hash): `DISTINCT ON` with
    // `content_hash = ANY(...)` let the planner walk the merchant's whole index range in hash order instead, to skip
    // a sort. With statistics from before a load that is every chunk of the merchant: 40-300 ms per ticket
    // into a 15,000-chunk merchant, measured (auto_explain). The merchant as an InitPlan: merchantOfKeyedLookup.
    // The vector in binary (vector_send), not as 20-30 KB of decimal text to print and parse (vector-binary.ts).
    const rows: { content_hash: string; e: Uint8Array | null }[] = await manager.query(
      `SELECT h.hash AS content_hash,
              (SELECT vector_send(c.embedding) FROM document_chunks c
                WHERE c.${await merchantOfKeyedLookup(manager)} AND c.corpus_version = $2 AND c.content_hash = h.hash
                  AND c.embedding_model = $3
                LIMIT 1) AS e
         FROM unnest($4::text[]) AS h(hash)`,
      [merchantId, version.version, version.embeddingModel, [...new Set(hashes)]],
    );
    return new Map(
      rows.flatMap((r) => (r.e === null ? [] : [[r.content_hash, vectorFromBinary(r.e)] as const])),
    );
  }

  /**
   * The chunks of many sources of one kind, in the given corpus versions: what a batched ingestion compares its
   * new chunks with (one statement for a whole batch). Keyed by `${version}:${sourceId}`, in chunk order.
   */
  async listChunksOfSources(
    manager: EntityManager,
    merchantId: string,
    kind: ChunkSource['kind'],
    sourceIds: readonly string[],
    versions: readonly number[],
  ): Promise<Map<string, ExistingChunk[]>> {
    const out = new Map<string, ExistingChunk[]>();
    if (sourceIds.length === 0 || versions.length === 0) return out;
    const column = kind === 'document' ? 'document_id' : 'ticket_id';
    const rows: {
      id: string;
      source_id: string;
      corpus_version: number;
      chunk_index: number;
      content_hash: string;
      citation: string;
      heading_path: string[];
    }[] = await manager.query(
      `SELECT id::text AS id, ${column} AS source_id, corpus_version, chunk_index, content_hash, citation,
              heading_path
         FROM document_chunks
        WHERE ${await merchantOfKeyedLookup(manager)} AND ${column} = ANY($2::text[])
          AND corpus_version = ANY($3::int[])
        ORDER BY corpus_version, ${column}, chunk_index`,
      [merchantId, [...sourceIds], [...versions]],
    );
    for (const r of rows) {
      const key = sourceKey(r.corpus_version, r.source_id);
      let list = out.get(key);
      if (!list) out.set(key, (list = []));
      list.push({
        id: r.id,
        chunkIndex: r.chunk_index,
        contentHash: r.content_hash,
        citation: r.citation,
        headingPath: r.heading_path,
      });
    }
    return out;
  }

  async deleteChunksById(manager: EntityManager, merchantId: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await manager.query(`DELETE FROM document_chunks WHERE merchant_id = $1 AND id = ANY($2::bigint[])`, [
      merchantId,
      [...ids],
    ]);
  }

  /** Brings the ACL and metadata of a source's chunks in one version up to date (a no-op when they are). */
  async updateSharedFields(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
    shared: Pick<SharedChunkFields, 'metadata' | 'acl'>,
  ): Promise<void> {
    const [column, sourceId] = sourceColumn(source);
    await manager.query(
      `UPDATE document_chunks SET metadata = $4::jsonb, acl = $5::text[], updated_at = now()
        WHERE ${await merchantOfKeyedLookup(manager)} AND ${column} = $2 AND corpus_version = $3
          AND (metadata IS DISTINCT FROM $4::jsonb OR acl IS DISTINCT FROM $5::text[])`,
      [merchantId, sourceId, version, JSON.stringify(shared.metadata), shared.acl],
    );
  }

  async insertChunks(
    manager: EntityManager,
    merchantId: string,
    source: ChunkSource,
    version: number,
    rows: readonly NewChunkRow[],
    shared: SharedChunkFields,
  ): Promise<void> {
    await this.insertChunkGroups(manager, merchantId, [{ source, version, shared, rows }]);
  }

  /**
   * Inserts the chunks of many sources (and corpus versions) with `INSERT … SELECT FROM unnest(…)`: one statement
   * per INSERT_BATCH_ROWS rows whatever the number of sources, 13 parameters each, so the statement text (and its
   * parse and plan) does not grow with the batch as a multi-row VALUES list does. heading_path and acl travel as
   * jsonb (unnest would flatten a text[][]); the vectors as one binary `vector[]` (vector-parameter.ts). Few, large
   * statements: the term-statistics trigger runs once per statement and costs per distinct lexeme, which repeat
   * across chunks (docs/INGESTION.md).
   */
  async insertChunkGroups(
    manager: EntityManager,
    merchantId: string,
    groups: readonly ChunkGroup[],
  ): Promise<void> {
    const flat = groups.flatMap((g) => g.rows.map((row) => ({ g, row })));
    const citus = await isDistributed(manager);
    const vectorOid = citus ? 0 : await vectorTypeOid(manager);
    for (let start = 0; start < flat.length; start += INSERT_BATCH_ROWS) {
      const batch = flat.slice(start, start + INSERT_BATCH_ROWS);
      if (citus) {
        await this.insertValues(manager, merchantId, batch);
        continue;
      }
      await manager.query(
        `INSERT INTO document_chunks
           (merchant_id, document_id, ticket_id, corpus_version, chunk_index, chunk_text, content_hash, heading_path,
            citation, embedding, embedding_model, metadata, acl)
         SELECT $1, u.document_id, u.ticket_id, u.corpus_version, u.chunk_index, u.chunk_text, u.content_hash,
                ARRAY(SELECT jsonb_array_elements_text(u.heading_path)), u.citation, u.embedding,
                u.embedding_model, u.metadata, ARRAY(SELECT jsonb_array_elements_text(u.acl))
           FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[], $8::jsonb[],
                       $9::text[], $10::vector[], $11::text[], $12::jsonb[], $13::jsonb[])
                AS u(document_id, ticket_id, corpus_version, chunk_index, chunk_text, content_hash, heading_path,
                     citation, embedding, embedding_model, metadata, acl)`,
        [
          merchantId,
          batch.map(({ g }) => (g.source.kind === 'document' ? g.source.documentId : null)),
          batch.map(({ g }) => (g.source.kind === 'ticket' ? g.source.ticketId : null)),
          batch.map(({ g }) => g.version),
          batch.map(({ row }) => row.chunkIndex),
          batch.map(({ row }) => row.text),
          batch.map(({ row }) => row.contentHash),
          batch.map(({ row }) => JSON.stringify(row.headingPath)),
          batch.map(({ row }) => row.citation),
          vectorArrayParameter(
            batch.map(({ row }) => row.embedding),
            vectorOid,
          ),
          batch.map(({ g }) => g.shared.embeddingModel),
          batch.map(({ g }) => JSON.stringify(g.shared.metadata)),
          batch.map(({ g }) => JSON.stringify(g.shared.acl)),
        ],
      );
    }
  }

  /**
   * The same rows as a multi-row VALUES list: on Citus an INSERT … SELECT from unnest is pulled to the coordinator
   * and COPied into the shard, which row-level security refuses ("COPY FROM not supported with row-level
   * security"); a VALUES list with the merchant in every row is a single-shard router INSERT.
   */
  private async insertValues(
    manager: EntityManager,
    merchantId: string,
    batch: readonly { g: ChunkGroup; row: NewChunkRow }[],
  ): Promise<void> {
    const params: unknown[] = [merchantId];
    const bind = (v: unknown, cast = ''): string => {
      params.push(v);
      return `$${params.length}${cast}`;
    };
    const values = batch.map(
      ({ g, row }) =>
        `($1, ${bind(g.source.kind === 'document' ? g.source.documentId : null)}, ${bind(
          g.source.kind === 'ticket' ? g.source.ticketId : null,
        )}, ${bind(g.version, '::int')}, ${bind(row.chunkIndex, '::int')}, ${bind(row.text)}, ${bind(
          row.contentHash,
        )}, ${bind([...row.headingPath], '::text[]')}, ${bind(row.citation)}, ${bind(
          toSql(row.embedding) as string,
          '::vector',
        )}, ${bind(g.shared.embeddingModel)}, ${bind(JSON.stringify(g.shared.metadata), '::jsonb')}, ${bind(
          [...g.shared.acl],
          '::text[]',
        )})`,
    );
    await manager.query(
      `INSERT INTO document_chunks
         (merchant_id, document_id, ticket_id, corpus_version, chunk_index, chunk_text, content_hash, heading_path,
          citation, embedding, embedding_model, metadata, acl)
       VALUES ${values.join(',\n              ')}`,
      params,
    );
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
        WHERE ${await merchantOfKeyedLookup(manager)} AND ${column} = $2 AND corpus_version = $3
        ORDER BY chunk_index`,
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
      `DELETE FROM document_chunks
        WHERE ${await merchantOfKeyedLookup(manager)} AND ${column} = $2 AND corpus_version = $3`,
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
        `UPDATE document_chunks SET ${sets.join(', ')}, updated_at = now()
          WHERE ${await merchantOfKeyedLookup(manager)} AND ${column} = $2`,
        params,
      ),
    );
  }
}
