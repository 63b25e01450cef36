import { type EntityManager } from 'typeorm';
import {
  type ChunkGroup,
  type ChunkRepository,
  type ChunkSource,
  type ExistingChunk,
  sourceKey,
} from '../chunks/chunk.repository';
import { DomainError, notFound } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import {
  type CorpusVersion,
  type CorpusVersionRepository,
  type LiveVersions,
} from '../corpus/corpus-version.repository';
import { isDistributed } from '../db/distributed';
import { type Db } from '../db/session';
import { managerClient } from '../db/sql-client';
import { type DocumentRepository, type DocumentWrite } from '../documents/document.repository';
import { type SupportDocument } from '../documents/support-document.entity';
import { type EmbedderRegistry } from '../embeddings/embedder.registry';
import { type ServiceEvents } from '../ops/service-events';
import { type Ticket } from '../tickets/ticket.entity';
import { type TicketRepository, type TicketWrite } from '../tickets/ticket.repository';
import { type IngestOutcome, type Piece, type PreparedSource, type WriteObserver } from './ingestion.types';

/** What a prepared source becomes once written. */
export type WrittenRow<S extends PreparedSource> = S extends { kind: 'document' } ? SupportDocument : Ticket;

/** The corpus versions changed between reading and writing (a model flip happened): plan again. */
class VersionsChanged extends Error {}
/** Another writer changed the same sources' chunks between our read and our write: plan again. */
class ChunksChanged extends Error {}
/** A live version embeds with a provider outside this process: vectors are computed before the write transaction. */
class EmbedsElsewhere extends Error {}

const MAX_ATTEMPTS = 3;

/** Per corpus version: vectors for every text that will be inserted, and which of them were computed now. */
interface VersionPlan {
  version: CorpusVersion;
  vectors: Map<string, number[]>;
  computed: Set<string>;
}

/** How one source's chunks in one version change: kept rows are not touched (no new tuple, no HNSW entry). */
interface ChunkDiff {
  keep: number;
  remove: string[];
  insert: Piece[];
  previousHashes: string[];
}

/**
 * Writes prepared sources (documents, or a ticket) with their chunks. Order matters: read what is stored and
 * compute the missing vectors first (slow, may fail, no transaction open while a provider answers), then write the
 * source rows and all their chunk rows in ONE transaction, so a reader sees the old version or the new one and a
 * failure anywhere leaves nothing behind.
 *
 * Incremental: a chunk whose position, text and citation are unchanged is not rewritten and needs no vector; new
 * text takes a vector the corpus version already stores for it (by content hash) or is embedded. While a model
 * change is being built (a `building` corpus version), every write goes to both versions.
 *
 * Batched: whatever the number of sources, the transaction runs a fixed handful of statements (one upsert of all
 * source rows, list the stored chunks, one DELETE, INSERT … SELECT FROM unnest per 1,000 rows).
 */
export class SourceWriter {
  constructor(
    private readonly embedders: EmbedderRegistry,
    private readonly corpus: CorpusVersionRepository,
    private readonly documents: DocumentRepository,
    private readonly tickets: TicketRepository,
    private readonly chunks: ChunkRepository,
    private readonly observers: readonly WriteObserver[],
    private readonly events: ServiceEvents,
  ) {}

  /** All sources must be of one kind (a batch of documents, or one ticket). */
  async write<S extends PreparedSource>(
    db: Db,
    merchantId: string,
    prepared: readonly S[],
  ): Promise<IngestOutcome<WrittenRow<S>>[]> {
    if (prepared.length === 0) return [];
    const kind = prepared[0].kind;
    if (this.embedders.defaultEmbedder.inProcess) {
      try {
        const committed = await db.transaction((m) => this.commit(m, merchantId, kind, prepared, null));
        return this.committed(merchantId, kind, committed) as IngestOutcome<WrittenRow<S>>[];
      } catch (err) {
        if (!(err instanceof EmbedsElsewhere)) throw err; // a live version's model is a provider's: plan first
      }
    }
    for (let attempt = 1; ; attempt++) {
      const plans = await this.plan(db, merchantId, kind, prepared);
      if (!('versions' in plans)) {
        // Everything is stored exactly so: answered from the plan's read, nothing to write.
        this.events.sourcesWritten(kind, plans.unchanged);
        return plans.unchanged as IngestOutcome<WrittenRow<S>>[];
      }
      try {
        const committed = await db.transaction((m) =>
          this.commit(m, merchantId, kind, prepared, plans.versions),
        );
        return this.committed(merchantId, kind, committed) as IngestOutcome<WrittenRow<S>>[];
      } catch (err) {
        if (!(err instanceof VersionsChanged || err instanceof ChunksChanged)) throw err;
        if (attempt < MAX_ATTEMPTS) continue;
        throw new DomainError(
          ErrorCode.SERVICE_UNAVAILABLE,
          err instanceof VersionsChanged
            ? 'The merchant is being switched to another embedding model right now; retry in a moment'
            : 'The same content is being written by another request right now; retry in a moment',
        );
      }
    }
  }

