import { recallLowerBound } from './calibration.service';

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
