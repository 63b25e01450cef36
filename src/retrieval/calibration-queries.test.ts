import { mixedPassage, passage } from './calibration-queries';

describe('calibration text queries', () => {
  const sequence = (values: number[]) => {
    let i = 0;
    return () => values[i++ % values.length];
  };

  it('takes 3 to 8 consecutive words from anywhere in the text, and all of a shorter one', () => {
    const text = 'one two three four five six seven eight nine ten eleven twelve';
    expect(passage(text, sequence([0, 0]))).toBe('one two three');
    expect(passage(text, sequence([0.999, 0.999]))).toBe('five six seven eight nine ten eleven twelve');
    expect(passage(text, sequence([0.5, 0.5]))).toBe('four five six seven eight nine');
    expect(passage('  refund\n\nwithin   days ', sequence([0.999]))).toBe('refund within days');
  });

  it('mixes 2 to 4 consecutive words of one text with 2 to 4 of another, and has nothing for an empty text', () => {
    const a = 'one two three four five six';
    const b = 'alpha beta gamma delta epsilon';
    expect(mixedPassage(a, b, sequence([0, 0]))).toBe('one two alpha beta');
    expect(mixedPassage(a, b, sequence([0.999, 0.999]))).toBe('three four five six beta gamma delta epsilon');
    expect(mixedPassage(a, '', sequence([0]))).toBe('one two');
    expect(mixedPassage(' \n ', b, sequence([0]))).toBe('');
  });
});
