/**
 * Ranking metrics over DOCUMENTS: the retrieved chunks are reduced to their distinct documents in order (a
 * document's rank is that of its best chunk), and a question counts as answered at n when a relevant document is
 * among the first n. MRR@10 is the mean of 1/rank of the first relevant document within the first 10 (0 beyond).
 */
export interface QuestionOutcome {
  /** 1-based rank of the first relevant document, or null when none was retrieved. */
  rank: number | null;
}

export interface RankingMetrics {
  questions: number;
  recallAt1: number;
  recallAt5: number;
  recallAt10: number;
  mrrAt10: number;
}

export function distinctDocuments(chunks: readonly { documentId?: string | null }[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const c of chunks) {
    const d = c.documentId;
    if (d === null || d === undefined || seen.has(d)) continue;
    seen.add(d);
    out.push(d);
  }
  return out;
}

export function firstRelevantRank(
  documents: readonly string[],
  relevant: ReadonlySet<string>,
): number | null {
  const i = documents.findIndex((d) => relevant.has(d));
  return i < 0 ? null : i + 1;
}

export function summarize(outcomes: readonly QuestionOutcome[]): RankingMetrics {
  const n = outcomes.length;
  const at = (k: number): number =>
    n === 0 ? NaN : outcomes.filter((o) => o.rank !== null && o.rank <= k).length / n;
  const mrr =
    n === 0 ? NaN : outcomes.reduce((s, o) => s + (o.rank !== null && o.rank <= 10 ? 1 / o.rank : 0), 0) / n;
  return { questions: n, recallAt1: at(1), recallAt5: at(5), recallAt10: at(10), mrrAt10: mrr };
}
