import { Embeddings } from '@langchain/core/embeddings';
import { type Services } from '../../src/services';
import { type Database } from '../../src/db/database';
import { log } from '../bench-utils';
import { runCalibration } from '../calibration-phase';
import { type CorpusParams, ROLE_CONTRACTOR, ROLE_STAFF, type SizeClass } from '../corpus-generator';
import { type Recorded } from '../load-harness';

/** The benchmark's presets, its query records and the small helpers its phases share (bench/run.bench.ts). */

export interface Preset {
  corpus: Omit<CorpusParams, 'seed' | 'dimensions'>;
  /** Queries per (size class, role) cell. */
  queriesPerCell: number;
  /** Merchants sampled per size class (queries cycle over them). */
  merchantsPerClass: number;
  concurrency: number[];
  /**
   * Requests per worker at each concurrency above 1, and passes over the cell's queries at concurrency 1: enough
   * that a p95 is not the second-largest of a couple of dozen samples and that ramp-up and the last requests in
   * flight are a small part of a throughput run (4 per worker and one pass, before 2026-12-06: 24 requests at
   * concurrency 1 and 32 at 8, a fifth of a second per side).
   */
  requestsPerWorker: number;
  /** Manuals of the relevance set to load: the two labelled ones first. */
  manuals: number;
  /** Documents (20 sections each) ingested through GraphQL. */
  ingestDocuments: number;
}

export const PRESETS: Record<'small' | 'large', Preset> = {
  small: {
    corpus: {
      totalChunks: 12_000,
      xlShare: 0.3,
      largeCount: 4,
      largeShare: 0.05,
      mediumShare: 0.1,
      mediumRange: [500, 1000],
      smallRange: [20, 500],
      chunksPerDocument: [3, 8],
      ticketShare: 0.1,
      contractorShare: 0.3,
      staffShare: 0.97,
    },
    queriesPerCell: 20,
    merchantsPerClass: 6,
    concurrency: [1, 8, 32],
    requestsPerWorker: 20,
    manuals: 4,
    ingestDocuments: 10,
  },
  large: {
    corpus: {
      totalChunks: 200_000,
      xlShare: 0.3,
      largeCount: 4,
      largeShare: 0.05,
      mediumShare: 0.1,
      mediumRange: [1000, 5000],
      smallRange: [20, 500],
      chunksPerDocument: [3, 8],
      ticketShare: 0.1,
      contractorShare: 0.3,
      staffShare: 0.97,
    },
    queriesPerCell: 24,
    merchantsPerClass: 8,
    concurrency: [1, 8, 32],
    requestsPerWorker: 20,
    manuals: 6,
    ingestDocuments: 20,
  },
};

export const K = 10;
export const ROLES = { staff: ROLE_STAFF, contractor: ROLE_CONTRACTOR } as const;
export type Role = keyof typeof ROLES;
export const SHARED_TABLE = 'bench_alternatives';

export interface BenchQuery {
  cell: string;
  sizeClass: SizeClass;
  role: Role;
  merchantId: string;
  principals: string[];
  token: string;
  embedding: number[];
  /** The exact top-k by a sequential scan, and how many chunks the caller may read in all. */
  truth: string[];
  readable: number;
  /** The request as the gateway gets it: the vector as `embeddingBase64` (little-endian float32). */
  gatewayBody: string;
  /** The same request with the vector as the JSON list `embedding`, timed at LIST_CONCURRENCY only. */
  gatewayListBody: string;
  statements: Recorded[];
  /** Rows the product returned for it (the raw replay must return as many). */
  rows: number;
}

export const RETRIEVE = `query Bench($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { strategy chunks { id similarity } }
}`;
export const INGEST = `mutation Ingest($input: IngestDocumentInput!) {
  ingestDocument(input: $input) { chunkCount embeddedChunks reusedChunks }
}`;

/** LangChain's store embeds nothing here: queries come with their vectors, as on our side. */
export class PrecomputedEmbeddings extends Embeddings {
  constructor() {
    super({});
  }
  embedDocuments(): Promise<number[][]> {
    return Promise.reject(new Error('the benchmark passes vectors'));
  }
  embedQuery(): Promise<number[]> {
    return Promise.reject(new Error('the benchmark passes vectors'));
  }
}

export const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
export const mean = (xs: number[]): number =>
  xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** The product's index maintenance (`npm run vector-index`): dedicated HNSW indexes for merchants that need one. */
export async function runIndexMaintenance(services: Services, db: Database): Promise<string> {
  const reports = await services.indexes.maintain({
    onProgress: (r) =>
      log(`  ${r.merchantId}: ${r.outcome} ${r.indexName ?? ''} (${(r.ms / 1000).toFixed(1)} s)`),
  });
  const calibration = await runCalibration(services, db, log);
  if (reports.length === 0) return `no merchant needed a dedicated index; ${calibration}`;
  return `${reports
    .map((r) => `${r.merchantId} ${r.outcome} ${r.indexName ?? ''} in ${(r.ms / 1000).toFixed(1)} s`)
    .join('; ')}; ${calibration}`;
}

/** The same database, connected as the request role `srg_gateway` (BENCH_GATEWAY_DATABASE_URL overrides). */
export function gatewayUrl(ownerUrl: string): string {
  const explicit = process.env.BENCH_GATEWAY_DATABASE_URL?.trim();
  if (explicit) return explicit;
  const u = new URL(ownerUrl);
  u.username = 'srg_gateway';
  u.password = process.env.SRG_GATEWAY_PASSWORD ?? '';
  return u.toString();
}
