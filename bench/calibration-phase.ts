import { type Services } from '../src/services';
import { CalibrationRepository } from '../src/retrieval/calibration.repository';
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
    const r = await services.calibration.calibrate(merchantId);
    if (r.reason === 'small') {
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
