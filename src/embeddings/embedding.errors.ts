import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';

export const embeddingFailed = (message: string): DomainError =>
  new DomainError(ErrorCode.EMBEDDING_FAILED, `Embedding failed: ${message}`);

/**
 * Checks what a provider returned before anything is written: the count, each vector's dimension, and that every
 * value is finite. pgvector rejects NaN and Infinity too, but only after the transaction has started.
 */
export function assertValidEmbeddings(
  vectors: unknown,
  expectedCount: number,
  dimensions: number,
): number[][] {
  if (!Array.isArray(vectors) || vectors.length !== expectedCount) {
    throw embeddingFailed(
      `expected ${expectedCount} vectors, got ${Array.isArray(vectors) ? vectors.length : typeof vectors}`,
    );
  }
  vectors.forEach((v: unknown, i) => {
    if (!Array.isArray(v) || v.length !== dimensions) {
      throw embeddingFailed(
        `vector ${i} has ${Array.isArray(v) ? v.length : 'no'} dimensions, expected ${dimensions}`,
      );
    }
    for (const x of v as unknown[]) {
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw embeddingFailed(`vector ${i} contains a non-finite value`);
      }
    }
  });
  return vectors as number[][];
}
