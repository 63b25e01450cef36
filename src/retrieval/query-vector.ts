import { badInput } from '../common/errors/domain-error';

/** pgvector's limit on a vector's dimensions; a longer encoded vector is refused before it is decoded. */
const MAX_DIMENSIONS = 16_000;
const MAX_BASE64_CHARS = Math.ceil((MAX_DIMENSIONS * 4) / 3 / 4) * 4;

/**
 * A query vector sent as base64 of its little-endian float32 values, the form OpenAI's embeddings API returns with
 * `encoding_format: "base64"`. A 1,536-d vector is 8 KB here against ~30 KB of JSON numbers, and it is decoded in
 * one copy: the JSON list costs the gateway its body parse and graphql-js's coercion of every item
 * (docs/benchmarks/gateway-profile-*.md). Node's decoder skips characters it does not know, so the bytes are encoded
 * again and must give back the text: a corrupted vector is refused, never read as another one. (A regular expression
 * over the alphabet cost 0.085 ms per 8 KB vector in the gateway's profile; the round trip is native.)
 */
export function decodeEmbeddingBase64(text: string): Float32Array {
  const field = 'embeddingBase64';
  if (text.length > MAX_BASE64_CHARS)
    throw badInput(`embeddingBase64 holds at most ${MAX_DIMENSIONS} float32 values`, { field });
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text)
    throw badInput('embeddingBase64 must be standard base64 (A-Z a-z 0-9 + /, padded with =)', { field });
  if (bytes.length % 4 !== 0)
    throw badInput(`embeddingBase64 decodes to ${bytes.length} bytes, not a whole number of float32 values`, {
      field,
    });
  const values = new Float32Array(bytes.length / 4);
  // Copied, not viewed: Buffer.from may return a slice of a shared pool at an offset that is not 4-aligned.
  for (let i = 0; i < values.length; i++) values[i] = bytes.readFloatLE(4 * i);
  return values;
}

/** The query vector given with a retrieval, and the field it came in: the JSON list, the base64 form, or neither. */
export function givenEmbedding(
  list: readonly number[] | null | undefined,
  base64: string | null | undefined,
): { values: ArrayLike<number>; field: 'embedding' | 'embeddingBase64' } | null {
  const hasList = list !== null && list !== undefined;
  if (base64 === null || base64 === undefined) return hasList ? { values: list, field: 'embedding' } : null;
  if (hasList)
    throw badInput('give the query vector once: embedding or embeddingBase64, not both', {
      field: 'embeddingBase64',
    });
  return { values: decodeEmbeddingBase64(base64), field: 'embeddingBase64' };
}
