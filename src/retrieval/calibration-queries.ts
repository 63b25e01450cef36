import { type EntityManager } from 'typeorm';
import { type Embedder } from '../embeddings/embedder';
import { type CalibrationRepository } from './calibration.repository';

/** A calibration query: a vector, and the chunk to leave out of its answers (its own; '' for a text query). */
export interface CalibrationQuery {
  id: string;
  embedding: number[];
}

/** Re-embedded sampled chunks whose cosine to their stored vector must reach this for text queries to be used. */
const SAME_MODEL_COSINE = 0.99;
const CONSISTENCY_CHECKS = 3;

/**
 * The calibration's queries: half of them the merchant's own vectors, half short passages of its own chunks (3 to
 * 8 consecutive words) embedded by the version's embedder, the way a question of a few words is.
 *
 * Own vectors alone misled it on real text (`npm run bench:real-recall`, docs/RETRIEVAL.md "Calibration"): a sampled
 * vector is a corpus point, with its near-duplicates beside it (one FAQ answer repeated across businesses), and
 * found them at any setting. On the DSTC10 hotels' 4,346 FAQ answers they passed a quantized re-rank of 1,600 at
 * 1.000, and the dialogues' questions then read 0.720; on its 12,039 they passed HNSW at 1.000 where the questions
 * read 0.988. A short query of the local embedder is a sparse vector whose sign bits say nothing about its
 * neighbours, which no own vector shows.
 *
 * Text queries only where the embedder reproduces the stored vectors: re-embedded, CONSISTENCY_CHECKS sampled chunks'
 * texts must come back at cosine >= SAME_MODEL_COSINE to their stored vectors. Vectors written by other means (a
 * benchmark's synthetic ones, a provider this process cannot reach) are calibrated on own vectors alone, as before.
 */
export async function calibrationQueries(
  m: Pick<EntityManager, 'query'>,
  calibrations: CalibrationRepository,
  embedder: () => Embedder,
  merchantId: string,
  version: number,
  n: number,
  random: () => number = Math.random,
): Promise<{ queries: CalibrationQuery[]; textQueries: number; ownOnly: string | null }> {
  // Shuffled here: the sample is drawn at random, but comes back in the order of the plan that fetched it (often the
  // chunks' order), and its second half becomes the text queries.
  const sampled = shuffle(await calibrations.sample(m, merchantId, version, n), random);
  const own = sampled.map((s) => ({ id: s.id, embedding: s.embedding }));
  const half = Math.floor(sampled.length / 2);
  if (half === 0) return { queries: own, textQueries: 0, ownOnly: 'sample too small' };
  const texts = sampled.slice(sampled.length - half);
  const checked = texts.slice(0, CONSISTENCY_CHECKS);
  // A chunk of whitespace has no passage (and a provider refuses empty input): it stays an own-vector query.
  const passages = texts.map((s) => passage(s.text, random)).filter((p) => p !== '');
  let vectors: number[][];
  try {
    vectors = await embedder().embed([...checked.map((s) => s.text), ...passages]);
  } catch (err) {
    return { queries: own, textQueries: 0, ownOnly: `embedder unavailable: ${(err as Error).message}` };
  }
  const consistent = checked.every((s, i) => cosine(s.embedding, vectors[i]) >= SAME_MODEL_COSINE);
  if (!consistent) return { queries: own, textQueries: 0, ownOnly: 'stored vectors not from this embedder' };
  const textQueries = vectors.slice(checked.length).map((embedding) => ({ id: '', embedding }));
  return {
    queries: [...own.slice(0, sampled.length - textQueries.length), ...textQueries],
    textQueries: textQueries.length,
    ownOnly: null,
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** 3 to 8 consecutive words of `text`, from a random place (all of it when shorter). */
export function passage(text: string, random: () => number): string {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const length = 3 + Math.floor(random() * 6);
  if (words.length <= length) return words.join(' ');
  const start = Math.floor(random() * (words.length - length + 1));
  return words.slice(start, start + length).join(' ');
}

function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
