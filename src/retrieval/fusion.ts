/**
 * HYBRID fusion: weighted reciprocal rank fusion,
 *
 *   score(d) = w / (K + rank_vector(d)) + (1 − w) / (K + rank_keyword(d)),   ranks from 1, a missing rank adding 0,
 *
 * divided by the best possible score (rank 1 in both), so scores lie in 0..1. Ties are broken by id: the order is
 * deterministic.
 *
 * K and w were chosen by measurement (docs/EVAL.md; bench/eval/tune-fusion.ts over the ranked lists of
 * `npm run eval -- --dump`): among RRF with K in {0..60} × w in {0.3..0.8} and convex combinations of normalized
 * scores (min-max and divided-by-max, pools of 20 and 50), K = 20, w = 0.7 had the best worst case of HYBRID minus
 * the better single mode over the tune splits of every labelled set (MRR@10 and R@5, never below 0); the held-out
 * test splits confirm it. Cormack et al.'s K = 60 with w = 0.5 let chunks both lists rank in the middle outscore a
 * chunk one list ranks first, and HYBRID fell below VECTOR on the FAQ set. The local embedder's vector side is the
 * stronger one once titles are embedded (the contextual header), hence w > 0.5.
 */
export const RRF_K = 20;
export const DEFAULT_VECTOR_WEIGHT = 0.7;

export interface Ranked {
  id: string;
}

export function fuse<T extends Ranked>(
  vector: readonly T[],
  keyword: readonly T[],
  weight: number,
): { item: T; score: number }[] {
  const best = weight / (RRF_K + 1) + (1 - weight) / (RRF_K + 1);
  const scores = new Map<string, { item: T; score: number }>();
  const add = (list: readonly T[], w: number): void =>
    list.forEach((item, i) => {
      const entry = scores.get(item.id) ?? { item, score: 0 };
      entry.score += w / (RRF_K + i + 1);
      scores.set(item.id, entry);
    });
  add(vector, weight);
  add(keyword, 1 - weight);
  return [...scores.values()]
    .map((e) => ({ item: e.item, score: best > 0 ? e.score / best : 0 }))
    .sort((a, b) => b.score - a.score || compareIds(a.item.id, b.item.id));
}

/** Numeric ids compare as numbers (bigint identity), others as strings. */
export function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}
