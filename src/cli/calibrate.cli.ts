import { loadConfig } from '../config/config';
import { parseCommandLine, usageError } from './command-line';

const HELP = `Usage: npm run calibrate -- (--merchant m01 | --all | --stale) [--json]

Measures how a merchant's approximate retrieval must be tuned: a random sample of its own chunks
(RETRIEVAL_CALIBRATION_SAMPLE, default 50; as short passages of their text embedded again, or as their vectors
where the embedder does not reproduce them) is searched exactly and by each approximate setting (the quantized
scan's re-rank size; the dedicated HNSW index's ef_search and candidate count), for a reader of everything and a
narrow reader; the cheapest setting with recall@10 >= 0.99 is stored for the active corpus version and used by
every retrieval. No setting within RETRIEVAL_CALIBRATION_BUDGET_MS: the merchant is answered exactly. Reads the
database of DATABASE_URL (or the embedded one); writes only the retrieval_calibrations table.

  --merchant ID   this merchant
  --all           every merchant with an active corpus version
  --stale         every merchant whose calibration is missing or out of date (grown; index built,
                  rebuilt or dropped; out of budget last time and its back-off passed)
  --json          one JSON report per merchant instead of a summary line`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(HELP, {
    options: {
      merchant: { type: 'string' },
      all: { type: 'boolean', default: false },
      stale: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if ([values.merchant !== undefined, values.all, values.stale].filter(Boolean).length !== 1) {
    usageError(HELP, 'give exactly one of --merchant, --all or --stale');
  }
  const config = loadConfig();
  const [{ openCommandServices }, { CalibrationRepository }] = await Promise.all([
    import('./command-services'),
    import('../retrieval/calibration.repository'),
  ]);
  const { db, services } = await openCommandServices(config, 'calibrate');
  try {
    const merchants = values.merchant
      ? [values.merchant]
      : await new CalibrationRepository().merchantsWithActiveVersion(db.dataSource.manager);
    for (const merchantId of merchants) {
      if (values.stale && !(await services.calibration.isStale(merchantId))) continue;
      const r = await services.calibration.calibrate(merchantId);
      if (values.json) console.log(JSON.stringify(r));
      else
        console.log(
          `${merchantId} v${r.corpusVersion} (${r.merchantRows} chunks): ${r.path} (${r.outcome})` +
            (r.path === 'quantized' ? ` rerank=${r.quantizedRerank}` : '') +
            (r.path === 'hnsw' ? ` ef_search=${r.hnswEfSearch} candidates=${r.hnswCandidates}` : '') +
            `, exact up to ${r.exactMaxReadable} readable, recall@10 ${r.recallFull?.toFixed(3)} / ` +
            `${r.recallNarrow?.toFixed(3) ?? '-'} (narrow), ${r.sampleSize} queries, ${(r.tookMs / 1000).toFixed(1)} s`,
        );
    }
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
