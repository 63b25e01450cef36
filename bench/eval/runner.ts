import { performance } from 'node:perf_hooks';
import { type Services } from '../../src/services';
import { listDocumentFiles, loadFolder, readDocumentFile } from '../../src/ingestion/folder-loader';
import { type LabelledQuestion, type LabelledSet, normTitle, type Split } from './labelled-set';
import { distinctDocuments, firstRelevantRank, type RankingMetrics, summarize } from './metrics';

export const MODES = ['KEYWORD', 'VECTOR', 'HYBRID'] as const;
export type Mode = (typeof MODES)[number];

export interface LoadedSet {
  set: LabelledSet;
  /** Questions with their relevant documents resolved to ids (titles looked up in the merchant's documents). */
  questions: (LabelledQuestion & { relevantIds: Set<string> })[];
  /** Questions dropped because no relevant id or title named a document of their merchant. */
  unresolved: number;
  documents: number;
  chunks: number;
  loadSeconds: number;
}

/** Loads every merchant folder of the set through the product's folder loader (idempotent) and resolves labels. */
export async function loadSet(
  services: Services,
  set: LabelledSet,
  log: (msg: string) => void = () => undefined,
  /** The merchant id a set's merchant folder is loaded as (tests give each run merchants of its own). */
  merchantId: (name: string) => string = (name) => name,
  options: { keepBoilerplate?: boolean } = {},
): Promise<LoadedSet> {
  const t0 = performance.now();
  let documents = 0;
  let chunks = 0;
  const idsByMerchant = new Map<string, { ids: Set<string>; byTitle: Map<string, string[]> }>();
  let i = 0;
  for (const [merchant, dir] of set.merchants) {
    const s = await loadFolder(services, merchantId(merchant), dir, {
      merchantName: merchant,
      ...(options.keepBoilerplate ? { boilerplate: false as const } : {}),
    });
    documents += s.files;
    chunks += s.chunks;
    log(
      `  ${++i}/${set.merchants.size} ${merchant}: ${s.files} documents, ${s.chunks} chunks (${s.skipped} unchanged); ` +
        `boilerplate: ${s.boilerplate.removedBlocks} blocks out of ${s.boilerplate.documents} documents` +
        s.boilerplate.blocks
          .slice(0, 3)
          .map((b) => ` [${b.files}× ${b.text.slice(0, 50)}]`)
          .join(''),
    );
    const ids = new Set<string>();
    const byTitle = new Map<string, string[]>();
    for (const file of listDocumentFiles(dir)) {
      const doc = readDocumentFile(file);
      ids.add(doc.id!);
      const key = normTitle(doc.title ?? '');
      byTitle.set(key, [...(byTitle.get(key) ?? []), doc.id!]);
    }
    idsByMerchant.set(merchant, { ids, byTitle });
  }
  let unresolved = 0;
  const questions: LoadedSet['questions'] = [];
  for (const q of set.questions) {
    const m = idsByMerchant.get(q.merchant)!;
    const relevantIds = new Set([
      ...q.relevant.filter((id) => m.ids.has(id)),
      ...q.relevantTitles.flatMap((t) => m.byTitle.get(normTitle(t)) ?? []),
    ]);
    if (relevantIds.size === 0) unresolved++;
    else questions.push({ ...q, merchant: merchantId(q.merchant), relevantIds });
  }
  return { set, questions, unresolved, documents, chunks, loadSeconds: (performance.now() - t0) / 1000 };
}

export interface ModeResult {
  mode: Mode;
  all: RankingMetrics;
  tune: RankingMetrics;
  test: RankingMetrics;
  latencyMs: { p50: number; p95: number; mean: number };
  serverMs: { mean: number };
  errors: number;
}

export interface AskOptions {
  endpoint: string;
  /** A bearer token for a reader of this merchant's documents. */
  token: (merchant: string) => string;
  k: number;
  hybridWeight?: number;
}

export interface RankedChunk {
  id: string;
  documentId: string | null;
  score: number;
}

const QUERY = `query Eval($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { tookMs chunks { id documentId score } }
}`;

/** One question through the real GraphQL endpoint: the documents in rank order, and the timings. */
export async function ask(
  opts: AskOptions,
  q: { merchant: string; question: string },
  mode: Mode,
): Promise<{ documents: string[]; chunks: RankedChunk[]; ms: number; serverMs: number }> {
  const t0 = performance.now();
  const res = await fetch(opts.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.token(q.merchant)}` },
    body: JSON.stringify({
      query: QUERY,
      variables: {
        input: {
          query: q.question,
          k: opts.k,
          mode,
          ...(opts.hybridWeight !== undefined ? { hybridWeight: opts.hybridWeight } : {}),
        },
      },
    }),
  });
  const body = (await res.json()) as {
    data?: { retrieveChunks: { tookMs: number; chunks: RankedChunk[] } };
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const ms = performance.now() - t0;
  if (!body.data?.retrieveChunks) {
    const e = body.errors?.[0];
    throw new Error(`HTTP ${res.status}: ${e?.extensions?.code ?? ''} ${e?.message ?? 'no data'}`);
  }
  const chunks = body.data.retrieveChunks.chunks;
  return {
    documents: distinctDocuments(chunks),
    chunks,
    ms,
    serverMs: body.data.retrieveChunks.tookMs,
  };
}

/** Every question in every mode, one request at a time (latency is per request, not under load). */
export async function evaluate(
  opts: AskOptions,
  loaded: LoadedSet,
  modes: readonly Mode[] = MODES,
  /** Sees every answer (e.g. to keep the ranked lists for offline fusion tuning). */
  onAnswer?: (q: LoadedSet['questions'][number], mode: Mode, chunks: RankedChunk[]) => void,
): Promise<{ results: ModeResult[]; ranks: Map<string, Partial<Record<Mode, number | null>>> }> {
  const ranks = new Map<string, Partial<Record<Mode, number | null>>>();
  const results: ModeResult[] = [];
  for (const mode of modes) {
    const outcomes: { split: Split; rank: number | null }[] = [];
    const latencies: number[] = [];
    const server: number[] = [];
    let errors = 0;
    for (const q of loaded.questions) {
      let rank: number | null = null;
      try {
        const r = await ask(opts, q, mode);
        rank = firstRelevantRank(r.documents, q.relevantIds);
        onAnswer?.(q, mode, r.chunks);
        latencies.push(r.ms);
        server.push(r.serverMs);
      } catch (err) {
        // A question the gateway refuses (e.g. longer than the query limit) counts as unanswered, and is reported.
        errors++;
        if (errors <= 3)
          console.warn(`  ${mode} ${q.id}: ${err instanceof Error ? err.message : String(err)}`);
      }
      outcomes.push({ split: q.split, rank });
      ranks.set(q.id, { ...ranks.get(q.id), [mode]: rank });
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const pct = (p: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
    const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
    results.push({
      mode,
      all: summarize(outcomes),
      tune: summarize(outcomes.filter((o) => o.split === 'tune')),
      test: summarize(outcomes.filter((o) => o.split === 'test')),
      latencyMs: { p50: pct(0.5), p95: pct(0.95), mean: mean(latencies) },
      serverMs: { mean: mean(server) },
      errors,
    });
  }
  return { results, ranks };
}
