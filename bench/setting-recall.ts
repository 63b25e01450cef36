import { type DataSource, type EntityManager } from 'typeorm';
import { principalsFor, type TenantScope } from '../src/auth/identity';
import { recallLowerBound, RECALL_TARGET } from '../src/retrieval/calibration-model';
import { type Config } from '../src/config/config';
import { HNSW_SETTINGS, QUANTIZED_RERANKS } from '../src/retrieval/calibration.service';
import { CalibrationRepository } from '../src/retrieval/calibration.repository';
import { SearchRepository } from '../src/retrieval/search.repository';
import { type ChunkHit, type ShortlistMetric } from '../src/retrieval/search.types';
import { VectorIndexRepository } from '../src/vector-index/vector-index.repository';
import { log } from './bench-utils';

const K = 10;
const SHORTLIST_METRICS: readonly ShortlistMetric[] = ['hamming', 'jaccard'];

/** A query of a set: its vector, and the sampled chunk it is (left out of its answers), or ''. */
export interface SetQuery {
  embedding: number[];
  self: string;
}

/**
 * What the benchmarks of calibration queries (bench:calibration-queries, bench:text-queries) measure for one merchant
 * (its size and dedicated index looked up here) and each reader: for every setting the calibration tries (the HNSW
 * candidates where the merchant has a dedicated index, the quantized re-ranks below its size), each set's recall@10
 * against the exact answer, strictly by id as the calibration counts, and whether the calibration's rule would pass
 * the setting on that set alone. Each re-rank twice: its shortlist ranked by Hamming distance, as the product does,
 * and by Jaccard distance, which it does not (docs/RETRIEVAL.md, Known limits). One row per reader and setting,
 * logged as it is measured.
 */
export async function recallBySetting(
  ds: DataSource,
  config: Pick<Config, 'retrieval'>,
  of: { merchantId: string; version: number; dimensions: number },
  /** Reader name to its roles; its user is `${userPrefix}-${name}`. */
  readers: Record<string, readonly string[]>,
  userPrefix: string,
  sets: Record<string, SetQuery[]>,
): Promise<Record<string, unknown>[]> {
  const merchant = {
    id: of.merchantId,
    version: of.version,
    size: await new CalibrationRepository().countRows(ds.manager, of.merchantId, of.version),
    index: await new VectorIndexRepository().findMerchantHnswIndex(ds.manager, of.merchantId, of.dimensions),
    hnswMaxScanTuples: config.retrieval.hnswMaxScanTuples,
  };
  log(
    `${merchant.id}: ${merchant.size} chunks, index ${merchant.index ?? 'none'}; sets ${Object.keys(sets).join(', ')}`,
  );
  const rows: Record<string, unknown>[] = [];
  for (const [name, roles] of Object.entries(readers)) {
    const scope = { merchantId: merchant.id, principals: principalsFor(`${userPrefix}-${name}`, [...roles]) };
    rows.push(...(await readerRecall(ds, merchant, { name, scope }, sets)));
  }
  return rows;
}

async function readerRecall(
  ds: DataSource,
  merchant: { id: string; version: number; size: number; index: string | null; hnswMaxScanTuples: number },
  reader: { name: string; scope: TenantScope },
  sets: Record<string, SetQuery[]>,
): Promise<Record<string, unknown>[]> {
  const search = new SearchRepository();
  const tx = <T>(fn: (m: EntityManager) => Promise<T>): Promise<T> => ds.transaction(fn);
  const scope = reader.scope;
  const params = (embedding: number[]) => ({
    embedding,
    corpus: { version: merchant.version, dimensions: embedding.length },
    k: K + 1,
    filter: {},
  });
  const truth = new Map<string, string[][]>();
  for (const [name, qs] of Object.entries(sets)) {
    const answers: string[][] = [];
    for (const q of qs)
      answers.push(top(await tx((m) => search.searchExact(m, scope, params(q.embedding))), q));
    truth.set(name, answers);
  }
  const settings: { setting: string; run: (e: number[]) => Promise<ChunkHit[]> }[] = [
    ...(merchant.index === null
      ? []
      : HNSW_SETTINGS.map((h) => ({
          setting: `hnsw ef=${h.efSearch} cand=${h.candidates}`,
          run: (e: number[]) =>
            tx((m) =>
              search.searchHnsw(m, scope, params(e), {
                efSearch: h.efSearch,
                candidates: h.candidates,
                maxScanTuples: merchant.hnswMaxScanTuples,
              }),
            ),
        }))),
    ...QUANTIZED_RERANKS.filter((r) => r < merchant.size).flatMap((rerank) =>
      SHORTLIST_METRICS.map((metric) => ({
        setting: `quantized ${metric} rerank=${rerank}`,
        run: (e: number[]) => tx((m) => search.searchQuantized(m, scope, params(e), rerank, metric)),
      })),
    ),
  ];
  const rows: Record<string, unknown>[] = [];
  for (const { setting, run } of settings) {
    const row: Record<string, unknown> = {
      merchantId: merchant.id,
      size: merchant.size,
      reader: reader.name,
      setting,
    };
    for (const [name, qs] of Object.entries(sets)) {
      let found = 0;
      let expected = 0;
      for (const [i, q] of qs.entries()) {
        const want = truth.get(name)![i];
        const got = new Set(top(await run(q.embedding), q));
        found += want.filter((id) => got.has(id)).length;
        expected += want.length;
      }
      row[name] = expected === 0 ? 1 : found / expected;
      row[`${name}Passes`] = recallLowerBound(found, expected) >= RECALL_TARGET;
    }
    log(JSON.stringify(row));
    rows.push(row);
  }
  return rows;
}

function top(hits: readonly ChunkHit[], q: SetQuery): string[] {
  return hits
    .filter((h) => h.id !== q.self)
    .slice(0, K)
    .map((h) => h.id);
}
