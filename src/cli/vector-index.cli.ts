import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createServices } from '../app';
import { loadConfig } from '../config/config';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';

const HELP = `Usage: npm run vector-index -- [--merchant m01] [--drop]

Builds the merchant-dedicated HNSW indexes that are missing: one per merchant whose active corpus version holds at
least RETRIEVAL_DEDICATED_INDEX_MIN_ROWS chunks (default 20000), with m = RETRIEVAL_DEDICATED_INDEX_M and
ef_construction = RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION. Built CONCURRENTLY: the gateway keeps serving and
writing meanwhile (on native PostgreSQL the gateway also does this by itself after writes; on the embedded
database stop the gateway first, its data directory is locked). Smaller merchants need no index: retrieval
searches them exactly or by the quantized scan.

  --merchant ID   only this merchant
  --drop          drop the merchant's dedicated indexes instead (needs --merchant)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      merchant: { type: 'string' },
      drop: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.drop && !values.merchant) {
    console.error(HELP);
    process.exit(2);
  }
  const config = loadConfig();
  const db = await openDatabase(config, { migrate: true });
  try {
    const services = createServices(config, db, createEmbedder(config));
    if (values.drop) {
      const dropped = await services.indexes.drop(values.merchant!);
      console.log(dropped.length > 0 ? `dropped ${dropped.join(', ')}` : 'no dedicated index to drop');
      return;
    }
    const reports = await services.indexes.maintain({
      merchantId: values.merchant,
      onProgress: (r) =>
        console.log(
          `${r.merchantId} (${r.dimensions}-d): ${r.outcome} ${r.indexName ?? ''} in ${(r.ms / 1000).toFixed(1)} s`,
        ),
    });
    if (reports.length === 0) console.log('every merchant that needs a dedicated index has one');
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
