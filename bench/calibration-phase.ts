import { type Services } from '../src/services';
import { CalibrationRepository } from '../src/retrieval/calibration.repository';
import { CalibrationOutcome } from '../src/retrieval/search-strategy';
import { type Database } from '../src/db/database';

/**
 * The product's calibration (`npm run calibrate -- --all`), run after the index maintenance and before anything
 * is measured, so that every merchant is served with its measured settings; returns one line per merchant that
 * was measured (small merchants are answered exactly without measuring) for the results.
 */
export async function runCalibration(
  services: Services,
  db: Database,
  log: (m: string) => void,
): Promise<string> {
  const merchants = await new CalibrationRepository().merchantsWithActiveVersion(db.dataSource.manager);
  const lines: string[] = [];
  let small = 0;
  for (const merchantId of merchants) {
    let r = await services.calibration.calibrate(merchantId);
    if (r.outcome === CalibrationOutcome.BUDGET) {
      // The gateway measures it again after RETRIEVAL_CALIBRATION_RETRY_MINUTES; the benchmark cannot wait that
      // long and does it once more now, when the load that used up the budget (index builds, the alternatives'
      // tables) may have passed. The report names both.
      const first = `${merchantId}: out of budget after ${(r.tookMs / 1000).toFixed(1)} s, measured again`;
      log(`  ${first}`);
      lines.push(first);
      r = await services.calibration.calibrate(merchantId);
    }
    if (r.outcome === CalibrationOutcome.SMALL) {
      small++;
      continue;
    }
    const setting =
      r.path === 'quantized'
        ? `rerank ${r.quantizedRerank}`
        : r.path === 'hnsw'
          ? `ef_search ${r.hnswEfSearch}, candidates ${r.hnswCandidates}`
          : 'exact';
    const line =
      `${merchantId} (${r.merchantRows} chunks): ${r.path} (${setting}), exact up to ${r.exactMaxReadable} readable, ` +
      `recall@10 ${r.recallFull?.toFixed(3)} all / ${r.recallNarrow?.toFixed(3) ?? '-'} narrow ` +
      `(${r.sampleSize} queries, ${(r.tookMs / 1000).toFixed(1)} s)`;
    log(`  calibrated ${line}`);
    lines.push(line);
  }
  return `calibration: ${lines.join('; ') || 'none measured'}; ${small} small merchant(s) exact without measuring`;
}
