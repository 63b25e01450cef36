import { getEncoding, type Tiktoken } from 'js-tiktoken';

let encoding: Tiktoken | undefined;

/**
 * Tokens as text-embedding-3-small counts them (cl100k_base). js-tiktoken ships the encoding in the package, so
 * nothing is downloaded at run time; the first call pays ~0.3 s to load it.
 */
export function countTokens(text: string): number {
  encoding ??= getEncoding('cl100k_base');
  return encoding.encode(text).length;
}
