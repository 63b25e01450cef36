import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { progressPrinter } from '../../src/cli/progress';
import { ROLE_STAFF, type MerchantPlan } from '../corpus-generator';
import {
  type ClaimResigner,
  type GatewayProcess,
  graphql,
  type LoadResult,
  replay,
  runConcurrent,
} from '../load-harness';
import { tutorialSearch } from './recall.phase';
import { type BenchQuery, INGEST, mean, type Preset } from './setup';

/** Passes over a cell's queries at concurrency 1 (p50 and p95 of 5 × 20–24 requests per side). */
const SINGLE_QUERY_PASSES = 5;
/**
 * The concurrency at which the gateway is also timed with the vector as a JSON list (`embedding`), the other
 * encoding clients may send: the throughput target's concurrency.
 */
export const LIST_CONCURRENCY = 8;

/** The phases that load the gateway process: latency and throughput against the raw SQL, and GraphQL ingestion. */

export interface LatencyRow extends LoadResult {
  cell: string;
  concurrency: number;
  /**
   * `tutorial`: the tutorial's single statement on the same queries, at concurrency 1 only (the p50 target).
   * `gateway-list`: the gateway with the vector as a JSON list, at LIST_CONCURRENCY only.
   */
  side: 'gateway' | 'gateway-list' | 'raw' | 'tutorial';
  /** CPU per request of the gateway process (gateway side) or of this client process (both sides). */
  gatewayCpuMsPerRequest: number | null;
  clientCpuMsPerRequest: number;
}

/**
 * Each class/reader at each concurrency: the gateway over HTTP, and the statements the product sent for the same
 * queries replayed through `pg` (tenant claims re-signed for the replaying connection), in alternating order. At
 * concurrency 1 the tutorial's statement runs the same passes, so the p50 target (ours <= 2x the tutorial's + 3 ms)
 * is read from repeated requests on both sides rather than from the recall phase's one request per query.
 */
export async function measureLatency({
  cells,
  byCell,
  preset,
  gateway,
  rawPool,
  claims,
}: {
  cells: string[];
  byCell: (cell: string) => BenchQuery[];
  preset: Preset;
  gateway: GatewayProcess;
  rawPool: pg.Pool;
  claims: ClaimResigner;
}): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  const total = cells.length * preset.concurrency.length;
  const show = progressPrinter('latency runs');
  let done = 0;
  for (const cell of cells) {
    const qs = byCell(cell);
    // The replay must compute what the product computed: the same rows (a claim that does not verify on the
    // replaying connection would make row-level security hide every row, and the replay time empty queries).
    for (const q of qs) {
      const rows = await replay(rawPool, q.statements, claims);
      // The replay's largest result: the search's rows, or the prelude's one row when nothing is readable.
      if (rows !== Math.max(q.rows, 1))
        throw new Error(`the raw replay of a ${cell} query returned ${rows} rows, the product ${q.rows}`);
    }
    // The replay check above has run every query of the cell once on the raw side; the gateway gets the same
    // untimed pass, so neither side's timed runs start on pages only the other has read.
    await runConcurrent(qs.length, 1, (i) => graphql(gateway.url, qs[i].token, qs[i].gatewayBody));
    await runConcurrent(qs.length, 1, (i) => tutorialSearch(rawPool, qs[i]));
    for (const [ci, c] of preset.concurrency.entries()) {
      const n = c === 1 ? qs.length * SINGLE_QUERY_PASSES : Math.max(qs.length, c * preset.requestsPerWorker);
      const runGateway = async (side: 'gateway' | 'gateway-list' = 'gateway'): Promise<void> => {
        const cpu0 = gateway.cpuMs();
        const own0 = process.cpuUsage();
        const body = (q: BenchQuery) => (side === 'gateway' ? q.gatewayBody : q.gatewayListBody);
        const r = await runConcurrent(n, c, (i) =>
          graphql(gateway.url, qs[i % qs.length].token, body(qs[i % qs.length])),
        );
        const own = process.cpuUsage(own0);
        rows.push({
          cell,
          concurrency: c,
          side,
          ...r,
          gatewayCpuMsPerRequest: (gateway.cpuMs() - cpu0) / n,
          clientCpuMsPerRequest: (own.user + own.system) / 1000 / n,
        });
      };
      const runRaw = async (): Promise<void> => {
        const own0 = process.cpuUsage();
        const r = await runConcurrent(n, c, (i) => replay(rawPool, qs[i % qs.length].statements, claims));
        const own = process.cpuUsage(own0);
        rows.push({
          cell,
          concurrency: c,
          side: 'raw',
          ...r,
          gatewayCpuMsPerRequest: null,
          clientCpuMsPerRequest: (own.user + own.system) / 1000 / n,
        });
      };
      const runTutorial = async (): Promise<void> => {
        const own0 = process.cpuUsage();
        const r = await runConcurrent(n, c, (i) => tutorialSearch(rawPool, qs[i % qs.length]));
        const own = process.cpuUsage(own0);
        rows.push({
          cell,
          concurrency: c,
          side: 'tutorial',
          ...r,
          gatewayCpuMsPerRequest: null,
          clientCpuMsPerRequest: (own.user + own.system) / 1000 / n,
        });
      };
      // Alternate which side goes first, so neither always meets the warmer cache.
      if (ci % 2 === 0) {
        await runRaw();
        await runGateway();
      } else {
        await runGateway();
        await runRaw();
      }
      if (c === 1) await runTutorial();
      if (c === LIST_CONCURRENCY) await runGateway('gateway-list');
      show(++done, total, `${cell} c=${c}`);
    }
  }
  return rows;
}

