/**
 * Calibration's arithmetic, apart from its I/O: when a measured setting counts as reaching the recall target, and
 * the cost models that place the threshold between the exact scan and an approximate path.
 */

/** The recall every approximate setting must reach on both readers, or the merchant is answered exactly. */
export const RECALL_TARGET = 0.99;

/**
 * Whether a setting reaches the target: the full reader's recall proven (recallLowerBound), and the narrow reader's
 * proven too where it takes this path. Where the threshold answers it exactly (its approximate scan costs more than
 * the exact one: an HNSW scan for a reader of 2% of the large benchmark's 60,000-chunk merchant took 34–42 ms, its
 * exact scan 20), its point estimate must still reach the target: it brackets the readers between it and the full
 * reader with the full reader's proof. Required to prove it there, that merchant was stored 'none' (every reader
 * exact, up to 60,000 rows) in two of five calibrations on 2026-12-06: its narrow reader (2% of the chunks) measured
 * 0.984–0.998 at every setting from ef_search 40 to 1,000, and the bound allows one miss in 500.
 */
export function settingReached(
  full: { found: number; expected: number },
  narrow: { found: number; expected: number; answeredExactly: boolean } | null,
): boolean {
  const proven = (c: { found: number; expected: number }) =>
    recallLowerBound(c.found, c.expected) >= RECALL_TARGET;
  if (!proven(full)) return false;
  if (narrow === null || proven(narrow)) return true;
  return narrow.answeredExactly && narrow.found >= RECALL_TARGET * narrow.expected;
}

/**
 * The recall a setting can be trusted to reach: the one-sided 95% Wilson lower bound of found / expected. The sample
 * is drawn from the merchant's own chunks, and queries from elsewhere sit less close to the corpus: a setting
 * measured at 0.996 on 50 own vectors (2 misses in 500) answered held-out queries at 0.975
 * (docs/benchmarks/bench-small.md, xl/staff). With the bound, 50 queries pass with at most one miss in 500, and fewer
 * than 27 never pass.
 */
export function recallLowerBound(found: number, expected: number): number {
  if (expected === 0) return 1;
  const z = 1.645;
  const n = expected;
  const p = found / n;
  const z2 = z * z;
  return (p + z2 / (2 * n) - z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
}

/**
 * The exact scan's cost as a fixed part (the transaction, the readable ids of the merchant's index range, the
 * sort) plus a part per readable row (its heap page and its distance), fitted through the two readers measured.
 * One reader alone would charge the fixed part to its rows: a per-row cost that is too high for a broad reader and
 * too low for a narrow one. Without a narrow reader, or when noise makes the line meaningless (a narrow reader
 * that cost more), the cost is taken as proportional to the rows.
 */
export function exactCostModel(
  full: { rows: number; ms: number },
  narrow: { rows: number; ms: number } | null,
): { fixedMs: number; perRowMs: number } {
  const proportional = { fixedMs: 0, perRowMs: full.rows > 0 ? full.ms / full.rows : 0 };
  if (narrow === null || narrow.rows >= full.rows) return proportional;
  const perRowMs = (full.ms - narrow.ms) / (full.rows - narrow.rows);
  const fixedMs = full.ms - perRowMs * full.rows;
  return perRowMs > 0 && fixedMs >= 0 ? { fixedMs, perRowMs } : proportional;
}

/**
 * The approximate path's cost for a reader of a given share of the merchant, as a fixed part plus a part that grows
 * as the share shrinks, fitted through the full reader and the narrow one. A filtered HNSW scan walks the graph until
 * enough readable rows came up, about candidates / share rows: on the large benchmark's 60,000-chunk merchant
 * (ef_search 200, 40 candidates) a reader of everything took 9 ms a query, one of 30% 10 ms, one of 2% 42 ms. Without
 * a narrow reader, or where the narrow reader cost no more (the quantized scan reads every readable row's bits
 * whoever reads), the full reader's cost for everyone.
 */
export function approximateCostModel(
  full: { share: number; ms: number },
  narrow: { share: number; ms: number } | null,
): { fixedMs: number; perInverseShareMs: number } {
  if (narrow === null || narrow.ms <= full.ms || narrow.share <= 0 || narrow.share >= full.share)
    return { fixedMs: full.ms, perInverseShareMs: 0 };
  const perInverseShareMs = (narrow.ms - full.ms) / (1 / narrow.share - 1 / full.share);
  return { fixedMs: full.ms - perInverseShareMs / full.share, perInverseShareMs };
}

/**
 * The readable count up to which the exact scan costs no more than the approximate path: where the exact line
 * (fixed + perRow · n) meets the approximate curve (fixed + perInverseShare · rows / n), within [minimum, rows].
 */
export function breakEvenReadable(
  exact: { fixedMs: number; perRowMs: number },
  approximate: { fixedMs: number; perInverseShareMs: number },
  rows: number,
  minimum: number,
): number {
  const clamp = (n: number) => Math.min(Math.max(Math.floor(n), minimum), rows);
  if (exact.perRowMs <= 0) return rows;
  // perRow · n² + (exactFixed − approximateFixed) · n − perInverseShare · rows = 0, its positive root.
  const a = exact.perRowMs;
  const b = exact.fixedMs - approximate.fixedMs;
  const c = -approximate.perInverseShareMs * rows;
  if (c === 0) return clamp(-b / a);
  return clamp((-b + Math.sqrt(b * b - 4 * a * c)) / (2 * a));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The threshold a setting gives: the fitted break-even, except where the narrow reader was timed on both paths and
 * its exact scan was no slower: then the measurement decides for a reader of its size, and the threshold covers it.
 * Near the fitted curves' crossing, noise in the fit flipped the large benchmark's 2% reader (1,170 of 60,000
 * chunks) between the paths from one setting to the next (threshold 1,224, 1,159, 1,000, 1,917 over four settings,
 * while its graph walk took 45-83 ms), and with it the proof it needs, so the stored setting ranged from (100, 40)
 * to (1000, 400) between runs (docs/RETRIEVAL.md, "Calibration").
 */
export function measuredThreshold(
  fitted: number,
  narrow: { rows: number; exactMs: number; approximateMs: number } | null,
): number {
  return narrow !== null && narrow.exactMs <= narrow.approximateMs ? Math.max(fitted, narrow.rows) : fitted;
}

/**
 * How many of `got` are right answers against the exact top k (sorted by distance): those among them, and those as
 * close as their last (identical texts have identical vectors, and any copy is a right answer). What
 * `npm run bench:real-recall` reports beside the strict count by id; the calibration counts strictly, which is the
 * safer side (calibration.service.ts).
 */
export function answersFound(
  got: readonly { id: string; distance: number }[],
  exact: readonly { id: string; distance: number }[],
): number {
  const ids = new Set(exact.map((h) => h.id));
  const last = exact.length === 0 ? -Infinity : exact[exact.length - 1].distance;
  const found = got.filter((h) => ids.has(h.id) || h.distance <= last + 1e-9).length;
  return Math.min(found, exact.length);
}
