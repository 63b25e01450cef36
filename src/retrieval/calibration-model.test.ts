import {
  answersFound,
  approximateCostModel,
  breakEvenReadable,
  exactCostModel,
  measuredThreshold,
  recallLowerBound,
  settingReached,
} from './calibration-model';

describe('recallLowerBound', () => {
  it('trusts a sample of 50 queries (500 answers) with at most one miss', () => {
    expect(recallLowerBound(500, 500)).toBeGreaterThanOrEqual(0.99);
    expect(recallLowerBound(499, 500)).toBeGreaterThanOrEqual(0.99);
    expect(recallLowerBound(498, 500)).toBeLessThan(0.99);
  });
  it('never trusts fewer than 27 queries, and counts an empty reader as reached', () => {
    expect(recallLowerBound(260, 260)).toBeLessThan(0.99);
    expect(recallLowerBound(270, 270)).toBeGreaterThanOrEqual(0.99);
    expect(recallLowerBound(0, 0)).toBe(1);
  });
});

describe('exactCostModel', () => {
  it('splits the exact cost into a fixed part and a part per readable row through both readers', () => {
    // 3,600 readable rows in 9 ms, 1,000 in 4 ms: 5 ms per 2,600 rows, and 2.08 ms whatever the reader.
    const m = exactCostModel({ rows: 3600, ms: 9 }, { rows: 1000, ms: 4 });
    expect(m.perRowMs).toBeCloseTo(5 / 2600, 9);
    expect(m.fixedMs).toBeCloseTo(9 - (5 / 2600) * 3600, 9);
    // The break-even with a 6 ms approximate path: where the line reaches 6 ms (2,040 rows), not 2,400 = 6 / (9 / 3600).
    expect(Math.floor((6 - m.fixedMs) / m.perRowMs)).toBe(2040);
  });
  it('falls back to a cost proportional to the rows without a usable narrow reader', () => {
    expect(exactCostModel({ rows: 3600, ms: 9 }, null)).toEqual({ fixedMs: 0, perRowMs: 9 / 3600 });
    // Noise: the narrow reader cost more than the full one.
    expect(exactCostModel({ rows: 3600, ms: 9 }, { rows: 1000, ms: 10 })).toEqual({
      fixedMs: 0,
      perRowMs: 9 / 3600,
    });
    // A line through both would have a negative fixed part.
    expect(exactCostModel({ rows: 3600, ms: 9 }, { rows: 1000, ms: 1 })).toEqual({
      fixedMs: 0,
      perRowMs: 9 / 3600,
    });
  });
});

describe('approximateCostModel and breakEvenReadable', () => {
  // The large benchmark's 60,000-chunk merchant (2026-12-07, ef_search 200 and 40 candidates): HNSW 9.3 ms a query
  // for a reader of everything, 42.4 ms for a reader of 2% (1,170 chunks); the exact scan 20.5 ms for that reader.
  const exact = { fixedMs: 15.6, perRowMs: 0.0042 };
  it('charges a narrow reader the extra graph it walks, as the inverse of its share', () => {
    const m = approximateCostModel({ share: 1, ms: 9.3 }, { share: 0.0195, ms: 42.4 });
    expect(m.fixedMs + m.perInverseShareMs).toBeCloseTo(9.3, 9);
    expect(m.fixedMs + m.perInverseShareMs / 0.0195).toBeCloseTo(42.4, 9);
  });
  it('puts the threshold where the exact scan and the approximate path cost the same for that reader', () => {
    const approx = approximateCostModel({ share: 1, ms: 9.3 }, { share: 0.0195, ms: 42.4 });
    const n = breakEvenReadable(exact, approx, 60_000, 1000);
    // About 2,350 readable chunks, ~25 ms either way: the 2% reader (1,170) is answered exactly, at half the cost.
    expect(n).toBeGreaterThan(2300);
    expect(n).toBeLessThan(2400);
    const exactMs = exact.fixedMs + exact.perRowMs * n;
    expect(exactMs).toBeCloseTo(approx.fixedMs + (approx.perInverseShareMs * 60_000) / n, 1);
    // Charged the full reader's 9.3 ms whoever reads, as before, the exact scan never wins: the default threshold.
    expect(breakEvenReadable(exact, { fixedMs: 9.3, perInverseShareMs: 0 }, 60_000, 1000)).toBe(1000);
  });
  it("keeps the full reader's cost for everyone when the narrow reader cost no more, or is missing", () => {
    // The quantized scan: every readable row's bits are read whoever reads, a narrow reader is not dearer.
    expect(approximateCostModel({ share: 1, ms: 18 }, { share: 0.3, ms: 15 })).toEqual({
      fixedMs: 18,
      perInverseShareMs: 0,
    });
    expect(approximateCostModel({ share: 1, ms: 18 }, null)).toEqual({ fixedMs: 18, perInverseShareMs: 0 });
    // The line of exactCostModel's test (2.08 ms + 5/2600 ms a row) meets 6 ms at 2,040 rows, as before.
    const line = exactCostModel({ rows: 3600, ms: 9 }, { rows: 1000, ms: 4 });
    expect(breakEvenReadable(line, { fixedMs: 6, perInverseShareMs: 0 }, 3600, 1000)).toBe(2040);
  });
  it('stays within the configured threshold and the merchant', () => {
    expect(breakEvenReadable(exact, { fixedMs: 400, perInverseShareMs: 0 }, 60_000, 1000)).toBe(60_000);
    expect(
      breakEvenReadable({ fixedMs: 0, perRowMs: 0 }, { fixedMs: 1, perInverseShareMs: 0 }, 5000, 1000),
    ).toBe(5000);
  });
});

