import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { alterChunkColumns } from './chunk-column-ddl';

/**
 * No planner statistics for the wide columns of document_chunks that no plan filters on: the vectors, the bit
 * vectors, the chunk text, its heading path and citation (`SET STATISTICS 0`: ANALYZE skips them).
 *
 * Why: a whole-table ANALYZE spent half its time on them (1.1–1.6 s vs 0.6 s for the planned columns on 16,000
 * chunks), so the gateway analyzed a column list instead — and PostgreSQL resets a table's count of rows changed
 * since the last ANALYZE (`n_mod_since_analyze`, autovacuum's rule) only after an ANALYZE of every column. The
 * table then stayed "due" forever after the first bulk load, for our rule (src/db/statistics.ts) and for
 * autovacuum, whose own ANALYZE read the vectors again. With these targets a plain `ANALYZE document_chunks` costs
 * what the column list did, and resets the count. Statistics already collected for these columns stay (unused).
 *
 * Citus refuses `ALTER COLUMN … SET STATISTICS` on a distributed table: there it is applied to the coordinator's
 * table without propagation and to every existing shard by `run_command_on_shards`, where ANALYZE runs (a shard
 * created later by a split or tenant isolation analyzes every column: slower, same plans).
 */
const COLUMNS = ['chunk_text', 'heading_path', 'citation', 'embedding', 'embedding_bq'];

export class ChunkStatisticsTargets1765400000000 implements MigrationInterface {
  name = 'ChunkStatisticsTargets1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await setTargets(q, 0);
  }

  async down(q: QueryRunner): Promise<void> {
    await setTargets(q, -1);
  }
}

async function setTargets(q: QueryRunner, target: 0 | -1): Promise<void> {
  const alter = `ALTER TABLE %s ${COLUMNS.map((c) => `ALTER COLUMN ${c} SET STATISTICS ${target}`).join(', ')}`;
  await alterChunkColumns(q, alter, 'SET STATISTICS');
}
