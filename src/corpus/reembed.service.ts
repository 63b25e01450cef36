import { type DataSource } from 'typeorm';
import { type ChunkRepository, type ChunkSource } from '../chunks/chunk.repository';
import { badInput, notFound } from '../common/errors/domain-error';
import { embeddingDimensionsProblem } from '../config/config';
import { type EmbedderRegistry } from '../embeddings/embedder.registry';
import { type MerchantIndexOutcome, type MerchantIndexService } from '../vector-index/merchant-index.service';
import { type CorpusVersion, type CorpusVersionRepository } from './corpus-version.repository';

export interface ReembedOptions {
  model: string;
  dimensions: number;
  /** Abandon a building version for another model instead of refusing. */
  restart?: boolean;
  /** Sources copied per transaction. */
  batchSources?: number;
  onProgress?: (p: { phase: 'copy' | 'verify' | 'cleanup'; done: number; total: number }) => void;
}

export interface ReembedReport {
  status: 'flipped' | 'already-active';
  fromVersion: number;
  toVersion: number;
  model: string;
  dimensions: number;
  sourcesCopied: number;
  chunksEmbedded: number;
  chunksReused: number;
  copyRounds: number;
  retiredChunksDeleted: number;
  /** The merchant's dedicated HNSW index for the new size, built after the flip when the merchant is large enough. */
  hnswIndex: MerchantIndexOutcome;
}

const MAX_ROUNDS = 10;
const DELETE_BATCH = 1000;

/**
 * Moves a merchant's corpus to another embedding model without downtime:
 *  1. creates (or resumes) a `building` corpus version for the model; retrieval keeps reading the active one;
 *  2. copies every source whose chunks differ between active and building, embedding with the new model only
 *     texts the building version does not already hold (ingestion meanwhile writes to both versions);
 *  3. verifies under the merchant lock (FOR UPDATE, so no ingestion is in flight) that the building version
 *     mirrors the active one chunk for chunk and every vector has the model's size, and flips both states in
 *     the same transaction — or goes back to step 2 if writes slipped in;
 *  4. deletes the retired version's chunks in batches.
 * Interrupted anywhere, it leaves the active version intact; running it again resumes (step 2 skips what is
 * done) and finishes any cleanup left over.
 */
