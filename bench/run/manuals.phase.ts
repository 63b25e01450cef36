import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Services } from '../../src/services';
import { principalsFor, type TenantScope } from '../../src/auth/identity';
import { loadFolder } from '../../src/ingestion/folder-loader';
import { log } from '../bench-utils';
import { reciprocalRank, ROLE_CONTRACTOR, ROLE_STAFF } from '../corpus-generator';
import { type readManual, readQuestions, writeManualFolder } from '../samsung-relevance';
import { K } from './setup';

/** The real manuals of the relevance set: loaded with the product's folder loader, then asked their questions. */

type Manual = ReturnType<typeof readManual>;

export async function loadManuals(services: Services, manuals: Manual[], manualDir: string) {
  let chunks = 0;
  let files = 0;
  const t0 = performance.now();
  for (const [i, manual] of manuals.entries()) {
    const dir = path.join(manualDir, manual.merchantId);
    writeManualFolder(manual, dir, [ROLE_STAFF, ROLE_CONTRACTOR]);
    const s = await loadFolder(services, manual.merchantId, dir, { merchantName: manual.name });
    chunks += s.chunks;
    files += s.files;
    log(`  ${i + 1}/${manuals.length} ${manual.merchantId}: ${s.files} sections, ${s.chunks} chunks`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { manuals: manuals.length, files, chunks, seconds, chunksPerSecond: chunks / seconds };
}

/** VECTOR, KEYWORD and HYBRID over the labelled manuals: recall@5 and MRR@10 by distinct document. */
export async function measureRelevance(services: Services, manuals: Manual[]) {
  const out: {
    manual: string;
    questions: number;
    unmatchedLabels: number;
    mode: string;
    recallAt5: number;
    mrrAt10: number;
  }[] = [];
  for (const manual of manuals.filter((m) => m.questionsFile)) {
    const { questions, unmatched } = readQuestions(manual);
    const scope: TenantScope = {
      merchantId: manual.merchantId,
      principals: principalsFor('eval', ['staff']),
    };
    // The request path: a tenant session (row-level security context) for this reader.
    const session = services.sessions.open({
      userId: 'eval',
      roles: ['staff'],
      merchantId: scope.merchantId,
      principals: [...scope.principals],
    });
    for (const mode of ['vector', 'keyword', 'hybrid'] as const) {
      let hits5 = 0;
      let rr = 0;
      for (const q of questions) {
        const r = await services.retrieval.retrieve(session, { query: q.question, k: K, mode });
        const docs = [...new Set(r.chunks.map((c) => c.documentId ?? ''))];
        if (docs.slice(0, 5).some((d) => q.relevant.has(d))) hits5++;
        rr += reciprocalRank(docs, q.relevant, K);
      }
      out.push({
        manual: manual.name,
        questions: questions.length,
        unmatchedLabels: unmatched,
        mode: mode.toUpperCase(),
        recallAt5: questions.length ? hits5 / questions.length : NaN,
        mrrAt10: questions.length ? rr / questions.length : NaN,
      });
    }
  }
  return out;
}
