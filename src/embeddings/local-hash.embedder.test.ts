import { LocalHashEmbedder, stem, tokenize } from './local-hash.embedder';

const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (v: readonly number[]): number => Math.sqrt(dot(v, v));
/** Vectors are unit length, so cosine similarity is the dot product; divide anyway to not rely on it. */
const cosine = (a: readonly number[], b: readonly number[]): number => dot(a, b) / (norm(a) * norm(b));

describe('LocalHashEmbedder', () => {
  const embedder = new LocalHashEmbedder(1536);

  it('exposes its dimensions and default model name', () => {
    expect(embedder.dimensions).toBe(1536);
    expect(embedder.model).toBe('local-hash-v1');
    expect(new LocalHashEmbedder(64, 'custom').model).toBe('custom');
  });

  it('is deterministic: the same text gives an identical vector, across instances', async () => {
    const text = 'Where is my refund for order #1234?';
    const a = embedder.embedOne(text);
    const b = new LocalHashEmbedder(1536).embedOne(text);
    expect(b).toEqual(a);
    expect(embedder.embedOne(text)).toEqual(a);
    const [viaEmbed] = await new LocalHashEmbedder(1536).embed([text]);
    expect(viaEmbed).toEqual(a);
    expect(a.some((x) => x !== 0)).toBe(true);
  });

  it('embeds a batch in input order', async () => {
    const texts = ['refund for my order', 'reset your password', 'shipping to Canada'];
    const vectors = await embedder.embed(texts);
    expect(vectors).toHaveLength(3);
    texts.forEach((t, i) => expect(vectors[i]).toEqual(embedder.embedOne(t)));
    expect(await embedder.embed([])).toEqual([]);
  });

  it.each([
    ['normal text', 'How do I return a damaged item?'],
    ['stopword-only text', 'the and of it is'],
    ['text without letters or digits', '?!'],
    ['the empty string', ''],
    ['whitespace and punctuation', '  ... --- !!! \n\t'],
    ['a long text', 'refund shipping order password account '.repeat(500)],
  ])('returns a unit vector (L2 norm 1) of finite values for %s', (_label, text) => {
    const v = embedder.embedOne(text);
    expect(v).toHaveLength(1536);
    expect(v.every((x) => Number.isFinite(x))).toBe(true);
    expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-9);
  });

  it('does not return a zero vector for text without letters or digits, and all such texts agree', () => {
    const v = embedder.embedOne('?!');
    expect(v.some((x) => x !== 0)).toBe(true);
    expect(v.filter((x) => x !== 0)).toEqual([1]);
    expect(embedder.embedOne('...')).toEqual(v);
    // Cosine against a normal text is defined (not NaN).
    expect(Number.isNaN(cosine(v, embedder.embedOne('refund')))).toBe(false);
  });

  it('embeds stopword-only text by its stopwords rather than as the empty vector', () => {
    const stopwords = embedder.embedOne('the and of it is');
    expect(stopwords).not.toEqual(embedder.embedOne('?!'));
    expect(stopwords).not.toEqual(embedder.embedOne('where were you'));
  });

  it.each([1536, 64, 8])('respects the requested dimension %i', (dims) => {
    const e = new LocalHashEmbedder(dims);
    for (const text of ['refund for my order', '?!', 'the']) {
      const v = e.embedOne(text);
      expect(v).toHaveLength(dims);
      expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-9);
    }
  });

  it('scores texts that share vocabulary as more similar than unrelated ones', () => {
    const query = embedder.embedOne('refund for my order');
    const related = embedder.embedOne('where is my refund');
    const unrelated = embedder.embedOne('reset your password');
    const simRelated = cosine(query, related);
    const simUnrelated = cosine(query, unrelated);
    expect(simRelated).toBeGreaterThan(simUnrelated);
    expect(simRelated).toBeGreaterThan(0.3);
    expect(Math.abs(simUnrelated)).toBeLessThan(0.2);
  });

  it('ignores stopwords when there is content', () => {
    expect(cosine(embedder.embedOne('the refund'), embedder.embedOne('refund'))).toBeCloseTo(1, 12);
  });

  it('stems plural forms onto the same features ("refunds" / "refund")', () => {
    expect(embedder.embedOne('refunds')).toEqual(embedder.embedOne('refund'));
    expect(embedder.embedOne('questions')).toEqual(embedder.embedOne('question'));
    expect(cosine(embedder.embedOne('my refunds'), embedder.embedOne('refund'))).toBeCloseTo(1, 12);
  });

  it('normalizes case and Unicode (NFKC) before hashing', () => {
    const refund = embedder.embedOne('refund');
    expect(embedder.embedOne('REFUND')).toEqual(refund);
    expect(embedder.embedOne('Refund')).toEqual(refund);
    // Fullwidth letters are NFKC-compatible with ASCII.
    expect(embedder.embedOne('ＲＥＦＵＮＤ')).toEqual(refund);
    // The "ﬁ" ligature decomposes to "fi".
    expect(embedder.embedOne('ﬁle')).toEqual(embedder.embedOne('file'));
    // Composed and decomposed "é" are the same word.
    expect(embedder.embedOne('caf\u00e9')).toEqual(embedder.embedOne('cafe\u0301'));
  });

  it('embeds the same bits after its caches are emptied (they hold interned trigram ids)', () => {
    const text = 'Where is my refund for order #1234? Refunds take five business days.';
    const before = embedder.embedOne(text);
    // 100,001 new words fill the word and term caches past their bound; the next call empties them.
    const flood = Array.from({ length: 100_001 }, (_, i) => `flood${i.toString(36)}q`).join(' ');
    embedder.embedOne(flood);
    const after = embedder.embedOne(text);
    expect(after.every((x, i) => Object.is(x, before[i]))).toBe(true);
    const flooded = embedder.embedOne(flood);
    expect(flooded).toHaveLength(1536);
    expect(flooded.every((x) => Number.isFinite(x))).toBe(true);
  });

  it('embeds a text the same way whatever its caches held before', () => {
    // A text whose distinct words fill the caches up when they already hold enough: an earlier build emptied them in
    // the middle of the text, so the two occurrences of "refund" became two terms (each counted once) on one call
    // and one term (counted twice) on another.
    const words = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36)}z`).join(' ');
    const text = `refund ${words('straddle', 60_000)} refund`;
    embedder.embedOne(words('filla', 100_001));
    const first = embedder.embedOne(text);
    embedder.embedOne(words('fillb', 100_001));
    const again = embedder.embedOne(text);
    expect(again.every((x, i) => Object.is(x, first[i]))).toBe(true);
  });

  it('distinguishes different words', () => {
    expect(embedder.embedOne('refund')).not.toEqual(embedder.embedOne('password'));
  });
});

describe('tokenize', () => {
  it('lower-cases, NFKC-normalizes and splits on anything that is not a letter or digit', () => {
    expect(tokenize('ＲＥＦＵＮＤ ﬁle Café-au-lait 42!')).toEqual([
      'refund',
      'file',
      'café',
      'au',
      'lait',
      '42',
    ]);
    expect(tokenize("Where's order #1234?")).toEqual(['where', 's', 'order', '1234']);
  });

  it('returns an empty list for text without letters or digits', () => {
    expect(tokenize('?!')).toEqual([]);
    expect(tokenize('')).toEqual([]);
  });
});

describe('stem', () => {
  it.each([
    ['refunds', 'refund'],
    ['refund', 'refund'],
    ['questions', 'question'],
    ['policies', 'policy'],
    ['boxes', 'box'],
    ['matches', 'match'],
    ['status', 'status'],
    ['class', 'class'],
    ['bus', 'bus'],
    ['2024', '2024'],
  ])('stems %s to %s', (word, expected) => {
    expect(stem(word)).toBe(expected);
  });

  it('maps inflections of one verb together', () => {
    expect(stem('shipping')).toBe(stem('shipped'));
    expect(stem('refunded')).toBe(stem('refunding'));
  });
});
