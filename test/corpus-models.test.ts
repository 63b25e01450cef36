import {
  contentTerms,
  fitIdf,
  fitLsa,
  hashFeatures,
  hashInto,
  idfOf,
  idfWeighted,
  lsaIndex,
  lsaInto,
  normalize,
} from '../bench/eval/corpus-models';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';

// The fitted embedders of bench/eval/embedder-experiment.ts: if their arithmetic were wrong, the experiment's
// negative result (docs/EVAL.md, "Local embedder: what was tried") would say nothing.

const CORPUS = [
  'reset the password of your account',
  'forgot password: reset it from the login page',
  'account password rules and reset links',
  'refund a damaged order within 30 days',
  'refund status of an order',
  'order refund for a gift card',
  'shipping to Canada takes five days',
  'shipping costs and shipping times',
];

const embedHash = (text: string, features = hashFeatures(contentTerms(text))): number[] => {
  const v = new Float64Array(1536);
  hashInto(v, features);
  return Array.from(normalize(v));
};

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('the experiment feature hashing', () => {
  it('reproduces local-hash-v1 exactly without idf weights', () => {
    const reference = new LocalHashEmbedder(1536);
    for (const text of [...CORPUS, 'the and of', '?!']) {
      const ours = embedHash(text);
      reference.embedOne(text).forEach((x, i) => expect(ours[i]).toBeCloseTo(x, 12));
    }
  });
});

describe('idf', () => {
  const table = fitIdf(CORPUS);

  it('weighs a word by how few chunks hold it; a word in every chunk or never seen gets the bounds', () => {
    expect(table.documents).toBe(CORPUS.length);
    // Two of the eight chunks say "shipping" (stemmed like every word).
    expect(idfOf(table, `w:${contentTerms('shipping')[0]}`)).toBeCloseTo(Math.log(9 / 3) + 1, 12);
    expect(idfOf(table, 'w:canada')).toBeGreaterThan(idfOf(table, 'w:password'));
    expect(idfOf(table, 'w:never')).toBeCloseTo(Math.log(9) + 1, 12);
    expect(idfOf(table, 'w:canada', 50)).toBeLessThan(idfOf(table, 'w:canada'));
  });

  it('ranks the chunk sharing the rare word above the one sharing a common word', () => {
    const q = embedHash('password canada', idfWeighted(table, contentTerms('password canada')));
    const canada = embedHash(CORPUS[6], idfWeighted(table, contentTerms(CORPUS[6])));
    const password = embedHash(CORPUS[2], idfWeighted(table, contentTerms(CORPUS[2])));
    expect(dot(q, canada)).toBeGreaterThan(dot(q, password));
  });
});

describe('LSA', () => {
  it('is a truncated SVD: the training chunks fold in to orthonormal coordinates (U), deterministically', () => {
    const model = fitLsa(CORPUS, 3, { minDf: 1 });
    expect(model.rank).toBe(3);
    expect(fitLsa(CORPUS, 3, { minDf: 1 }).projection).toEqual(model.projection);
    const index = lsaIndex(model);
    const U = CORPUS.map((t) => {
      const v = new Float64Array(model.rank);
      lsaInto(v, 0, model, index, contentTerms(t));
      return v;
    });
    for (let a = 0; a < model.rank; a++)
      for (let b = 0; b < model.rank; b++) {
        const col = (c: number): number[] => U.map((u) => u[c]);
        expect(dot(col(a), col(b))).toBeCloseTo(a === b ? 1 : 0, 6);
      }
  });

  it('places a query near the topic it shares words with, and caps the rank by the corpus', () => {
    const model = fitLsa(CORPUS, 3, { minDf: 1 });
    const index = lsaIndex(model);
    const embed = (t: string): Float64Array => {
      const v = new Float64Array(model.rank);
      lsaInto(v, 0, model, index, contentTerms(t));
      return normalize(v);
    };
    const q = embed('how do I reset my password');
    expect(dot(q, embed(CORPUS[1]))).toBeGreaterThan(dot(q, embed(CORPUS[6])));
    expect(fitLsa(CORPUS, 256).rank).toBeLessThan(CORPUS.length);
  });
});
