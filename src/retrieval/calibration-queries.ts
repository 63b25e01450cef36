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
 * The calibration's queries: where the version's embedder reproduces the stored vectors, every sampled chunk is asked
 * as a short text, embedded by that embedder the way a question of a few words is: half of them 3 to 8 consecutive
 * words of the chunk (passage), half 2 to 4 words of it and 2 to 4 of the next sampled chunk (mixedPassage). Otherwise
 * the sampled chunks' own vectors, with their own chunk left out of their answers.
 *
 * Own vectors misled it on real text (`npm run bench:real-recall`, docs/RETRIEVAL.md "Calibration"): a sampled vector
 * is a corpus point, with its near-duplicates beside it (one FAQ answer repeated across businesses), and found them at
 * any setting. On the DSTC10 hotels' 4,346 FAQ answers they passed a quantized re-rank of 1,600 at 1.000, and the
 * dialogues' questions then read 0.720; on its 12,039 they passed HNSW at 1.000 where the questions read 0.988. Held
 * beside the questions setting by setting (`npm run bench:text-queries`), own vectors read at or above the questions
 * in all 74 rows, so a sample that was half own vectors only halved the misses the text showed; and neither kind of
 * text is the harder one everywhere: passages on the FAQ's index (0.977 at ef_search 1,000 where mixed read 0.989
 * and the questions 0.990), mixed ones on the e-manuals' (0.951 at ef_search 40 where passages read 0.977 and the
 * questions 0.994).
 *
 * Text queries only where the embedder reproduces the stored vectors: re-embedded, CONSISTENCY_CHECKS sampled chunks'
 * texts must come back at cosine >= SAME_MODEL_COSINE to their stored vectors. Vectors written by other means (a
 * benchmark's synthetic ones, a provider this process cannot reach) are calibrated on own vectors alone.
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
  // chunks' order), and which chunk is mixed with which, and which half is asked how, follows it.
  const sampled = shuffle(await calibrations.sample(m, merchantId, version, n), random);
  const own = sampled.map((s) => ({ id: s.id, embedding: s.embedding }));
  if (sampled.length === 0) return { queries: own, textQueries: 0, ownOnly: 'sample too small' };
  // Only chunks with text: a provider refuses an empty input, and the whole sample would fall back to own vectors.
  const checked = sampled.filter((s) => s.text.trim() !== '').slice(0, CONSISTENCY_CHECKS);
  const texts = sampled.map((s, i) =>
    i % 2 === 0
      ? passage(s.text, random)
      : mixedPassage(s.text, sampled[(i + 1) % sampled.length].text, random),
  );
  // A chunk of whitespace has no passage (and a provider refuses empty input): it stays an own-vector query.
  const asked = texts.flatMap((t, i) => (t === '' ? [] : [i]));
  let vectors: number[][];
  try {
    vectors = await embedder().embed([...checked.map((s) => s.text), ...asked.map((i) => texts[i])]);
  } catch (err) {
    return { queries: own, textQueries: 0, ownOnly: `embedder unavailable: ${(err as Error).message}` };
  }
  const consistent = checked.every((s, i) => cosine(s.embedding, vectors[i]) >= SAME_MODEL_COSINE);
  if (!consistent) return { queries: own, textQueries: 0, ownOnly: 'stored vectors not from this embedder' };
  const queries: CalibrationQuery[] = [...own];
  asked.forEach((q, j) => (queries[q] = { id: '', embedding: vectors[checked.length + j] }));
  return { queries, textQueries: asked.length, ownOnly: null };
}

/** Shuffles `items` in place (Fisher–Yates) and returns them. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** 3 to 8 consecutive words of `text`, from a random place (all of it when shorter). */
export function passage(text: string, random: () => number): string {
  return consecutiveWords(text, 3, 8, random);
}

/** 2 to 4 consecutive words of `text`, then 2 to 4 of `other`: a question between two chunks. */
export function mixedPassage(text: string, other: string, random: () => number): string {
  const first = consecutiveWords(text, 2, 4, random);
  return first === '' ? '' : `${first} ${consecutiveWords(other, 2, 4, random)}`.trim();
}

/** `min` to `max` consecutive words of `text` from a random place (all of it when shorter). */
function consecutiveWords(text: string, min: number, max: number, random: () => number): string {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const length = min + Math.floor(random() * (max - min + 1));
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
