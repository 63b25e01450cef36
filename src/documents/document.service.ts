import { assertMayManageContent } from '../auth/permissions';
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
import { type TenantSession } from '../db/session';
import { type DocumentListFilter, type DocumentRepository } from './document.repository';
import { type SupportDocument } from './support-document.entity';

/** Reading and managing documents; ingestion is IngestionService. Every method is scoped by the caller. */
export class DocumentService {
  constructor(
    private readonly documents: DocumentRepository,
    private readonly chunks: ChunkRepository,
    private readonly corpus: CorpusVersionRepository,
    private readonly config: Config,
  ) {}

  async get(session: TenantSession, id: string): Promise<SupportDocument | null> {
    const [doc] = await this.getMany(session, [assertSourceId('id', id)]);
    return doc ?? null;
  }

  /** The documents among `ids` the caller may see; one query. */
  async getMany(session: TenantSession, ids: readonly string[]): Promise<SupportDocument[]> {
    return session.transaction((m) => this.documents.findVisibleByIds(m, session.access, ids));
  }

  async list(
    session: TenantSession,
    page: { first?: number | null; after?: string | null },
    filter: DocumentListFilter,
  ) {
    const limit = pageSize(page.first);
    if (filter.category !== undefined) assertText('filter.category', filter.category, 200);
    if (filter.updatedSince !== undefined) assertDate('filter.updatedSince', filter.updatedSince);
    const after = decodeCursor(page.after);
    const rows = await session.transaction((m) =>
      this.documents.listVisible(m, session.access, { after, limit }, filter),
    );
    return toPage(rows, limit);
  }

  /** New ACL on the document and every one of its chunks, in one transaction; no re-embedding. */
  async updateAcl(session: TenantSession, id: string, acl: readonly string[]): Promise<SupportDocument> {
    assertMayManageContent(session.identity, this.config);
    return this.updateAccess(session, id, { acl: normalizeAcl('acl', acl) });
  }

  async updateMetadata(session: TenantSession, id: string, metadata: unknown): Promise<SupportDocument> {
    assertMayManageContent(session.identity, this.config);
    return this.updateAccess(session, id, { metadata: normalizeMetadata('metadata', metadata) });
  }

  /** Deletes the document and all its chunks (ON DELETE CASCADE, same statement). False when there was none. */
  async delete(session: TenantSession, id: string): Promise<boolean> {
    assertMayManageContent(session.identity, this.config);
    assertSourceId('id', id);
    const { merchantId } = session.scope;
    return session.transaction(async (m) => {
      await this.corpus.lockMerchant(m, merchantId, 'share');
      return this.documents.delete(m, merchantId, id);
    });
  }

  private async updateAccess(
    session: TenantSession,
    id: string,
    change: { acl?: string[]; metadata?: Record<string, unknown> },
  ): Promise<SupportDocument> {
    assertSourceId('id', id);
    const { merchantId } = session.scope;
    return session.transaction(async (m) => {
      await this.corpus.lockMerchant(m, merchantId, 'share');
      const doc = await this.documents.updateAccess(m, merchantId, id, change);
      if (!doc) throw notFound(`Document ${id} does not exist`);
      await this.chunks.updateSourceAccess(m, merchantId, { kind: 'document', documentId: id }, change);
      return doc;
    });
  }
}
