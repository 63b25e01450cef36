import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The normalized core (merchants, support_documents, tickets, orders) and the denormalized retrieval table
 * (document_chunks). Client-chosen ids are unique per merchant, so every key leads with merchant_id: that is
 * also what lets these tables be distributed by merchant_id (Citus) later without changing a key.
 */
export class InitialSchema1763700000000 implements MigrationInterface {
  name = 'InitialSchema1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS vector`);

    await q.query(`
      CREATE TABLE merchants (
        id          text PRIMARY KEY CONSTRAINT merchants_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
        name        text NOT NULL CONSTRAINT merchants_name_not_blank CHECK (btrim(name) <> ''),
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE support_documents (
        merchant_id   text NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
        id            text NOT NULL CONSTRAINT support_documents_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
        title         text NOT NULL CONSTRAINT support_documents_title_not_blank CHECK (btrim(title) <> ''),
        body          text NOT NULL,
        content_hash  text NOT NULL,
        metadata      jsonb NOT NULL DEFAULT '{}' CONSTRAINT support_documents_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
        acl           text[] NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (merchant_id, id)
      )`);

    await q.query(`
      CREATE TABLE tickets (
        merchant_id   text NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
        id            text NOT NULL CONSTRAINT tickets_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
        customer_id   text NOT NULL,
        subject       text NOT NULL,
        status        text NOT NULL CONSTRAINT tickets_status_known CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
        messages      jsonb NOT NULL DEFAULT '[]' CONSTRAINT tickets_messages_array CHECK (jsonb_typeof(messages) = 'array'),
        content_hash  text NOT NULL,
        metadata      jsonb NOT NULL DEFAULT '{}' CONSTRAINT tickets_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
        acl           text[] NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (merchant_id, id)
      )`);
    // The agent's view of a customer: their tickets, most recent first.
    await q.query(
      `CREATE INDEX tickets_customer_recent_idx ON tickets (merchant_id, customer_id, updated_at DESC)`,
    );

    await q.query(`
      CREATE TABLE orders (
        merchant_id      text NOT NULL REFERENCES merchants(id) ON DELETE CASCADE,
        id               text NOT NULL CONSTRAINT orders_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:#-]{0,127}$'),
        customer_id      text NOT NULL,
        status           text NOT NULL CONSTRAINT orders_status_known
                           CHECK (status IN ('pending', 'paid', 'fulfilled', 'shipped', 'delivered', 'cancelled', 'refund_requested', 'refunded')),
        currency         char(3) NOT NULL CONSTRAINT orders_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
        subtotal_cents   bigint NOT NULL CHECK (subtotal_cents >= 0),
        tax_cents        bigint NOT NULL DEFAULT 0 CHECK (tax_cents >= 0),
        shipping_cents   bigint NOT NULL DEFAULT 0 CHECK (shipping_cents >= 0),
        total_cents      bigint NOT NULL CHECK (total_cents >= 0),
        refunded_cents   bigint NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0),
        placed_at        timestamptz NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (merchant_id, id),
        CONSTRAINT orders_total_adds_up CHECK (total_cents = subtotal_cents + tax_cents + shipping_cents),
        CONSTRAINT orders_refund_within_total CHECK (refunded_cents <= total_cents)
      )`);
    await q.query(
      `CREATE INDEX orders_customer_recent_idx ON orders (merchant_id, customer_id, placed_at DESC)`,
    );

    // One denormalized row per chunk of a document or a ticket. merchant_id is copied onto the chunk for the hot
    // filter, and the composite foreign keys (merchant_id, document_id) / (merchant_id, ticket_id) make it
    // impossible for a chunk to carry a merchant other than its source's: the pair must exist in the source table.
    await q.query(`
      CREATE TABLE document_chunks (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        merchant_id      text NOT NULL,
        document_id      text,
        ticket_id        text,
        chunk_index      integer NOT NULL CONSTRAINT document_chunks_index_nonnegative CHECK (chunk_index >= 0),
        chunk_text       text NOT NULL CONSTRAINT document_chunks_text_not_blank CHECK (btrim(chunk_text) <> ''),
        content_hash     text NOT NULL,
        heading_path     text[] NOT NULL DEFAULT '{}',
        citation         text NOT NULL,
        embedding        vector(1536) NOT NULL,
        embedding_model  text NOT NULL,
        metadata         jsonb NOT NULL DEFAULT '{}' CONSTRAINT document_chunks_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
        acl              text[] NOT NULL DEFAULT '{}',
        search_tsv       tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, chunk_text)) STORED,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT document_chunks_one_source CHECK (num_nonnulls(document_id, ticket_id) = 1),
        CONSTRAINT document_chunks_document_fk FOREIGN KEY (merchant_id, document_id)
          REFERENCES support_documents (merchant_id, id) ON DELETE CASCADE,
        CONSTRAINT document_chunks_ticket_fk FOREIGN KEY (merchant_id, ticket_id)
          REFERENCES tickets (merchant_id, id) ON DELETE CASCADE,
        CONSTRAINT document_chunks_document_chunk_unique UNIQUE (merchant_id, document_id, chunk_index),
        CONSTRAINT document_chunks_ticket_chunk_unique UNIQUE (merchant_id, ticket_id, chunk_index)
      )`);
    await q.query(`CREATE INDEX document_chunks_merchant_idx ON document_chunks (merchant_id)`);
    await q.query(`CREATE INDEX document_chunks_acl_gin_idx ON document_chunks USING gin (acl)`);
    await q.query(
      `CREATE INDEX document_chunks_metadata_gin_idx ON document_chunks USING gin (metadata jsonb_path_ops)`,
    );
    await q.query(`CREATE INDEX document_chunks_search_tsv_idx ON document_chunks USING gin (search_tsv)`);
    await q.query(`
      CREATE INDEX document_chunks_embedding_hnsw_idx ON document_chunks
        USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS document_chunks`);
    await q.query(`DROP TABLE IF EXISTS orders`);
    await q.query(`DROP TABLE IF EXISTS tickets`);
    await q.query(`DROP TABLE IF EXISTS support_documents`);
    await q.query(`DROP TABLE IF EXISTS merchants`);
    // The vector extension is left installed: other schemas in the database may use it.
  }
}
