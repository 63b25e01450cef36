/**
 * What services report as they work, for metrics. The gateway passes its per-instance metrics; tools and tests
 * that do not care get NO_SERVICE_EVENTS. Kept to counts, names and durations: nothing a caller sent.
 */
export interface ServiceEvents {
  /**
   * One retrieval answered; `strategy` is RetrieveResult.strategy (a small fixed set of values), `settings` where
   * its vector side's approximate settings came from (null: no vector side).
   */
  retrieved(mode: string, strategy: string, settings: string | null): void;
  /** Sources written in one committed ingestion transaction. */
  sourcesWritten(
    kind: 'document' | 'ticket',
    outcomes: readonly {
      created: boolean;
      unchanged: boolean;
      embeddedChunks: number;
      reusedChunks: number;
      deletedChunks: number;
    }[],
  ): void;
  /** One call to an embedding provider (which may batch and retry inside). */
  embeddingCall(model: string, texts: number, seconds: number, ok: boolean): void;
  /** Texts answered from the in-memory embedding cache. */
  embeddingCacheHits(model: string, hits: number): void;
  /** A retrieval calibration stored: the path chosen and its measured recall@10 (src/retrieval/calibration.service.ts). */
  calibrated?(path: string, recallFull: number, recallNarrow: number | null): void;
}

export const NO_SERVICE_EVENTS: ServiceEvents = {
  retrieved: () => undefined,
  sourcesWritten: () => undefined,
  embeddingCall: () => undefined,
  embeddingCacheHits: () => undefined,
};
