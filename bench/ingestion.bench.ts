import 'reflect-metadata';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { toSql } from 'pgvector';
import { allowRecreating, DATABASE_USAGE, log, recreateDatabase, rng, writeResults } from './bench-utils';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { createServices, type Services } from '../src/app';
import { ChunkRepository, type NewChunkRow } from '../src/chunks/chunk.repository';
import { sha256 } from '../src/common/hash';
import { loadConfig } from '../src/config/config';
import { openDatabase, type Database } from '../src/db/database';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';

/**
 * Ingestion throughput on native PostgreSQL into a table that already holds an HNSW index over N rows:
 *   - writing chunks one INSERT per row (the tutorial's loop) vs multi-row INSERTs (ChunkRepository), same
 *     precomputed vectors, same transaction shape, interleaved round by round;
 *   - the whole ingestDocument path (chunk + local embedder + one transaction);
 *   - re-ingesting a 20-section document with one changed paragraph vs with every paragraph changed.
 * Usage: npm run bench:ingestion -- [--rows 100000] [--docs 40] [--keep]
 *        BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/srg_bench_ingestion) is dropped and
 *        recreated unless --keep is given and it already holds the rows.
 */
const USAGE = `Usage: npm run bench:ingestion -- [--rows 100000] [--docs 40] [--keep] [--recreate-database NAME]

Ingestion throughput on native PostgreSQL into a table with an HNSW index over --rows rows: one INSERT per chunk
vs multi-row INSERTs, the whole ingestDocument path over --docs documents, and re-ingesting a changed document.
--keep reuses the database of an earlier run when it already holds the rows. Results: docs/benchmarks/ingestion.*

${DATABASE_USAGE} (default postgres://postgres@127.0.0.1:5432/srg_bench_ingestion)`;
const { values: options } = parseCommandLine(USAGE, {
  options: {
    rows: { type: 'string' },
    docs: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'recreate-database': { type: 'string' },
  },
});
allowRecreating(options['recreate-database']);
const ROWS = integerOption(USAGE, 'rows', options.rows, 100_000);
const DOCS = integerOption(USAGE, 'docs', options.docs, 40);
const KEEP = options.keep;
const URL_ = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/srg_bench_ingestion';
const DIM = 1536;

const WORDS = (
  'refund return order parcel delivery tracking password account invoice payment card warranty repair ' +
  'replacement subscription plan cancel renewal shipping address customs duty label carrier store credit ' +
  'gift voucher discount coupon loyalty points exchange size colour damaged missing late early fee'
).split(' ');
const rand = rng(7);
const sentence = (topic: number): string =>
  Array.from({ length: 12 }, (_, i) => WORDS[(topic * 7 + Math.floor(rand() * 9) + i) % WORDS.length]).join(
    ' ',
  ) + '.';