  /**
   * The re-ingest fast path: outcomes for checked (not yet chunked) documents when every one is stored exactly as
   * given, chunked with the current chunker, and nothing else is being built; else null (then chunk and write()).
   * One statement in a transaction of three round trips (BEGIN with the tenant settings, it, COMMIT).
   */
  async findUnchangedDocuments(
    db: Db,
    merchantId: string,
    rows: readonly DocumentWrite[],
  ): Promise<IngestOutcome<SupportDocument>[] | null> {
    const found = await db.transaction((m) =>
      this.documents.findUnchanged(managerClient(m), merchantId, rows),
    );
    if (!found) return null;
    const outcomes = found.map(({ row, chunkCount }) => unchangedOutcome(row, chunkCount));
    this.events.sourcesWritten('document', outcomes);
    return outcomes;
  }

  /**
   * Reads what is stored (one short transaction) and computes the vectors of the texts that will be inserted. When
   * documents are stored exactly as given (rows and chunks, in every live version), the read says so and no write
   * transaction follows: a re-ingest of unchanged content costs one read transaction.
   */
  private async plan(
    db: Db,
    merchantId: string,
    kind: ChunkSource['kind'],
    prepared: readonly PreparedSource[],
  ): Promise<{ versions: VersionPlan[] } | { unchanged: IngestOutcome<SupportDocument>[] }> {
    const read = await db.transaction(async (m) => {
      const live = await this.corpus.findLive(m, merchantId);
      if (!live.active) throw notProvisioned(merchantId);
      const targets = [live.active, ...(live.building ? [live.building] : [])];
      const stored = await this.chunks.listChunksOfSources(
        m,
        merchantId,
        kind,
        prepared.map((p) => p.row.id),
        targets.map((v) => v.version),
      );
      let chunksAsGiven = true;
      const perVersion = [];
      for (const v of targets) {
        const { needed, asGiven } = neededTexts(v, prepared, stored);
        if (!asGiven) chunksAsGiven = false;
        perVersion.push({ version: v, needed, known: await this.knownVectors(m, merchantId, v, needed) });
      }
      if (chunksAsGiven && kind === 'document') {
        const docs = prepared.map((p) => p.row as DocumentWrite);
        const rows = await this.documents.findAllStoredAsGiven(m, merchantId, docs);
        if (rows)
          return { unchanged: rows.map((row, i) => unchangedOutcome(row, prepared[i].pieces.length)) };
      }
      return { perVersion };
    });
    if (read.unchanged) return { unchanged: read.unchanged };
    const plans: VersionPlan[] = [];
    for (const { version, needed, known } of read.perVersion)
      plans.push(await this.embed(version, needed, known));
    return { versions: plans };
  }

  /** After a commit: observers (index maintenance, calibration) hear of it when something changed; events always. */
  private committed(
    merchantId: string,
    kind: ChunkSource['kind'],
    outcomes: IngestOutcome<SupportDocument | Ticket>[],
  ): IngestOutcome<SupportDocument | Ticket>[] {
    if (outcomes.some((o) => !o.unchanged)) for (const o of this.observers) o.noteWrite(merchantId);
    this.events.sourcesWritten(kind, outcomes);
    return outcomes;
  }

  /** Vectors the version already stores for the needed texts (the embedding cache in the database). */
  private knownVectors(
    m: EntityManager,
    merchantId: string,
    version: CorpusVersion,
    needed: ReadonlyMap<string, string>,
  ): Promise<Map<string, number[]>> {
    return needed.size === 0
      ? Promise.resolve(new Map<string, number[]>())
      : this.chunks.findVectorsByHash(m, merchantId, version, [...needed.keys()]);
  }

