/** Turns texts into vectors of one model. Implementations must return one vector per input, in order. */
export interface Embedder {
  /** Stored on every chunk, so vectors of two models are never compared with each other. */
  readonly model: string;
  readonly dimensions: number;
  /**
   * True when vectors are computed in this process, with no provider to wait for: the writer then embeds inside its
   * write transaction (one transaction per write instead of a read and a write, docs/INGESTION.md).
   */
  readonly inProcess?: boolean;
  embed(texts: readonly string[]): Promise<number[][]>;
}
