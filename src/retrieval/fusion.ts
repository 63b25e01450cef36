/**
 * Weighted reciprocal rank fusion: score(d) = w / (K + rank_vector(d)) + (1 - w) / (K + rank_keyword(d)), ranks
 * from 1, a missing rank contributing 0. K = 60 as in Cormack et al.; it damps the head so neither list dominates
 * by its top item alone. Scores are divided by the best possible score (rank 1 in both), so they lie in 0..1.
 * Ties are broken by id: the order is deterministic.
 */
export const RRF_K = 60;

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
