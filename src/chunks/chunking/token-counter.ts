import { getEncoding, type Tiktoken } from 'js-tiktoken';

let encoding: Tiktoken | undefined;
let pieces: RegExp | undefined;

/** Longest run without whitespace given to the tokenizer in one piece. */
export const MAX_RUN_CHARS = 100;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN_CHARS + 1},}`, 'g');

/** Pieces (words with their leading space, numbers, punctuation runs) whose token counts are remembered. */
const PIECE_CACHE_ENTRIES = 200_000;
const PIECE_CACHE_MAX_CHARS = 40;
const pieceTokens = new Map<string, number>();

/**
 * Tokens as text-embedding-3-small counts them (cl100k_base). js-tiktoken ships the encoding in the package, so
 * nothing is downloaded at run time; the first call pays ~0.3 s to load it.
 *
 * cl100k_base first splits the text with its pre-tokenization pattern and byte-pair-encodes each piece on its
 * own, so the count of a text is the sum of the counts of its pieces. Words repeat (Zipf): remembering the count
 * per piece makes counting ~10x faster than `encode` per sentence, which also rebuilds its regular expressions on
 * every call — it was the largest cost of ingestion (docs/INGESTION.md, "Where the time goes"). Special-token
 * text such as `<|endoftext|>` is counted as the ordinary text it is (encode would throw on it).
 *
 * Its BPE is super-linear on a long run without whitespace (a 5,000-character base64 blob takes seconds, on the
 * event loop), so such runs are counted in slices of MAX_RUN_CHARS: the total differs from the exact count by at
 * most a token per slice boundary, and stays linear.
 */
export function countTokens(text: string): number {
  if (text.length <= MAX_RUN_CHARS || !LONG_RUN.test(text)) return countPieces(text);
  LONG_RUN.lastIndex = 0;
  let total = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    for (let i = 0; i < run.length; i += MAX_RUN_CHARS) total += countPieces(run.slice(i, i + MAX_RUN_CHARS));
    return ' ';
  });
  return total + countPieces(rest);
}

function countPieces(text: string): number {
  if (encoding === undefined) {
    encoding = getEncoding('cl100k_base');
    // The pattern is the encoding's own (a field js-tiktoken does not declare); without it, count whole texts.
    const patStr = (encoding as unknown as { patStr?: unknown }).patStr;
    pieces = typeof patStr === 'string' ? new RegExp(patStr, 'gu') : undefined;
  }
  if (pieces === undefined) return encoding.encode(text, 'all', []).length;
  let total = 0;
  for (const match of text.matchAll(pieces)) {
    const piece = match[0];
    let n = pieceTokens.get(piece);
    if (n === undefined) {
      n = encoding.encode(piece, 'all', []).length;
      if (piece.length <= PIECE_CACHE_MAX_CHARS) {
        if (pieceTokens.size >= PIECE_CACHE_ENTRIES) pieceTokens.clear();
        pieceTokens.set(piece, n);
      }
    }
    total += n;
  }
  return total;
}
