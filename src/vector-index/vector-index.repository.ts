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
 * A chunk id written into DDL and SQL as the bound of a frozen graph (partial-index predicates are matched by the
 * planner only against literals). It comes from `max(id)` of document_chunks or from the registry, never from a
 * request, and is checked to be a plain non-negative integer here (bigint travels as text).
 */
export function checkedChunkId(id: string | number | bigint): string {
  const s = String(id);
  if (!/^\d{1,19}$/.test(s)) throw new Error(`invalid chunk id bound ${s}`);
  return s;
}

/** The registry row of a merchant's dedicated index for one vector size. */
export interface RegisteredIndex {
  merchantId: string;
  dimensions: number;
  indexName: string;
  /** Chunks with a larger id are the tail (not in the graph); null: an index of an earlier release, covers all. */
  maxChunkId: string | null;
  coveredRows: number;
  /** A replacement being built, and an old index not yet dropped: leftovers when a maintenance run died. */
  nextIndexName: string | null;
  retiredIndexName: string | null;
}

/** When the tail (chunks newer than the graph's bound) is large enough to rebuild the graph. */
export interface TailPolicy {
  minRows: number;
  percent: number;
}

export type BuildOutcome = 'exists' | 'created' | 'too-large' | 'rebuilt';

/**
 * Per-merchant HNSW indexes: their DDL, their registry (merchant_vector_indexes) and the lookups that tell
 * retrieval and maintenance which exist. Every method takes the merchant explicitly.
 *
 * Frozen graph + exact tail: an index covers the merchant's chunks up to a bound id fixed at build time (a literal
 * in its predicate), so writes of newer chunks skip the HNSW insertion; retrieval scans those exactly
 * (src/retrieval/search-statement.sql.ts). `rebuildMerchantHnswIndex` replaces the graph once the tail outgrows its
 * bound. Correctness never depends on which index exists: every search reads `id <= bound` from the graph and
 * `id > bound` exactly, with one bound read from the registry; an index with a larger bound still serves a
 * search holding an older one (its predicate is implied), so the registry moves to a new bound only after the new
 * index is valid, and the old index is dropped only after that.
 */
export class VectorIndexRepository {
  /**
   * The merchant's own HNSW index for vectors of this size: a partial expression index
   * `WHERE merchant_id = <merchant> AND vector_dims(embedding) = N AND id <= <bound>`, built with CREATE INDEX
   * CONCURRENTLY so the merchant (and everyone else) keeps writing meanwhile. `runner` must be a dedicated
   * connection outside any transaction. The index name comes from a sequence and the merchant id is quoted by
   * format(%L): nothing client-chosen becomes an identifier. A leftover of an interrupted build (invalid) is
   * dropped and rebuilt with a fresh bound and a new name. pgvector indexes `vector` up to 2,000 dimensions; larger
   * models are searched by the quantized scan.
   */
  async ensureMerchantHnswIndex(
    runner: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
    build: { m: number; efConstruction: number },
  ): Promise<{ outcome: 'exists' | 'created' | 'too-large'; indexName: string | null }> {
    const n = checkedDimensions(dimensions);
    if (n > 2000) return { outcome: 'too-large', indexName: null };
    const before = await this.registered(runner, merchantId, n);
    const registered: { index_name: string }[] = await runner.query(
      `INSERT INTO merchant_vector_indexes (merchant_id, dimensions, index_name)
       VALUES ($1, $2::int, 'document_chunks_hnsw_' || nextval('merchant_vector_indexes_seq') || '_' || $2::int)
       ON CONFLICT (merchant_id, dimensions) DO UPDATE SET merchant_id = EXCLUDED.merchant_id
       RETURNING index_name`,
      [merchantId, n],
    );
    const registeredName = registered[0].index_name;
    const found = await indexState(runner, registeredName);
    if (found === 'valid') return { outcome: 'exists', indexName: registeredName };
    if (found === 'invalid') await runner.query(dropSql(registeredName));
    // Not valid, so no search uses it (vector_index_ready): its name and bound may still change. A graph built
    // again after an interrupted build, or after its index was dropped outside the registry, gets a new name as
    // well: a name identifies one graph, and a calibration records the name of the graph it measured
    // (src/retrieval/search-strategy.ts, measuredOnCurrentIndex). A row inserted just now keeps its fresh name.
    const name = before === null ? registeredName : await newIndexName(runner, n);
    const bound = await currentBound(runner, merchantId);
    await runner.query(
      `UPDATE merchant_vector_indexes SET index_name = $3, max_chunk_id = $4::bigint, covered_rows = $5
        WHERE merchant_id = $1 AND dimensions = $2`,
      [merchantId, n, name, bound.maxId, bound.rows],
    );
    await runner.query(await createSql(runner, name, merchantId, n, bound.maxId, build));
    return { outcome: 'created', indexName: name };
  }

