/**
 * HYBRID fusion: a convex combination of the two lists' scores, each divided by its list's best score:
 *
 *   score(d) = w · sim(d) / max sim  +  (1 − w) · rank(d) / max rank
 *
 * with sim the cosine similarity of the vector side (negative values count as 0), rank the normalized text rank
 * of the keyword side, and a chunk missing from a list contributing 0 there. Scores lie in 0..1; 1 means best in
 * both lists.
 *
 * Chosen by measurement over reciprocal rank fusion (docs/EVAL.md, bench/eval/tune-fusion.ts): RRF throws the
 * scores away, so a chunk that only the keyword side ranks first (a rare exact term) lost to chunks both lists rank
 * in the middle, and HYBRID fell below VECTOR on the FAQ set and below both on the manuals' held-out split. Dividing
 * by the maximum (not min-max) keeps each side's confidence: a keyword list whose runner-up scores half the winner
 * says more than one whose scores are all alike, and the result does not depend on how deep the pools are.
 * w = 0.6 was the best worst case over the sets' tune splits; the test splits confirm it.
 * Ties are broken by id: the order is deterministic.
 */
export const DEFAULT_VECTOR_WEIGHT = 0.6;

export interface Ranked {
  id: string;
  /** Cosine distance to the query (1 − similarity). */
  distance: number;
}

export function fuse<T extends Ranked>(
  vector: readonly T[],
  keyword: readonly (T & { rank: number })[],
  weight: number,
): { item: T; score: number }[] {
  const scores = new Map<string, { item: T; score: number }>();
  const add = (list: readonly T[], value: (item: T) => number, w: number): void => {
    if (w <= 0) {
      // Still listed (with nothing added), so that weight 0 or 1 orders the other list's items after the first.
      for (const item of list) if (!scores.has(item.id)) scores.set(item.id, { item, score: 0 });
      return;
    }
    let best = 0;
    for (const item of list) best = Math.max(best, value(item));
    for (const item of list) {
      const entry = scores.get(item.id) ?? { item, score: 0 };
      entry.score += best > 0 ? (w * Math.max(0, value(item))) / best : 0;
      scores.set(item.id, entry);
    }
  };
  add(vector, (h) => 1 - h.distance, weight);
  add(keyword, (h) => (h as T & { rank: number }).rank, 1 - weight);
  return [...scores.values()].sort((a, b) => b.score - a.score || compareIds(a.item.id, b.item.id));
}

/** Numeric ids compare as numbers (bigint identity), others as strings. */
export function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}