/** 20-section documents through `ingestDocument`, then each again with one paragraph changed. */
export async function measureGraphqlIngestion({
  merchant,
  adminToken,
  gateway,
  preset,
}: {
  merchant: MerchantPlan;
  adminToken: string;
  gateway: GatewayProcess;
  preset: Preset;
}) {
  const words = 'refund parcel invoice warranty password courier voucher subscription exchange receipt'.split(
    ' ',
  );
  const doc = (d: number, changed = -1): string =>
    Array.from(
      { length: 20 },
      (_, s) =>
        `## Section ${s}\n\nDocument ${d} section ${s}: ${words[(d + s) % words.length]} ${words[(d * 3 + s) % words.length]} ` +
        `policy details for case ${d}-${s}.${s === changed ? ' Revised wording in this paragraph.' : ''}`,
    ).join('\n\n');
  const body = (d: number, changed = -1): string =>
    JSON.stringify({
      query: INGEST,
      variables: {
        input: {
          id: `bench-ingest-${d}`,
          title: `Bench ingest ${d}`,
          text: doc(d, changed),
          acl: [ROLE_STAFF],
        },
      },
    });
  type Ingested = { ingestDocument: { chunkCount: number; embeddedChunks: number } };
  let chunks = 0;
  const firstMs: number[] = [];
  for (let d = 0; d < preset.ingestDocuments; d++) {
    const t0 = performance.now();
    const r = await graphql<Ingested>(gateway.url, adminToken, body(d));
    firstMs.push(performance.now() - t0);
    chunks += r.ingestDocument.chunkCount;
  }
  const againMs: number[] = [];
  let reEmbedded = 0;
  for (let d = 0; d < preset.ingestDocuments; d++) {
    const t0 = performance.now();
    const r = await graphql<Ingested>(gateway.url, adminToken, body(d, 7));
    againMs.push(performance.now() - t0);
    reEmbedded += r.ingestDocument.embeddedChunks;
  }
  const seconds = firstMs.reduce((a, b) => a + b, 0) / 1000;
  return {
    merchant: merchant.id,
    documents: preset.ingestDocuments,
    chunks,
    seconds,
    chunksPerSecond: chunks / seconds,
    firstIngestMsPerDocument: mean(firstMs),
    oneParagraphChangedMsPerDocument: mean(againMs),
    chunksReEmbeddedPerDocument: reEmbedded / preset.ingestDocuments,
  };
}
