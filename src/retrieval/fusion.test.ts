import { compareIds, fuse, RRF_K } from './fusion';

const items = (...ids: string[]) => ids.map((id) => ({ id }));

describe('weighted reciprocal rank fusion', () => {
  it('scores an item first in both lists 1.0 and orders by fused score', () => {
    const fused = fuse(items('a', 'b', 'c'), items('a', 'c'), 0.5);
    expect(fused.map((f) => f.item.id)).toEqual(['a', 'c', 'b']);
    expect(fused[0].score).toBeCloseTo(1, 12);
    // c: rank 3 vector, rank 2 keyword; b: rank 2 vector only.
    expect(fused[1].score).toBeCloseTo((0.5 / (RRF_K + 3) + 0.5 / (RRF_K + 2)) / (1 / (RRF_K + 1)), 12);
  });

  it('weight 1 is the vector order and weight 0 the keyword order (keyword-only items last, by id)', () => {
    expect(fuse(items('b', 'a'), items('a', 'z'), 1).map((f) => f.item.id)).toEqual(['b', 'a', 'z']);
    expect(fuse(items('b', 'a', 'c'), items('a', 'z'), 0).map((f) => f.item.id)).toEqual([
      'a',
      'z',
      'b',
      'c',
    ]);
  });

  it('breaks ties deterministically by id, numerically for numeric ids', () => {
    expect(fuse(items('10'), items('9'), 0.5).map((f) => f.item.id)).toEqual(['9', '10']);
    expect(compareIds('9', '10')).toBeLessThan(0);
    expect(compareIds('b', 'a')).toBeGreaterThan(0);
  });

  it('returns nothing for two empty lists', () => {
    expect(fuse([], [], 0.5)).toEqual([]);
  });
});

describe('fusion constants chosen by eval', () => {
  it('lets a chunk one list ranks first beat one both lists rank 12th', () => {
    const middle = Array.from({ length: 11 }, (_, i) => `m${i}`);
    const vector = items(...middle, 'y', 'x');
    const keyword = items('x', ...middle, 'y');
    // x: vector rank 13, keyword rank 1; y: rank 12 in both.
    const order = fuse(vector, keyword, 0.5).map((f) => f.item.id);
    expect(order.indexOf('x')).toBeLessThan(order.indexOf('y'));
    expect(RRF_K).toBeLessThan(60);
  });
});