describe('settingReached', () => {
  const full = { found: 500, expected: 500 };
  it('needs the full reader proven, and the narrow reader proven where it takes the path', () => {
    expect(settingReached(full, null)).toBe(true);
    expect(settingReached({ found: 498, expected: 500 }, null)).toBe(false);
    expect(settingReached(full, { found: 499, expected: 500, answeredExactly: false })).toBe(true);
    expect(settingReached(full, { found: 498, expected: 500, answeredExactly: false })).toBe(false);
  });
  it('takes the point estimate of a narrow reader the threshold answers exactly', () => {
    expect(settingReached(full, { found: 498, expected: 500, answeredExactly: true })).toBe(true);
    expect(settingReached(full, { found: 495, expected: 500, answeredExactly: true })).toBe(true);
    expect(settingReached(full, { found: 494, expected: 500, answeredExactly: true })).toBe(false);
    expect(
      settingReached({ found: 498, expected: 500 }, { found: 500, expected: 500, answeredExactly: true }),
    ).toBe(false);
  });
});

describe('measuredThreshold', () => {
  it('covers the narrow reader where its exact scan was measured no slower, whatever the fit says', () => {
    const narrow = { rows: 1_170, exactMs: 20, approximateMs: 45 };
    expect(measuredThreshold(1_000, narrow)).toBe(1_170);
    expect(measuredThreshold(1_917, narrow)).toBe(1_917);
    expect(measuredThreshold(1_000, { ...narrow, exactMs: 45 })).toBe(1_170);
  });
  it('keeps the fit where the graph walk was faster for that reader, or without a narrow reader', () => {
    expect(measuredThreshold(1_000, { rows: 1_170, exactMs: 46, approximateMs: 45 })).toBe(1_000);
    expect(measuredThreshold(1_000, null)).toBe(1_000);
  });
});

describe('answersFound', () => {
  const hit = (id: string, distance: number) => ({ id, distance });
  const exact = [hit('a', 0.1), hit('b', 0.2), hit('c', 0.3)];

  it('counts the exact answers by id, and another chunk as close as the last (an identical text) as right', () => {
    expect(answersFound([hit('a', 0.1), hit('b', 0.2), hit('c', 0.3)], exact)).toBe(3);
    expect(answersFound([hit('a', 0.1), hit('b', 0.2), hit('c2', 0.3)], exact)).toBe(3);
    expect(answersFound([hit('a', 0.1), hit('b', 0.2), hit('d', 0.31)], exact)).toBe(2);
    expect(answersFound([hit('a', 0.1), hit('c2', 0.3), hit('c3', 0.3), hit('c4', 0.3)], exact)).toBe(3);
    expect(answersFound([], exact)).toBe(0);
    expect(answersFound([hit('a', 0.1)], [])).toBe(0);
  });
});
