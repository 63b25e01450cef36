import { type EntityManager } from 'typeorm';
import { type TenantScope } from '../auth/identity';
import { type JsonObject } from '../common/graphql-scalars';
import { SupportDocument } from './support-document.entity';

export interface DocumentWrite {
  id: string;
  title: string;
  body: string;
  contentHash: string;
  metadata: JsonObject;
  acl: string[];
}

export class DocumentRepository {
  async upsert(manager: EntityManager, merchantId: string, doc: DocumentWrite): Promise<SupportDocument> {
    const rows: Record<string, unknown>[] = await manager.query(
      `INSERT INTO support_documents AS d (merchant_id, id, title, body, content_hash, metadata, acl)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::text[])
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET title = EXCLUDED.title, body = EXCLUDED.body, content_hash = EXCLUDED.content_hash,
             metadata = EXCLUDED.metadata, acl = EXCLUDED.acl, updated_at = now()
       RETURNING d.*`,
      [merchantId, doc.id, doc.title, doc.body, doc.contentHash, JSON.stringify(doc.metadata), doc.acl],
    );
    return manager.create(SupportDocument, {
      merchantId: rows[0].merchant_id as string,
      id: rows[0].id as string,
      title: rows[0].title as string,
      body: rows[0].body as string,
      contentHash: rows[0].content_hash as string,
      metadata: rows[0].metadata as JsonObject,
      acl: rows[0].acl as string[],
      createdAt: rows[0].created_at as Date,
      updatedAt: rows[0].updated_at as Date,
    });
  }

  /** Documents of the scope's merchant that the caller may read, for the given ids (missing ones are absent). */
  async findReadableByIds(
    manager: EntityManager,
    scope: TenantScope,
    ids: readonly string[],
  ): Promise<SupportDocument[]> {
    return manager
      .createQueryBuilder(SupportDocument, 'd')
      .where('d.merchant_id = :merchantId', { merchantId: scope.merchantId })
      .andWhere('d.id = ANY(:ids)', { ids: [...ids] })
      .andWhere('d.acl && :principals::text[]', { principals: [...scope.principals] })
      .getMany();
  }
}
