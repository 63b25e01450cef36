import { type QueryRunner } from 'typeorm';

/**
 * Runs `ALTER TABLE %s …` (a column setting: storage, statistics target) on document_chunks. Citus refuses such
 * settings on a distributed table: there it is applied to the coordinator's table without propagation and to
 * every existing shard with `run_command_on_shards` (`%s` becomes each shard's name). `what` names the change in
 * the error when a shard refuses it.
 */
export async function alterChunkColumns(q: QueryRunner, alter: string, what: string): Promise<void> {
  const citus =
    ((await q.query(`SELECT 1 FROM pg_extension WHERE extname = 'citus'`)) as unknown[]).length > 0;
  const distributed =
    citus &&
    (
      (await q.query(
        `SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'document_chunks'::regclass`,
      )) as unknown[]
    ).length > 0;
  if (!distributed) {
    await q.query(alter.replace('%s', 'document_chunks'));
    return;
  }
  await q.query(`SET LOCAL citus.enable_ddl_propagation = off`);
  await q.query(alter.replace('%s', 'document_chunks'));
  await q.query(`SET LOCAL citus.enable_ddl_propagation = on`);
  const failed = (await q.query(
    `SELECT shardid, result FROM run_command_on_shards('document_chunks', $1) WHERE NOT success`,
    [alter],
  )) as { shardid: string; result: string }[];
  if (failed.length > 0) throw new Error(`${what} failed on shard ${failed[0].shardid}: ${failed[0].result}`);
}