export class ReembedService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly embedders: EmbedderRegistry,
    private readonly corpus: CorpusVersionRepository,
    private readonly chunks: ChunkRepository,
    private readonly indexes: MerchantIndexService,
  ) {}

  async run(merchantId: string, opts: ReembedOptions): Promise<ReembedReport> {
    if (!opts.model.trim()) throw badInput('model must not be empty', { field: 'model' });
    const dimensionsProblem = embeddingDimensionsProblem(opts.model, opts.dimensions);
    if (dimensionsProblem !== undefined) {
      throw badInput(dimensionsProblem, { field: 'dimensions' });
    }
    const embedder = this.embedders.get(opts.model, opts.dimensions);
    const m = this.dataSource.manager;
    let retiredChunksDeleted = await this.purgeRetired(merchantId, opts);

    let { active, building } = await this.corpus.findLive(m, merchantId);
    if (!active) throw notFound(`Merchant ${merchantId} has no active corpus version (is it provisioned?)`);
    const report = {
      model: opts.model,
      dimensions: opts.dimensions,
      sourcesCopied: 0,
      chunksEmbedded: 0,
      chunksReused: 0,
      copyRounds: 0,
    };
    if (active.embeddingModel === opts.model && active.dimensions === opts.dimensions && !building) {
      return {
        ...report,
        status: 'already-active',
        fromVersion: active.version,
        toVersion: active.version,
        retiredChunksDeleted,
        hnswIndex: await this.indexes.ensureFor(merchantId, opts.dimensions),
      };
    }
    if (building && (building.embeddingModel !== opts.model || building.dimensions !== opts.dimensions)) {
      if (!opts.restart) {
        throw badInput(
          `a re-embedding to ${building.embeddingModel} (${building.dimensions}-d) is in progress as version ${building.version}; ` +
            'run it to completion or pass restart to abandon it',
        );
      }
      await this.dataSource.transaction(async (tx) => {
        await this.corpus.lockMerchant(tx, merchantId, 'update');
        await this.corpus.delete(tx, merchantId, building!.version);
      });
      building = null;
    }
    if (!building) {
      building = await this.dataSource.transaction(async (tx) => {
        await this.corpus.lockMerchant(tx, merchantId, 'update');
        return this.corpus.createBuilding(tx, merchantId, opts.model, opts.dimensions);
      });
    }

    const batch = opts.batchSources ?? 20;
    for (;;) {
      report.copyRounds++;
      if (report.copyRounds > MAX_ROUNDS) {
        throw new Error(
          `the corpus kept changing during ${MAX_ROUNDS} verification rounds; run the job again later`,
        );
      }
      const total = (
        await this.chunks.differingSources(m, merchantId, active.version, building.version, 1_000_000)
      ).length;
      let done = 0;
      opts.onProgress?.({ phase: 'copy', done, total });
      for (;;) {
        const sources = await this.chunks.differingSources(
          m,
          merchantId,
          active.version,
          building.version,
          batch,
        );
        if (sources.length === 0) break;
        const copied = await this.copySources(merchantId, active, building, sources, embedder);
        report.sourcesCopied += sources.length;
        report.chunksEmbedded += copied.embedded;
        report.chunksReused += copied.reused;
        done = Math.min(total, done + sources.length);
        opts.onProgress?.({ phase: 'copy', done, total });
      }
      opts.onProgress?.({ phase: 'verify', done: 0, total: 1 });
      const flipped = await this.dataSource.transaction(async (tx) => {
        await this.corpus.lockMerchant(tx, merchantId, 'update');
        const live = await this.corpus.findLive(tx, merchantId);
        if (live.active?.version !== active!.version || live.building?.version !== building.version) {
          throw new Error('the corpus versions changed while re-embedding (another job?); run it again');
        }
        const differing = await this.chunks.differingSources(
          tx,
          merchantId,
          active!.version,
          building.version,
          1,
        );
        if (differing.length > 0) return false;
        if ((await this.chunks.countForeignVectors(tx, merchantId, building)) > 0) {
          throw new Error(
            `version ${building.version} holds vectors of another size or model; it was not activated`,
          );
        }
        await this.corpus.flip(tx, merchantId, active!.version, building.version);
        return true;
      });
      opts.onProgress?.({ phase: 'verify', done: 1, total: 1 });
      if (flipped) break;
    }
    const fromVersion = active.version;
    const toVersion = building.version;
    active = building;
    retiredChunksDeleted += await this.purgeRetired(merchantId, opts);
    // After the flip, not before: built while copying, the index would take every copied row one graph insertion
    // at a time. Between the flip and the end of the build the merchant is served by the quantized scan.
    const hnswIndex = await this.indexes.ensureFor(merchantId, opts.dimensions);
    return { ...report, status: 'flipped', fromVersion, toVersion, retiredChunksDeleted, hnswIndex };
  }

  private async copySources(
    merchantId: string,
    from: CorpusVersion,
    to: CorpusVersion,
    sources: ChunkSource[],
    embedder: ReturnType<EmbedderRegistry['get']>,
  ): Promise<{ embedded: number; reused: number }> {
    const m = this.dataSource.manager;
    const snapshots = await Promise.all(
      sources.map((s) => this.chunks.readSourceForCopy(m, merchantId, s, from.version)),
    );
    const texts = snapshots.flatMap((s) => s?.rows.map((r) => r.text) ?? []);
    const hashes = snapshots.flatMap((s) => s?.rows.map((r) => r.contentHash) ?? []);
    // Slow provider calls happen before the transaction; vectors the building version already has are reused.
    const known = await this.chunks.findVectorsByHash(m, merchantId, to, hashes);
    const { vectors, computed } = await this.embedders.embed(embedder, texts, known);
    const byHash = new Map(hashes.map((h, i) => [h, vectors[i]]));
    await this.dataSource.transaction(async (tx) => {
      await this.corpus.lockMerchant(tx, merchantId, 'share');
      for (const source of sources) {
        // The source row lock serializes this copy with ingestion and deletion of the same document or ticket;
        // what is copied is re-read under it, so an edit made since the snapshot is never overwritten.
        const exists = await this.chunks.lockSource(tx, merchantId, source);
        const current = exists
          ? await this.chunks.readSourceForCopy(tx, merchantId, source, from.version)
          : null;
        if (current && current.rows.some((r) => !byHash.has(r.contentHash))) continue; // changed: next round
        await this.chunks.deleteSourceChunks(tx, merchantId, source, to.version);
        if (!current) continue; // gone from the active version: gone from the new one too
        const rows = current.rows.map((r) => ({ ...r, embedding: byHash.get(r.contentHash)! }));
        await this.chunks.insertChunks(tx, merchantId, source, to.version, rows, {
          embeddingModel: to.embeddingModel,
          metadata: current.metadata,
          acl: current.acl,
        });
      }
    });
    const embedded = computed.filter(Boolean).length;
    return { embedded, reused: computed.length - embedded };
  }

  /** A dedicated connection, outside any transaction and without the request statement timeout. */
  /** Removes retired versions (their chunks first, in batches, so no single statement is huge). */
  private async purgeRetired(merchantId: string, opts: ReembedOptions): Promise<number> {
    const retired = (await this.corpus.list(this.dataSource.manager, merchantId)).filter(
      (v) => v.state === 'retired',
    );
    let deleted = 0;
    for (const v of retired) {
      for (;;) {
        const n = await this.dataSource.transaction((tx) =>
          this.chunks.deleteVersionChunks(tx, merchantId, v.version, DELETE_BATCH),
        );
        deleted += n;
        opts.onProgress?.({ phase: 'cleanup', done: deleted, total: deleted });
        if (n < DELETE_BATCH) break;
      }
      await this.dataSource.transaction((tx) => this.corpus.delete(tx, merchantId, v.version));
    }
    return deleted;
  }
}
