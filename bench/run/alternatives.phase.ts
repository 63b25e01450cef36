import { performance } from 'node:perf_hooks';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import type pg from 'pg';
import { PrecomputedEmbeddings, SHARED_TABLE } from './setup';

/**
 * The alternatives' table: LangChain.js PGVectorStore's, with the tutorial's columns beside it, both reading one
 * shared HNSW graph over every merchant. Filled from document_chunks on `background`; its HNSW build waits for
 * `productIndexesDone`.
 */
export async function buildSharedTable(
  lcPool: pg.Pool,
  background: pg.Client,
  productIndexesDone: Promise<void>,
): Promise<{ store: PGVectorStore; copySeconds: number; hnswSeconds: number }> {
  const store = await PGVectorStore.initialize(new PrecomputedEmbeddings(), {
    pool: lcPool,
    tableName: SHARED_TABLE,
    dimensions: 1536,
  });
  // The tutorial's columns next to LangChain's: both read one shared HNSW graph over every merchant.
  await background.query(
    `ALTER TABLE ${SHARED_TABLE} ADD COLUMN chunk_id bigint, ADD COLUMN merchant_id text, ADD COLUMN acl text[]`,
  );
  const t0 = performance.now();
  await background.query(
    `INSERT INTO ${SHARED_TABLE} (text, metadata, embedding, chunk_id, merchant_id, acl)
     SELECT chunk_text, jsonb_build_object('merchant_id', merchant_id, 'acl', to_jsonb(acl), 'chunk_id', id::text),
            embedding::vector(1536), id, merchant_id, acl
       FROM document_chunks WHERE merchant_id LIKE 'bm%'`,
  );
  const copySeconds = (performance.now() - t0) / 1000;
  // A plain CREATE INDEX holds its snapshot for the whole build, and the product's CREATE INDEX CONCURRENTLY
  // waits for every older snapshot: the HNSW build waits until the product's index maintenance is done.
  await productIndexesDone;
  const t1 = performance.now();
  await store.createHnswIndex({ dimensions: 1536, m: 16, efConstruction: 64 });
  const hnswSeconds = (performance.now() - t1) / 1000;
  await background.query(`CREATE INDEX ${SHARED_TABLE}_merchant_idx ON ${SHARED_TABLE} (merchant_id)`);
  await background.query(`CREATE INDEX ${SHARED_TABLE}_acl_idx ON ${SHARED_TABLE} USING gin (acl)`);
  await background.query(`VACUUM ANALYZE ${SHARED_TABLE}`);
  return { store, copySeconds, hnswSeconds };
}
