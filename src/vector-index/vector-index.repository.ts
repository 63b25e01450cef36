import { type EntityManager } from 'typeorm';

/**
 * The dimension count is written into DDL and SQL (the HNSW index is a partial expression index per dimension
 * count, and the planner only matches it against the same literal expression). It comes from a corpus_versions
 * row, never from a request, and is checked to be a plain integer here.
 */
export function checkedDimensions(dimensions: number): number {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16000) {
    throw new Error(`invalid vector dimension ${String(dimensions)}`);
  }
  return dimensions;
}

/**
 * Per-merchant HNSW indexes: their DDL, their registry (merchant_vector_indexes) and the lookups that tell
 * retrieval and maintenance which exist. Every method takes the merchant explicitly.
 */
export class VectorIndexRepository {
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
    const n = checkedDimensions(dimensions);
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
}
