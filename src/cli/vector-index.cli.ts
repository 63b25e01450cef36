import { configDefault } from '../config/config';
import { loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';

const HELP = `Usage: npm run vector-index -- [--merchant m01] [--drop]

Builds the merchant-dedicated HNSW indexes that are missing: one per merchant whose active corpus version holds at
least RETRIEVAL_DEDICATED_INDEX_MIN_ROWS chunks (default ${configDefault('RETRIEVAL_DEDICATED_INDEX_MIN_ROWS')}), with m = RETRIEVAL_DEDICATED_INDEX_M (default
${configDefault('RETRIEVAL_DEDICATED_INDEX_M')}) and ef_construction = RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION (default ${configDefault('RETRIEVAL_DEDICATED_INDEX_EF_CONSTRUCTION')}). Built CONCURRENTLY: the gateway keeps serving and
writing meanwhile (on native PostgreSQL the gateway also does this by itself after writes; on the embedded
database stop the gateway first, its data directory is locked). Smaller merchants need no index: retrieval
searches them exactly or by the quantized scan.

  --merchant ID   only this merchant
  --drop          drop the merchant's dedicated indexes instead (needs --merchant)`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(HELP, {
    options: {
      merchant: { type: 'string' },
      drop: { type: 'boolean', default: false },
    },
  });
  if (values.drop && !values.merchant) usageError(HELP, '--drop needs --merchant');
  const config = loadCommandConfig();
  const { openCommandServices } = await import('./command-services');
  const { db, services } = await openCommandServices(config, 'vector-index');
  try {
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

runCommand(main);