  /**
   * Replaces the merchant's graph by one covering every chunk up to the current max id: built CONCURRENTLY under
   * a new name (recorded as `next_index_name` meanwhile), then one UPDATE moves the registry to it and its bound,
   * then the old index is dropped CONCURRENTLY. Readers see the old (name, bound) or the new one, each usable;
   * leftovers of a run that died are dropped first. Same runner rules as `ensureMerchantHnswIndex`.
   */
  async rebuildMerchantHnswIndex(
    runner: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
    build: { m: number; efConstruction: number },
  ): Promise<{ outcome: BuildOutcome; indexName: string | null }> {
    const n = checkedDimensions(dimensions);
    await this.dropLeftovers(runner, merchantId, n);
    const reg = await this.registered(runner, merchantId, n);
    if (reg === null || (await indexState(runner, reg.indexName)) !== 'valid')
      return this.ensureMerchantHnswIndex(runner, merchantId, n, build);
    const bound = await currentBound(runner, merchantId);
    if (reg.maxChunkId === bound.maxId) return { outcome: 'exists', indexName: reg.indexName };
    const name = await newIndexName(runner, n);
    await runner.query(
      `UPDATE merchant_vector_indexes SET next_index_name = $3, next_max_chunk_id = $4::bigint
        WHERE merchant_id = $1 AND dimensions = $2`,
      [merchantId, n, name, bound.maxId],
    );
    await runner.query(await createSql(runner, name, merchantId, n, bound.maxId, build));
    // The right-hand sides read the row before the update: the old name becomes the retired one.
    await runner.query(
      `UPDATE merchant_vector_indexes
          SET index_name = next_index_name, max_chunk_id = next_max_chunk_id, covered_rows = $3,
              retired_index_name = index_name, next_index_name = NULL, next_max_chunk_id = NULL
        WHERE merchant_id = $1 AND dimensions = $2`,
      [merchantId, n, bound.rows],
    );
    await this.dropLeftovers(runner, merchantId, n);
    return { outcome: 'rebuilt', indexName: name };
  }

  /** Drops the merchant's dedicated HNSW indexes (all sizes) and their registry rows. Same runner rules. */
  async dropMerchantHnswIndexes(runner: Pick<EntityManager, 'query'>, merchantId: string): Promise<string[]> {
    const rows: { index_name: string; drop: string }[] = await runner.query(
      `SELECT u.name AS index_name, format('DROP INDEX CONCURRENTLY IF EXISTS %I', u.name) AS drop
         FROM merchant_vector_indexes x,
              unnest(ARRAY[x.index_name, x.next_index_name, x.retired_index_name]) AS u(name)
        WHERE x.merchant_id = $1 AND u.name IS NOT NULL`,
      [merchantId],
    );
    for (const r of rows) await runner.query(r.drop);
    await runner.query(`DELETE FROM merchant_vector_indexes WHERE merchant_id = $1`, [merchantId]);
    return rows.map((r) => r.index_name);
  }

