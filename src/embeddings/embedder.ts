/** Turns texts into vectors of one model. Implementations must return one vector per input, in order. */
export interface Embedder {
  /** Stored on every chunk, so vectors of two models are never compared with each other. */
  readonly model: string;
  readonly dimensions: number;
  embed(texts: readonly string[]): Promise<number[][]>;
}
