import { Entity, PrimaryGeneratedColumn, Column } from 'typeorm';
import { type JsonObject } from '../common/graphql-scalars';

/**
 * A retrievable piece of a document or a ticket. Mirrors the table for TypeORM; the GraphQL view of a chunk is
 * `RetrievedChunk`, shaped by retrieval. Bulk writes go through ChunkRepository's SQL and searches through SearchRepository's (src/retrieval), not this class.
 */
@Entity({ name: 'document_chunks', synchronize: false })
export class DocumentChunk {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ name: 'merchant_id', type: 'text' })
  merchantId: string;

  @Column({ name: 'document_id', type: 'text', nullable: true })
  documentId: string | null;

  @Column({ name: 'ticket_id', type: 'text', nullable: true })
  ticketId: string | null;

  @Column({ name: 'chunk_index', type: 'integer' })
  chunkIndex: number;

  @Column({ name: 'chunk_text', type: 'text' })
  chunkText: string;

  @Column({ name: 'content_hash', type: 'text' })
  contentHash: string;

  @Column({ name: 'heading_path', type: 'text', array: true })
  headingPath: string[];

  @Column({ type: 'text' })
  citation: string;

  @Column({ type: 'vector', length: 1536 })
  embedding: number[];

  @Column({ name: 'embedding_model', type: 'text' })
  embeddingModel: string;

  @Column({ type: 'jsonb' })
  metadata: JsonObject;

  @Column({ type: 'text', array: true })
  acl: string[];

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt: Date;
}
