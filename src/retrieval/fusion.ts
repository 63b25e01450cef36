/**
 * HYBRID fusion: weighted reciprocal rank fusion,
 *
 *   score(d) = w / (K + rank_vector(d)) + (1 − w) / (K + rank_keyword(d)),   ranks from 1, a missing rank adding 0,
 *
 * divided by the best possible score (rank 1 in both), so scores lie in 0..1. Ties are broken by id: the order is
 * deterministic.
 *
 * K and w were chosen by measurement (docs/EVAL.md; bench/eval/tune-fusion.ts over the ranked lists of
 * `npm run eval -- --dump`, on the tune splits of the two shared sets and the regression fixture, the test splits
 * held out): among RRF with K in {0..60} × w in {0.1..0.8} × per-side pools of 10/20/50 and convex combinations of
 * normalized scores (min-max, divided-by-max, BM25 un-squashed; pools 20/50), K = 20, w = 0.15 with pools of 50
 * is among those whose worst margin of HYBRID over the better single mode (MRR@10 and R@5, every set) is ≥ 0 on
 * tune, in a flat region (w 0.1–0.2 and K 7–20 within 0.005), and it stays ≥ 0 on every test split; the convex
 * combinations that tied on tune fell 0.009 below VECTOR on the FAQ's test split. Since the keyword side became
 * BM25 over weighted titles (migration 1765000000000) it is the stronger side on the manuals and the regression
 * set, and close on the FAQ; the vector side mostly reorders the keyword side's near-ties and adds what it misses.
 * The earlier choice (w = 0.7, for the ts_rank_cd keyword side) now falls 0.075 below KEYWORD on the manuals.
 */
export const RRF_K = 20;
export const DEFAULT_VECTOR_WEIGHT = 0.15;

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
