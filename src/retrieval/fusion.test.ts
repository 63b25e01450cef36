import { compareIds, fuse } from './fusion';

/** Vector hits with similarities, keyword hits with ranks (their distances do not matter to fusion). */
const vec = (...hits: [string, number][]) => hits.map(([id, sim]) => ({ id, distance: 1 - sim }));
const kw = (...hits: [string, number][]) => hits.map(([id, rank]) => ({ id, distance: 0.9, rank }));

describe('hybrid fusion (convex combination of max-normalized scores)', () => {
  it('scores an item best in both lists 1.0 and combines the normalized scores by weight', () => {
    const fused = fuse(vec(['a', 0.8], ['b', 0.4], ['c', 0.2]), kw(['a', 0.5], ['c', 0.25]), 0.6);
    expect(fused.map((f) => f.item.id)).toEqual(['a', 'c', 'b']);
    expect(fused[0].score).toBeCloseTo(1, 12);
    expect(fused[1].score).toBeCloseTo(0.6 * (0.2 / 0.8) + 0.4 * (0.25 / 0.5), 12); // c
    expect(fused[2].score).toBeCloseTo(0.6 * (0.4 / 0.8), 12); // b: vector only
  });

  it('lets a clear keyword winner beat chunks both lists rank in the middle (what RRF got wrong)', () => {
    // "x" is the only chunk holding the query's rare term; y and z are mediocre on both sides.
    const fused = fuse(vec(['y', 0.3], ['z', 0.29], ['x', 0.2]), kw(['x', 0.6], ['y', 0.1], ['z', 0.1]), 0.6);
    expect(fused[0].item.id).toBe('x');
  });

  it('weight 1 is the vector order and weight 0 the keyword order (the other list after it, by id)', () => {
    expect(fuse(vec(['b', 0.9], ['a', 0.5]), kw(['a', 0.5], ['z', 0.4]), 1).map((f) => f.item.id)).toEqual([
      'b',
      'a',
      'z',
    ]);
    expect(
      fuse(vec(['b', 0.9], ['a', 0.5], ['c', 0.1]), kw(['a', 0.5], ['z', 0.4]), 0).map((f) => f.item.id),
    ).toEqual(['a', 'z', 'b', 'c']);
  });

  it('keeps scores within 0..1: negative similarities count as 0, an all-zero list adds nothing', () => {
    const fused = fuse(vec(['a', -0.2], ['b', 0.1]), kw(['c', 0]), 0.5);
    expect(fused.map((f) => f.item.id)).toEqual(['b', 'a', 'c']);
    for (const f of fused) {
      expect(f.score).toBeGreaterThanOrEqual(0);
      expect(f.score).toBeLessThanOrEqual(1);
    }
  });

  it('breaks ties deterministically by id, numerically for numeric ids', () => {
    expect(fuse(vec(['10', 0.5]), kw(['9', 0.5]), 0.5).map((f) => f.item.id)).toEqual(['9', '10']);
    expect(compareIds('9', '10')).toBeLessThan(0);
    expect(compareIds('b', 'a')).toBeGreaterThan(0);
  });

  it('returns nothing for two empty lists', () => {
    expect(fuse([], [], 0.5)).toEqual([]);
  });
});
