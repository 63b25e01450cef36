import { performance } from 'node:perf_hooks';
import { createGateway, type Gateway } from '../../src/app';
import { signToken } from '../../src/auth/jwt';
import { loadConfig } from '../../src/config/config';
import { type Database, openDatabase } from '../../src/db/database';
import { createEmbedder } from '../../src/embeddings/embedder.factory';
import { percentile } from '../bench-utils';

/** What bench:citus (bench/citus.bench.ts) and its operations part (citus-operations.ts) share. */

export const SECRET = 'citus-bench-secret-that-is-long-enough-0123456789';

export const TOPICS = [
  'refund return money back card statement credit',
  'password reset login two factor account locked',
  'shipping delivery parcel tracking carrier courier',
  'warranty defect repair replacement broken faulty',
  'invoice billing tax receipt payment charge',
  'subscription plan upgrade cancel renewal trial',
];
export const QUERIES = [
  'how long until my refund reaches the card',
  'I am locked out and need a password reset',
  'where is my parcel, tracking shows nothing',
  'my device is broken, is it under warranty',
  'I need a tax invoice for my payment',
  'cancel my subscription before renewal',
];
export const MODES = ['VECTOR', 'HYBRID', 'KEYWORD'] as const;
export const BIG = 'ops-big';

export interface Target {
  name: 'single' | 'citus';
  db: Database;
  gateway: Gateway;
  endpoint: string;
}

const gatewayUrl = (owner: string): string => {
  const u = new URL(owner);
  u.username = 'srg_gateway';
  u.password = '';
  return u.toString();
};

export async function start(name: Target['name'], owner: string): Promise<Target> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: gatewayUrl(owner),
    MIGRATION_DATABASE_URL: owner,
    AUTH_JWT_SECRET: SECRET,
    RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
    RATE_LIMIT_CALLER_PER_MINUTE: '0',
    RETRIEVAL_EXACT_SCAN_MAX_ROWS: '200',
    RETRIEVAL_DEDICATED_INDEX_MIN_ROWS: '400',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
    DB_POOL_SIZE: '12',
  });
  const db = await openDatabase(config, { migrate: true });
  const gateway = await createGateway({ config, db, embedder: createEmbedder(config), jwtSecret: SECRET });
  const endpoint = await gateway.listen(0, '127.0.0.1');
  return { name, db, gateway, endpoint };
}

export function documentText(rand: () => number, topic: string, doc: number): string {
  const words = topic.split(' ');
  const pick = () => words[Math.floor(rand() * words.length)];
  return [0, 1, 2, 3]
    .map(
      (s) =>
        `## Part ${s} ${pick()}\n\n` +
        Array.from(
          { length: 3 },
          (_, i) => `Item ${doc}-${s}-${i} covers ${pick()} and ${pick()} for ${pick()} cases.`,
        ).join(' '),
    )
    .join('\n\n');
}

export interface Answer {
  ok: boolean;
  code?: string;
  ms: number;
  strategy?: string;
  chunks?: string[];
}

export async function gql(
  endpoint: string,
  query: string,
  variables: Record<string, unknown>,
  merchantId: string,
  roles = ['agent'],
  userId = 'agent-1',
): Promise<{
  ms: number;
  body: { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: string } }[] };
}> {
  const token = signToken({ sub: userId, merchantId, roles }, SECRET);
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    return { ms: performance.now() - started, body: { errors: [{ extensions: { code: 'HTTP_FAILED' } }] } };
  }
  const body = (await res.json()) as {
    data?: Record<string, unknown> | null;
    errors?: { extensions?: { code?: string } }[];
  };
  return { ms: performance.now() - started, body };
}

export const RETRIEVE = `query R($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { strategy chunks { documentId chunkIndex } }
}`;
export const INGEST = `mutation I($input: IngestDocumentInput!) { ingestDocument(input: $input) { document { id } } }`;

export async function retrieve(
  endpoint: string,
  merchant: string,
  query: string,
  mode: string,
): Promise<Answer> {
  const { ms, body } = await gql(endpoint, RETRIEVE, { input: { query, k: 10, mode } }, merchant);
  if (body.errors?.length) return { ok: false, code: body.errors[0].extensions?.code ?? 'UNKNOWN', ms };
  const r = body.data!.retrieveChunks as {
    strategy: string;
    chunks: { documentId: string; chunkIndex: number }[];
  };
  return {
    ok: true,
    ms,
    strategy: r.strategy,
    chunks: r.chunks.map((c) => `${c.documentId}#${c.chunkIndex}`),
  };
}

export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}

export const summary = (ms: number[]) => ({
  n: ms.length,
  p50: Math.round(percentile(ms, 0.5) * 10) / 10,
  p95: Math.round(percentile(ms, 0.95) * 10) / 10,
  mean: Math.round((ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length)) * 10) / 10,
});
