import { getEncoding, type Tiktoken } from 'js-tiktoken';

let encoding: Tiktoken | undefined;

/** Longest run without whitespace given to the tokenizer in one piece. */
export const MAX_RUN_CHARS = 100;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN_CHARS + 1},}`, 'g');

/**
 * Tokens as text-embedding-3-small counts them (cl100k_base). js-tiktoken ships the encoding in the package, so
 * nothing is downloaded at run time; the first call pays ~0.3 s to load it.
 *
 * Its BPE is super-linear on a long run without whitespace (a 5,000-character base64 blob takes seconds, on the
 * event loop), so such runs are counted in slices of MAX_RUN_CHARS: the total differs from the exact count by at
 * most a token per slice boundary, and stays linear.
 */
export function countTokens(text: string): number {
  encoding ??= getEncoding('cl100k_base');
  if (text.length <= MAX_RUN_CHARS || !LONG_RUN.test(text)) return encoding.encode(text).length;
  LONG_RUN.lastIndex = 0;
  let total = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    for (let i = 0; i < run.length; i += MAX_RUN_CHARS)
      total += encoding!.encode(run.slice(i, i + MAX_RUN_CHARS)).length;
    return ' ';
  });
  return total + encoding.encode(rest).length;
}
