import { type EntityManager } from 'typeorm';
import { type JsonObject } from '../common/graphql-scalars';
import { type StoredTicketMessage } from './ticket.entity';

export interface TicketWrite {
  id: string;
  customerId: string;
  subject: string;
  status: string;
  messages: StoredTicketMessage[];
  contentHash: string;
  metadata: JsonObject;
  acl: string[];
}

export class TicketRepository {
  async upsert(manager: EntityManager, merchantId: string, t: TicketWrite): Promise<void> {
    await manager.query(
      `INSERT INTO tickets (merchant_id, id, customer_id, subject, status, messages, content_hash, metadata, acl)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9::text[])
       ON CONFLICT (merchant_id, id) DO UPDATE
         SET customer_id = EXCLUDED.customer_id, subject = EXCLUDED.subject, status = EXCLUDED.status,
             messages = EXCLUDED.messages, content_hash = EXCLUDED.content_hash, metadata = EXCLUDED.metadata,
             acl = EXCLUDED.acl, updated_at = now()`,
      [
        merchantId,
        t.id,
        t.customerId,
        t.subject,
        t.status,
        JSON.stringify(t.messages),
        t.contentHash,
        JSON.stringify(t.metadata),
        t.acl,
      ],
    );
  }
}