  /** A vector for every needed text: the known ones, the rest computed by the version's embedder. */
  private async embed(
    version: CorpusVersion,
    needed: ReadonlyMap<string, string>,
    known: ReadonlyMap<string, number[]>,
  ): Promise<VersionPlan> {
    const hashes = [...needed.keys()];
    const vectors = new Map<string, number[]>();
    const computed = new Set<string>();
    if (hashes.length > 0) {
      const embedded = await this.embedders.embed(
        this.embedders.get(version.embeddingModel, version.dimensions),
        hashes.map((h) => needed.get(h)!),
        known,
      );
      hashes.forEach((h, i) => {
        vectors.set(h, embedded.vectors[i]);
        if (embedded.computed[i]) computed.add(h);
      });
    }
    return { version, vectors, computed };
  }

  /**
   * The write transaction. Given `planned` (vectors computed before it, by a provider), it checks the versions are
   * still the planned ones and that no needed vector went missing. Given null, it plans inside, under its locks:
   * only when every live version's embedder runs in this process (no provider is waited for with locks held), else
   * EmbedsElsewhere before anything is written. One transaction instead of a read and a write: a new ticket is 6
   * round trips instead of 10.
   */
  private async commit(
    m: EntityManager,
    merchantId: string,
    kind: ChunkSource['kind'],
    prepared: readonly PreparedSource[],
    planned: readonly VersionPlan[] | null,
  ): Promise<IngestOutcome<SupportDocument | Ticket>[]> {
    // The merchant row FOR SHARE: a model flip takes it FOR UPDATE, so no write straddles a flip. One statement
    // on a single node; on Citus the lock stays a router query of its own.
    let now: LiveVersions | null;
    if (await isDistributed(m)) {
      if (!(await this.corpus.lockMerchant(m, merchantId, 'share'))) throw notProvisioned(merchantId);
      now = await this.corpus.findLive(m, merchantId);
    } else {
      now = await this.corpus.lockMerchantFindLive(m, merchantId);
      if (!now) throw notProvisioned(merchantId);
    }
    if (!now.active) throw notProvisioned(merchantId);
    const targets = [now.active, ...(now.building ? [now.building] : [])];
    if (planned === null) {
      if (!targets.every((v) => this.embedders.get(v.embeddingModel, v.dimensions).inProcess))
        throw new EmbedsElsewhere();
    } else if (
      targets.length !== planned.length ||
      targets.some((v, i) => v.version !== planned[i].version.version)
    ) {
      throw new VersionsChanged();
    }
    // Upserting the rows locks them: from here on, no other writer changes these sources' chunks.
    const rows: { row: SupportDocument | Ticket; changed: boolean; created: boolean }[] =
      kind === 'document'
        ? await this.documents.upsertMany(
            m,
            merchantId,
            prepared.map((p) => p.row as DocumentWrite),
          )
        : await this.tickets.upsertMany(
            m,
            merchantId,
            prepared.map((p) => p.row as TicketWrite),
          );
    // Rows the upsert left alone get the chunker signature of the chunks this transaction makes them match.
    const kept = prepared.filter((p, i) => p.kind === 'document' && !rows[i].changed);
    if (kept.length > 0) {
      await this.documents.markChunkedWith(
        m,
        merchantId,
        kept.map((p) => p.row.id),
        (kept[0].row as DocumentWrite).chunkedWith,
      );
    }
    // A row the upsert created has no chunks yet (they reference it): nothing to list when every row is new.
    const stored = rows.every((r) => r.created)
      ? new Map<string, ExistingChunk[]>()
      : await this.chunks.listChunksOfSources(
          m,
          merchantId,
          kind,
          prepared.map((p) => p.row.id),
          targets.map((v) => v.version),
        );
    let plans = planned;
    if (plans === null) {
      const inside: VersionPlan[] = [];
      for (const v of targets) {
        const { needed } = neededTexts(v, prepared, stored);
        inside.push(await this.embed(v, needed, await this.knownVectors(m, merchantId, v, needed)));
      }
      plans = inside;
    }
    const remove: string[] = [];
    const groups: ChunkGroup[] = [];
    const outcomes: IngestOutcome<SupportDocument | Ticket>[] = [];
    for (const [i, p] of prepared.entries()) {
      const source: ChunkSource =
        p.kind === 'document'
          ? { kind: 'document', documentId: p.row.id }
          : { kind: 'ticket', ticketId: p.row.id };
      let outcome: IngestOutcome<SupportDocument | Ticket> | undefined;
      for (const plan of plans) {
        const v = plan.version;
        const diff = diffChunks(stored.get(sourceKey(v.version, p.row.id)) ?? [], p.pieces);
        remove.push(...diff.remove);
        // The row changed (ACL or metadata maybe): kept chunks follow it; an unchanged row means they match.
        if (rows[i].changed && diff.keep > 0)
          await this.chunks.updateSharedFields(m, merchantId, source, v.version, p);
        if (diff.insert.length > 0) {
          groups.push({
            source,
            version: v.version,
            shared: { embeddingModel: v.embeddingModel, metadata: p.metadata, acl: p.acl },
            rows: diff.insert.map((x) => {
              const embedding = plan.vectors.get(x.hash);
              if (!embedding) throw new ChunksChanged(); // read before another writer's commit
              return { ...x, chunkIndex: x.index, contentHash: x.hash, embedding };
            }),
          });
        }
        if (plan === plans[0]) {
          const embedded = diff.insert.filter((x) => plan.computed.has(x.hash)).length;
          outcome = {
            source: rows[i].row,
            chunkCount: p.pieces.length,
            embeddedChunks: embedded,
            reusedChunks: p.pieces.length - embedded,
            deletedChunks: countGone(
              diff.previousHashes,
              p.pieces.map((x) => x.hash),
            ),
            unchanged: !rows[i].changed && diff.insert.length === 0 && diff.remove.length === 0,
            created: rows[i].created,
            warnings: aclWarnings(p.acl),
          };
        }
      }
      outcomes.push(outcome!);
    }
    // Deleted before the inserts: a position that now holds other text is unique per source and version.
    await this.chunks.deleteChunksById(m, merchantId, remove);
    await this.chunks.insertChunkGroups(m, merchantId, groups);
    // Anything else that must change with the chunks (e.g. per-merchant term statistics) is one repository call
    // here, inside this transaction, given `groups` (inserted) and `remove` (deleted chunk ids).
    return outcomes;
  }
}

