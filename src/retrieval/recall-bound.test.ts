import { exactCostModel, recallLowerBound } from './calibration.service';

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
