import { type DataSource } from 'typeorm';
import { type Identity } from '../auth/identity';
import { assertMayManageContent, type ContentAccess, contentAccess } from '../auth/permissions';
import { type ChunkRepository } from '../chunks/chunk.repository';
import { notFound } from '../common/errors/domain-error';
import { decodeCursor, pageSize, toPage } from '../common/pagination/cursor';
import {
  assertDate,
  assertSourceId,
  assertText,
  normalizeAcl,
  normalizeMetadata,
} from '../common/validation';
import { type Config } from '../config/config';
import { type CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type DocumentListFilter, type DocumentRepository } from './document.repository';
import { type SupportDocument } from './support-document.entity';

/** Reading and managing documents; ingestion is IngestionService. Every method is scoped by the caller. */
export class DocumentService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly documents: DocumentRepository,
    private readonly chunks: ChunkRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly config: Config,
  ) {}

  private access(identity: Identity): ContentAccess {
    return contentAccess(identity, this.config);
  }

  async get(identity: Identity, id: string): Promise<SupportDocument | null> {
    const [doc] = await this.getMany(identity, [assertSourceId('id', id)]);
    return doc ?? null;
  }

  /** The documents among `ids` the caller may see; one query. */
  async getMany(identity: Identity, ids: readonly string[]): Promise<SupportDocument[]> {
    return this.documents.findVisibleByIds(this.dataSource.manager, this.access(identity), ids);
  }

  async list(
    identity: Identity,
    page: { first?: number | null; after?: string | null },
    filter: DocumentListFilter,
  ) {
    const limit = pageSize(page.first);
    if (filter.category !== undefined) assertText('filter.category', filter.category, 200);
    if (filter.updatedSince !== undefined) assertDate('filter.updatedSince', filter.updatedSince);
    const rows = await this.documents.listVisible(
      this.dataSource.manager,
      this.access(identity),
      { after: decodeCursor(page.after), limit },
      filter,
    );
    return toPage(rows, limit);
  }

  /** New ACL on the document and every one of its chunks, in one transaction; no re-embedding. */
  async updateAcl(identity: Identity, id: string, acl: readonly string[]): Promise<SupportDocument> {
    assertMayManageContent(identity, this.config);
    return this.updateAccess(identity, id, { acl: normalizeAcl('acl', acl) });
  }

  async updateMetadata(identity: Identity, id: string, metadata: unknown): Promise<SupportDocument> {
    assertMayManageContent(identity, this.config);
    return this.updateAccess(identity, id, { metadata: normalizeMetadata('metadata', metadata) });
  }

  /** Deletes the document and all its chunks (ON DELETE CASCADE, same statement). False when there was none. */
  async delete(identity: Identity, id: string): Promise<boolean> {
    assertMayManageContent(identity, this.config);
    assertSourceId('id', id);
    return this.dataSource.transaction(async (m) => {
      await this.corpus.lockMerchant(m, identity.merchantId, 'share');
      return this.documents.delete(m, identity.merchantId, id);
    });
  }

  private async updateAccess(
    identity: Identity,
    id: string,
    change: { acl?: string[]; metadata?: Record<string, unknown> },
  ): Promise<SupportDocument> {
    assertSourceId('id', id);
    return this.dataSource.transaction(async (m) => {
      await this.corpus.lockMerchant(m, identity.merchantId, 'share');
      const doc = await this.documents.updateAccess(m, identity.merchantId, id, change);
      if (!doc) throw notFound(`Document ${id} does not exist`);
      await this.chunks.updateSourceAccess(
        m,
        identity.merchantId,
        { kind: 'document', documentId: id },
        change,
      );
      return doc;
    });
  }
}
