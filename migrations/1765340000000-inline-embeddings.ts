import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { alterChunkColumns } from './chunk-column-ddl';

/**
 * Embeddings stored in the row instead of TOAST.
 *
 * pgvector's `vector` type has storage EXTERNAL: a 1536-d vector (6,152 bytes) is always moved out of line, so
 * every exact distance (the exact path, the quantized path's re-rank, the tail of a dedicated index) costs a TOAST
 * index lookup and four TOAST chunks per row: exact top-10 2–6× slower than with the vector in the row (measured
 * on the same rows by bench/storage-ab.sh; docs/RETRIEVAL.md, "Storage").
 *
 * - `STORAGE MAIN`: the vector stays in the row unless the row cannot fit in a page any other way (a 3072-d model
 *   still works: its vectors go out of line as a last resort, as before).
 * - `toast_tuple_target = 8160`: without it PostgreSQL shrinks every row over ~2 KB by compressing and moving the
 *   other wide columns (chunk text, the tsvectors) out of line first — which would only move the TOAST cost to
 *   keyword search. With it, a row is left alone while it fits in a page.
 *
 * Both are catalog changes (no rewrite, brief lock): rows written from now on are stored in line; existing rows
 * stay where they are until rewritten (any re-ingestion, a re-embed, or `VACUUM FULL document_chunks` in a
 * maintenance window). Neither changes results.
 *
 * Citus refuses `ALTER COLUMN … SET STORAGE` on a distributed table: there it is applied to the coordinator's table
 * without propagation and to every existing shard by `run_command_on_shards` (a shard created later by a split or
 * tenant isolation may keep the type's default: slower exact scans there, same results).
 */
export class InlineEmbeddings1765340000000 implements MigrationInterface {
  name = 'InlineEmbeddings1765340000000';

  async up(q: QueryRunner): Promise<void> {
    await setStorage(q, 'MAIN');
    await q.query(`ALTER TABLE document_chunks SET (toast_tuple_target = 8160)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE document_chunks RESET (toast_tuple_target)`);
    await setStorage(q, 'EXTERNAL');
  }
}

async function setStorage(q: QueryRunner, storage: 'MAIN' | 'EXTERNAL'): Promise<void> {
  const alter = `ALTER TABLE %s ALTER COLUMN embedding SET STORAGE ${storage}`;
  await alterChunkColumns(q, alter, 'SET STORAGE');
}