  /** The merchant's dedicated HNSW index for this vector size, when it exists and is ready to be used. */
  async findMerchantHnswIndex(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
  ): Promise<string | null> {
    return (await this.findMerchantGraph(manager, merchantId, dimensions))?.indexName ?? null;
  }

  /** The same with its bound, read together (one row, one snapshot). */
  async findMerchantGraph(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
  ): Promise<{ indexName: string; maxChunkId: string | null } | null> {
    const rows: { index_name: string; max_chunk_id: string | null }[] = await manager.query(
      `SELECT v.index_name, v.max_chunk_id::text AS max_chunk_id
         FROM merchant_vector_indexes v
        WHERE v.merchant_id = $1 AND v.dimensions = $2 AND vector_index_ready(v.index_name)`,
      [merchantId, dimensions],
    );
    const r = rows[0];
    return r ? { indexName: r.index_name, maxChunkId: r.max_chunk_id } : null;
  }

  async registered(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
  ): Promise<RegisteredIndex | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT merchant_id, dimensions, index_name, max_chunk_id::text AS max_chunk_id, covered_rows,
              next_index_name, retired_index_name
         FROM merchant_vector_indexes WHERE merchant_id = $1 AND dimensions = $2`,
      [merchantId, dimensions],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return {
      merchantId: String(r.merchant_id),
      dimensions: Number(r.dimensions),
      indexName: String(r.index_name),
      maxChunkId: (r.max_chunk_id as string | null) ?? null,
      coveredRows: Number(r.covered_rows ?? 0),
      nextIndexName: (r.next_index_name as string | null) ?? null,
      retiredIndexName: (r.retired_index_name as string | null) ?? null,
    };
  }

  /**
   * Merchants whose valid graph should be replaced: an index of an earlier release (no bound), leftovers of a
   * replacement that died, or a tail (chunks with id above the bound) of more than max(minRows, percent% of the
   * covered rows), counted up to that many through the (merchant_id, id) btree.
   */
  async merchantsNeedingRebuild(
    manager: Pick<EntityManager, 'query'>,
    tail: TailPolicy,
    merchantId?: string,
  ): Promise<{ merchantId: string; dimensions: number; tailRows: number | null }[]> {
    const rows: { merchant_id: string; dimensions: number }[] = await manager.query(
      `SELECT merchant_id, dimensions FROM merchant_vector_indexes
        WHERE ($1::text IS NULL OR merchant_id = $1) ORDER BY merchant_id, dimensions`,
      [merchantId ?? null],
    );
    const out: { merchantId: string; dimensions: number; tailRows: number | null }[] = [];
    for (const row of rows) {
      const reg = await this.registered(manager, row.merchant_id, Number(row.dimensions));
      if (reg === null || (await indexState(manager, reg.indexName)) !== 'valid') continue;
      if (reg.maxChunkId === null || reg.nextIndexName !== null || reg.retiredIndexName !== null) {
        out.push({ merchantId: reg.merchantId, dimensions: reg.dimensions, tailRows: null });
        continue;
      }
      const limit = tailLimit(tail, reg.coveredRows);
      const tailRows = await countTail(manager, reg.merchantId, reg.maxChunkId, limit + 1);
      if (tailRows > limit) out.push({ merchantId: reg.merchantId, dimensions: reg.dimensions, tailRows });
    }
    return out;
  }

  /** Chunks of the merchant above its graph's bound, counted up to `cap` (0 without a bounded graph). */
  async tailRows(
    manager: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
    cap: number,
  ): Promise<number> {
    const reg = await this.registered(manager, merchantId, dimensions);
    return reg?.maxChunkId == null ? 0 : countTail(manager, merchantId, reg.maxChunkId, cap);
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

  /** Drops a replacement that never got swapped in and an old index that was not dropped, and forgets them. */
  private async dropLeftovers(
    runner: Pick<EntityManager, 'query'>,
    merchantId: string,
    dimensions: number,
  ): Promise<void> {
    const reg = await this.registered(runner, merchantId, dimensions);
    if (reg === null) return;
    for (const name of [reg.nextIndexName, reg.retiredIndexName]) {
      if (name !== null) await runner.query(dropSql(name));
    }
    if (reg.nextIndexName !== null || reg.retiredIndexName !== null) {
      await runner.query(
        `UPDATE merchant_vector_indexes SET next_index_name = NULL, next_max_chunk_id = NULL, retired_index_name = NULL
          WHERE merchant_id = $1 AND dimensions = $2`,
        [merchantId, dimensions],
      );
    }
  }
}

/** A name no index has had: the registry's sequence (a separate SELECT: Citus refuses nextval in an UPDATE). */
async function newIndexName(runner: Pick<EntityManager, 'query'>, dimensions: number): Promise<string> {
  const [{ name }]: { name: string }[] = await runner.query(
    `SELECT 'document_chunks_hnsw_' || nextval('merchant_vector_indexes_seq') || '_' || $1::int AS name`,
    [dimensions],
  );
  return name;
}

/** The rows a tail may hold before the graph is rebuilt. */
export function tailLimit(tail: TailPolicy, coveredRows: number): number {
  return Math.max(tail.minRows, Math.floor((coveredRows * tail.percent) / 100));
}

async function indexState(
  runner: Pick<EntityManager, 'query'>,
  name: string,
): Promise<'valid' | 'invalid' | 'missing'> {
  const found: { valid: boolean }[] = await runner.query(
    `SELECT i.indisvalid AND i.indisready AS valid
       FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1`,
    [name],
  );
  return found.length === 0 ? 'missing' : found[0].valid ? 'valid' : 'invalid';
}

/**
 * The bound a new graph gets: the merchant's largest chunk id now (every chunk at or below it is in the graph,
 * including ones whose transaction commits during the build: CREATE INDEX CONCURRENTLY waits for those, and once
 * the index accepts inserts they enter it as usual), and how many chunks that covers.
 */
async function currentBound(
  runner: Pick<EntityManager, 'query'>,
  merchantId: string,
): Promise<{ maxId: string; rows: number }> {
  const [r]: { max_id: string | null; n: string }[] = await runner.query(
    `SELECT max(id)::text AS max_id, count(*) AS n FROM document_chunks WHERE merchant_id = $1`,
    [merchantId],
  );
  return { maxId: checkedChunkId(r.max_id ?? '0'), rows: Number(r.n) };
}

async function countTail(
  manager: Pick<EntityManager, 'query'>,
  merchantId: string,
  maxChunkId: string,
  cap: number,
): Promise<number> {
  const [r]: { n: string }[] = await manager.query(
    `SELECT count(*) AS n FROM (SELECT 1 FROM document_chunks
                                 WHERE merchant_id = $1 AND id > $2::bigint LIMIT $3) tail`,
    [merchantId, checkedChunkId(maxChunkId), cap],
  );
  return Number(r.n);
}

async function createSql(
  runner: Pick<EntityManager, 'query'>,
  name: string,
  merchantId: string,
  dimensions: number,
  maxChunkId: string,
  build: { m: number; efConstruction: number },
): Promise<string> {
  if (!Number.isInteger(build.m) || !Number.isInteger(build.efConstruction))
    throw new Error('HNSW build parameters must be integers');
  const [{ ddl }]: { ddl: string }[] = await runner.query(
    `SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON document_chunks
                      USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WITH (m = %s, ef_construction = %s)
                      WHERE merchant_id = %L AND vector_dims(embedding) = %s AND id <= %s',
                    $1::text, $2::int, $3::int, $4::int, $5::text, $2::int, $6::bigint) AS ddl`,
    [
      name,
      checkedDimensions(dimensions),
      build.m,
      build.efConstruction,
      merchantId,
      checkedChunkId(maxChunkId),
    ],
  );
  return ddl;
}

function dropSql(name: string): string {
  // Index names come from the registry, which only ever holds sequence-made names; quoted all the same.
  return `DROP INDEX CONCURRENTLY IF EXISTS "${name.replace(/"/g, '""')}"`;
}