function unchangedOutcome(row: SupportDocument, chunkCount: number): IngestOutcome<SupportDocument> {
  return {
    source: row,
    chunkCount,
    embeddedChunks: 0,
    reusedChunks: chunkCount,
    deletedChunks: 0,
    unchanged: true,
    created: false,
    warnings: aclWarnings(row.acl),
  };
}

function notProvisioned(merchantId: string): DomainError {
  return notFound(`Merchant ${merchantId} is not provisioned; ask an administrator to create it first`);
}

/** The texts (hash → text) one version needs vectors for, and whether its stored chunks are already as given. */
function neededTexts(
  version: CorpusVersion,
  prepared: readonly PreparedSource[],
  stored: ReadonlyMap<string, ExistingChunk[]>,
): { needed: Map<string, string>; asGiven: boolean } {
  const needed = new Map<string, string>();
  let asGiven = true;
  for (const p of prepared) {
    const diff = diffChunks(stored.get(sourceKey(version.version, p.row.id)) ?? [], p.pieces);
    for (const x of diff.insert) needed.set(x.hash, x.text);
    if (diff.insert.length > 0 || diff.remove.length > 0) asGiven = false;
  }
  return { needed, asGiven };
}

/** Compares stored chunks with new pieces position by position; same hash, citation and heading path → kept. */
function diffChunks(existing: readonly ExistingChunk[], pieces: readonly Piece[]): ChunkDiff {
  const wanted = new Map(pieces.map((p) => [p.index, p]));
  const kept = new Set<number>();
  const remove: string[] = [];
  for (const e of existing) {
    const w = wanted.get(e.chunkIndex);
    const same =
      w !== undefined &&
      w.hash === e.contentHash &&
      w.citation === e.citation &&
      w.headingPath.join('\u0000') === e.headingPath.join('\u0000');
    if (same) kept.add(e.chunkIndex);
    else remove.push(e.id);
  }
  return {
    keep: kept.size,
    remove,
    insert: pieces.filter((p) => !kept.has(p.index)),
    previousHashes: existing.map((e) => e.contentHash),
  };
}

/** Old chunks whose text no longer appears (as a multiset: two equal paragraphs count twice). */
function countGone(previous: readonly string[], next: readonly string[]): number {
  const remaining = new Map<string, number>();
  for (const h of next) remaining.set(h, (remaining.get(h) ?? 0) + 1);
  let gone = 0;
  for (const h of previous) {
    const n = remaining.get(h) ?? 0;
    if (n > 0) remaining.set(h, n - 1);
    else gone++;
  }
  return gone;
}

function aclWarnings(acl: string[]): string[] {
  return acl.length === 0
    ? ['The ACL is empty: nobody can read this content until principals are added.']
    : [];
}
