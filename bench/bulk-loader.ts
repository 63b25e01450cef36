import { performance } from 'node:perf_hooks';
import { type Client } from 'pg';
import { sha256 } from '../src/common/hash';
import {
  type CorpusParams,
  type GeneratedSource,
  type MerchantPlan,
  merchantSources,
} from './corpus-generator';
import { type VectorGenerator } from './vector-generator';

/**
 * Bulk-loads generated merchants into the product's schema with multi-row INSERTs on a few connections: documents and
 * tickets first, then their chunks, every constraint and trigger of the schema in force (the corpus-version
 * dimension trigger, the generated tsvector, the foreign keys). Vectors travel in pgvector's binary format
 * (6 KB per 1536-d vector instead of ~20 KB of text). The next batch is generated while the previous one is
 * being written, so the JavaScript side and PostgreSQL work at the same time.
 */

/** Chunks per INSERT statement: 13 parameters a row stays far below the 65,535 bind-parameter limit. */
const BATCH_CHUNKS = 250;

export interface LoadStats {
  merchants: number;
  sources: number;
  chunks: number;
  seconds: number;
}

/** pgvector's binary wire format: int16 dimensions, int16 unused, then float4 big-endian values. */
export function vectorToBinary(v: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(4 + 4 * v.length);
  buf.writeInt16BE(v.length, 0);
  buf.writeInt16BE(0, 2);
  for (let i = 0; i < v.length; i++) buf.writeFloatBE(v[i], 4 + 4 * i);
  return buf;
}

interface Batch {
  merchant: MerchantPlan;
  sources: GeneratedSource[];
  chunks: number;
}

function* batches(
  p: CorpusParams,
  topics: VectorGenerator,
  merchants: readonly MerchantPlan[],
): Generator<Batch> {
  for (const merchant of merchants) {
    let batch: Batch = { merchant, sources: [], chunks: 0 };
    for (const source of merchantSources(p, topics, merchant)) {
      batch.sources.push(source);
      batch.chunks += source.chunks.length;
      if (batch.chunks >= BATCH_CHUNKS) {
        yield batch;
        batch = { merchant, sources: [], chunks: 0 };
      }
    }
    if (batch.sources.length > 0) yield batch;
  }
}

async function writeBatch(client: Client, b: Batch, embeddingModel: string): Promise<void> {
  const merchantId = b.merchant.id;
  const docs = b.sources.filter((s) => s.kind === 'document');
  const tickets = b.sources.filter((s) => s.kind === 'ticket');
  if (docs.length > 0) {
    const params: unknown[] = [merchantId];
    const values = docs.map((d) => {
      const body = d.chunks.map((c) => c.text).join('\n\n');
      const at = params.length;
      params.push(d.id, d.title, body, sha256(body), JSON.stringify(d.metadata), d.acl);
      return `($1, $${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}::jsonb, $${at + 6}::text[])`;
    });
    await client.query(
      `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, metadata, acl) VALUES ${values.join(',')}`,
      params,
    );
  }
  if (tickets.length > 0) {
    const params: unknown[] = [merchantId];
    const statuses = ['open', 'pending', 'resolved', 'closed'];
    const values = tickets.map((t, i) => {
      const messages = t.chunks.map((c, j) => ({
        author: j % 2 === 0 ? 'customer' : 'agent',
        body: c.text,
        sentAt: null,
      }));
      const at = params.length;
      params.push(
        t.id,
        `c${i % 17}`,
        t.title,
        statuses[i % statuses.length],
        JSON.stringify(messages),
        sha256(JSON.stringify(messages)),
        JSON.stringify(t.metadata),
        t.acl,
      );
      return `($1, $${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}::jsonb, $${at + 6}, $${at + 7}::jsonb, $${at + 8}::text[])`;
    });
    await client.query(
      `INSERT INTO tickets (merchant_id, id, customer_id, subject, status, messages, content_hash, metadata, acl)
         VALUES ${values.join(',')}`,
      params,
    );
  }
  const params: unknown[] = [merchantId, embeddingModel];
  const values: string[] = [];
  for (const s of b.sources) {
    s.chunks.forEach((c, i) => {
      const at = params.length;
      params.push(
        s.kind === 'document' ? s.id : null,
        s.kind === 'ticket' ? s.id : null,
        i,
        c.text,
        sha256(c.text),
        s.kind === 'document' ? `${s.title} §${i + 1}` : `Ticket ${s.id}`,
        vectorToBinary(c.embedding),
        JSON.stringify(s.metadata),
        s.acl,
      );
      values.push(
        `($1, $${at + 1}, $${at + 2}, 1, $${at + 3}, $${at + 4}, $${at + 5}, '{}', $${at + 6}, $${at + 7}::vector, $2, $${at + 8}::jsonb, $${at + 9}::text[])`,
      );
    });
  }
  await client.query(
    `INSERT INTO document_chunks (merchant_id, document_id, ticket_id, corpus_version, chunk_index, chunk_text,
                                    content_hash, heading_path, citation, embedding, embedding_model, metadata, acl)
       VALUES ${values.join(',')}`,
    params,
  );
}

/**
 * Loads the merchants' content (the merchants and their corpus versions must exist). Batches go round-robin to the
 * connections, one batch in flight per connection (which bounds the memory); a batch holds whole documents and
 * tickets, and each connection writes a batch's sources before its chunks, so batches are independent.
 */
export async function bulkLoad(
  clients: readonly Client[],
  p: CorpusParams,
  topics: VectorGenerator,
  merchants: readonly MerchantPlan[],
  embeddingModel: string,
  onProgress?: (chunks: number) => void,
): Promise<LoadStats> {
  const started = performance.now();
  const stats: LoadStats = { merchants: merchants.length, sources: 0, chunks: 0, seconds: 0 };
  const inFlight: Promise<void>[] = clients.map(() => Promise.resolve());
  let next = 0;
  for (const b of batches(p, topics, merchants)) {
    // Generated while the previous batches are being written.
    const slot = next++ % clients.length;
    await inFlight[slot];
    inFlight[slot] = writeBatch(clients[slot], b, embeddingModel);
    stats.sources += b.sources.length;
    stats.chunks += b.chunks;
    onProgress?.(stats.chunks);
  }
  await Promise.all(inFlight);
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}

export interface IndexDef {
  name: string;
  definition: string;
}

/**
 * The secondary indexes of a table that no constraint depends on, with their exact definitions. Dropping them
 * before a bulk load into an empty table and re-creating them from these definitions afterwards is much faster
 * than maintaining them row by row, and leaves the table exactly as the migrations made it.
 */
export async function secondaryIndexes(client: Client, table: string): Promise<IndexDef[]> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
      ORDER BY c.oid`,
    [table],
  );
  return rows;
}

export async function dropIndexes(client: Client, indexes: readonly IndexDef[]): Promise<void> {
  for (const ix of indexes) await client.query(`DROP INDEX ${quoteIdent(ix.name)}`);
}

/** Re-creates the indexes; returns seconds per index. */
export async function createIndexes(
  client: Client,
  indexes: readonly IndexDef[],
  onIndex?: (name: string) => void,
): Promise<Record<string, number>> {
  const seconds: Record<string, number> = {};
  for (const ix of indexes) {
    onIndex?.(ix.name);
    const t0 = performance.now();
    await client.query(ix.definition);
    seconds[ix.name] = (performance.now() - t0) / 1000;
  }
  return seconds;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