async function prefill(db: Database, services: Services, embedder: LocalHashEmbedder): Promise<void> {
  const ds = db.dataSource;
  const existing = await ds.query<{ n: string }[]>(`SELECT count(*) AS n FROM document_chunks`);
  if (Number(existing[0].n) >= ROWS) return log(`reusing ${existing[0].n} rows`);
  // Bulk-load without the index, then build it once (far faster than maintaining it row by row).
  await ds.query(`DROP INDEX IF EXISTS document_chunks_embedding_hnsw_idx`);
  const merchants = 200;
  for (let m = 0; m < merchants; m++)
    await services.merchants.provision({ id: `bulk-${m}`, name: `Bulk ${m}` });
  const repo = new ChunkRepository();
  const perDoc = 10;
  let written = 0;
  const t0 = performance.now();
  for (let d = 0; written < ROWS; d++) {
    const merchant = `bulk-${d % merchants}`;
    const texts = Array.from({ length: perDoc }, (_, i) => `${sentence(d % 40)} ${sentence((d + i) % 40)}`);
    const vectors = await embedder.embed(texts);
    await ds.transaction(async (m) => {
      await m.query(
        `INSERT INTO support_documents (merchant_id, id, title, body, content_hash, acl) VALUES ($1, $2, $3, $4, $5, $6)`,
        [merchant, `doc-${d}`, `Doc ${d}`, texts.join('\n\n'), sha256(texts.join()), ['role:agent']],
      );
      const rows: NewChunkRow[] = texts.map((text, i) => ({
        chunkIndex: i,
        text,
        contentHash: sha256(text),
        headingPath: [],
        citation: `Doc ${d}`,
        embedding: vectors[i],
      }));
      await repo.insertChunks(m, merchant, { kind: 'document', documentId: `doc-${d}` }, 1, rows, {
        embeddingModel: embedder.model,
        metadata: {},
        acl: ['role:agent'],
      });
    });
    written += perDoc;
    if (written % 10_000 === 0)
      log(`prefill ${written}/${ROWS} rows (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  log('building the HNSW index');
  const t1 = performance.now();
  await ds.query(`SET maintenance_work_mem = '2GB'`);
  await ds.query(
    `CREATE INDEX document_chunks_embedding_hnsw_idx ON document_chunks
       USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
       WHERE vector_dims(embedding) = 1536`,
  );
  await ds.query(`ANALYZE document_chunks`);
  log(`index built in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
}

interface Row {
  label: string;
  chunks: number;
  seconds: number;
  chunksPerSecond: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  if (!KEEP) await recreateDatabase(URL_);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: URL_,
    EMBEDDING_CACHE_ENTRIES: '0',
    DB_STATEMENT_TIMEOUT_MS: '0',
  });
  const db = await openDatabase(config, { migrate: true, poolSize: 2 });
  const embedder = new LocalHashEmbedder(DIM);
  const services = createServices(config, db, embedder);
  await prefill(db, services, embedder);
  const ds = db.dataSource;
  const repo = new ChunkRepository();
  await services.merchants.provision({ id: 'bench', name: 'Bench' });
  // A --keep rerun starts its measurements from the same prefilled table, without the previous run's documents.
  await ds.query(`DELETE FROM support_documents WHERE merchant_id = 'bench'`);

  // 1) Row-by-row vs multi-row INSERT, same vectors, interleaved (A B, B A, ...), each document in its own transaction.
  const docs = Array.from({ length: DOCS * 2 }, (_, d) => {
    const texts = Array.from({ length: 25 }, (_, i) => `${sentence(d)} ${sentence(d + i)} ${d}-${i}`);
    return { id: `w-${d}`, texts };
  });
  const vectors = await Promise.all(docs.map((d) => embedder.embed(d.texts)));
  const rowsOf = (d: number): NewChunkRow[] =>
    docs[d].texts.map((text, i) => ({
      chunkIndex: i,
      text,
      contentHash: sha256(text),
      headingPath: [],
      citation: docs[d].id,
      embedding: vectors[d][i],
    }));
  const timing = { single: 0, multi: 0, singleChunks: 0, multiChunks: 0 };
  const writeDoc = async (d: number, mode: 'single' | 'multi'): Promise<void> => {
    const t0 = performance.now();
    await ds.transaction(async (m) => {
      await m.query(
        `INSERT INTO support_documents (merchant_id, id, title, body, content_hash) VALUES ('bench', $1, $1, '', '')`,
        [docs[d].id],
      );
      const rows = rowsOf(d);
      if (mode === 'multi') {
        await repo.insertChunks(m, 'bench', { kind: 'document', documentId: docs[d].id }, 1, rows, {
          embeddingModel: embedder.model,
          metadata: {},
          acl: ['role:agent'],
        });
      } else {
        for (const r of rows) {
          await m.query(
            `INSERT INTO document_chunks (merchant_id, document_id, corpus_version, chunk_index, chunk_text, content_hash, heading_path,
                                          citation, embedding, embedding_model, metadata, acl)
             VALUES ('bench', $1, 1, $2, $3, $4, $5::text[], $6, $7::vector, $8, '{}'::jsonb, $9::text[])`,
            [
              docs[d].id,
              r.chunkIndex,
              r.text,
              r.contentHash,
              r.headingPath,
              r.citation,
              toSql(r.embedding),
              embedder.model,
              ['role:agent'],
            ],
          );
        }
      }
    });
    timing[mode] += performance.now() - t0;
    timing[mode === 'single' ? 'singleChunks' : 'multiChunks'] += docs[d].texts.length;
  };
  log(`writing ${DOCS} documents each way (25 chunks each), interleaved`);
  for (let i = 0; i < DOCS; i++) {
    if (i % 2 === 0) {
      await writeDoc(2 * i, 'single');
      await writeDoc(2 * i + 1, 'multi');
    } else {
      await writeDoc(2 * i + 1, 'multi');
      await writeDoc(2 * i, 'single');
    }
  }

  // 2) The whole ingestDocument path (validate, chunk with the tokenizer, embed locally, one transaction).
  log('ingestDocument path');
  const fullDocs = Array.from({ length: DOCS }, (_, d) =>
    Array.from(
      { length: 20 },
      (_, s) => `## Section ${s}\n\n${sentence(d + s)} ${sentence(d * 3 + s)} ${d}.${s}`,
    ).join('\n\n'),
  );
  let fullChunks = 0;
  const tFull = performance.now();
  for (const [d, text] of fullDocs.entries()) {
    const r = await services.ingestion.writeDocument('bench', {
      id: `full-${d}`,
      title: `Full ${d}`,
      text,
      acl: ['role:agent'],
    });
    fullChunks += r.chunkCount;
  }
  const fullSeconds = (performance.now() - tFull) / 1000;

  // 3) Re-ingesting with one changed paragraph vs every paragraph changed, interleaved over DOCS documents.
  log('re-ingestion: one paragraph changed vs all changed');
  let oneMs = 0;
  let allMs = 0;
  let oneEmbedded = 0;
  let allEmbedded = 0;
  for (let d = 0; d < DOCS; d++) {
    const sections = fullDocs[d].split('\n\n## ');
    const one = [...sections];
    one[7] = `${one[7]} Changed in revision two.`;
    const all = sections.map((s) => `${s} Changed everywhere.`);
    const t0 = performance.now();
    const r1 = await services.ingestion.writeDocument('bench', {
      id: `full-${d}`,
      title: `Full ${d}`,
      text: one.join('\n\n## '),
      acl: ['role:agent'],
    });
    oneMs += performance.now() - t0;
    const t1 = performance.now();
    const r2 = await services.ingestion.writeDocument('bench', {
      id: `full-${d}`,
      title: `Full ${d}`,
      text: all.join('\n\n## '),
      acl: ['role:agent'],
    });
    allMs += performance.now() - t1;
    oneEmbedded += r1.embeddedChunks;
    allEmbedded += r2.embeddedChunks;
  }

  const totalRows = (await ds.query<{ n: string }[]>(`SELECT count(*) AS n FROM document_chunks`))[0].n;
  const results: Row[] = [
    {
      label: 'one INSERT per chunk (tutorial loop)',
      chunks: timing.singleChunks,
      seconds: timing.single / 1000,
      chunksPerSecond: 0,
    },
    {
      label: 'multi-row INSERT (gateway)',
      chunks: timing.multiChunks,
      seconds: timing.multi / 1000,
      chunksPerSecond: 0,
    },
    {
      label: 'ingestDocument end to end (chunk + local embed + write)',
      chunks: fullChunks,
      seconds: fullSeconds,
      chunksPerSecond: 0,
    },
  ].map((r) => ({ ...r, chunksPerSecond: r.chunks / r.seconds }));
  const versions = await ds.query<{ v: string; pgv: string }[]>(
    `SELECT version() AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv`,
  );
  const md = [
    `# Ingestion benchmark`,
    ``,
    `Run ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
      `${versions[0].v.split(' on ')[0]}, pgvector ${versions[0].pgv}. Table: ${totalRows} chunks at the end, HNSW (m=16, ef_construction=64) ` +
      `present throughout; 1536-d local embedder. Reproduce: \`npm run bench:ingestion -- --rows ${ROWS} --docs ${DOCS}\`.`,
    ``,
    `## Writing chunks (each document in its own transaction, 25 chunks, same vectors, interleaved)`,
    ``,
    `| path | chunks | seconds | chunks/s |`,
    `|---|---:|---:|---:|`,
    ...results.map(
      (r) => `| ${r.label} | ${r.chunks} | ${r.seconds.toFixed(2)} | ${r.chunksPerSecond.toFixed(0)} |`,
    ),
    ``,
    `Multi-row vs one-per-chunk: **${(results[1].chunksPerSecond / results[0].chunksPerSecond).toFixed(2)}×** the throughput.`,
    ``,
    `## Re-ingesting a 20-section document (${DOCS} documents, interleaved)`,
    ``,
    `| change | mean ms per document | chunks embedded per document |`,
    `|---|---:|---:|`,
    `| one paragraph changed | ${(oneMs / DOCS).toFixed(1)} | ${(oneEmbedded / DOCS).toFixed(1)} |`,
    `| every paragraph changed | ${(allMs / DOCS).toFixed(1)} | ${(allEmbedded / DOCS).toFixed(1)} |`,
    ``,
    `One changed paragraph costs **${((oneMs / allMs) * 100).toFixed(0)}%** of a full re-ingestion here, with the local embedder; with a ` +
      `paid embedding API the saving is the ${((1 - oneEmbedded / allEmbedded) * 100).toFixed(0)}% of embedding calls not made.`,
    ``,
  ].join('\n');
  writeResults(
    'ingestion',
    {
      date: new Date().toISOString(),
      rows: Number(totalRows),
      docs: DOCS,
      results,
      reingest: { oneMs, allMs, oneEmbedded, allEmbedded },
    },
    md,
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
