import 'reflect-metadata';
import { ChunkRepository } from '../chunks/chunk.repository';
import { CorpusVersionRepository } from '../corpus/corpus-version.repository';
import { type Config } from '../config/config';
import { type Database, openDatabase } from '../db/database';
import { AdminDb } from '../db/session';
import { DocumentRepository } from '../documents/document.repository';
import { EmbedderRegistry } from '../embeddings/embedder.registry';
import { createEmbedder } from '../embeddings/embedder.factory';
import { type LoaderTargets } from '../ingestion/folder-loader';
import { IngestionService } from '../ingestion/ingestion.service';
import { SourceWriter } from '../ingestion/source-writer';
import { MerchantRepository } from '../merchants/merchant.repository';
import { MerchantService } from '../merchants/merchant.service';
import { NO_SERVICE_EVENTS } from '../ops/service-events';
import { TicketRepository } from '../tickets/ticket.repository';
import { MerchantIndexService } from '../vector-index/merchant-index.service';
import { VectorIndexRepository } from '../vector-index/vector-index.repository';
import { openCommandDatabase } from './embedded-lock';

/**
 * The migrated database and only what loading needs, without services.ts: no write observers, since background
 * index builds and calibrations would be cut short when the command exits (the load command's index policy
 * builds the index in the foreground instead). Imported by load.cli.ts once its command line is parsed, so
 * `--help` and usage errors print without loading TypeORM and the entities.
 */
export async function openLoadTargets(config: Config): Promise<{ db: Database; targets: LoaderTargets }> {
  const db = await openCommandDatabase(() => openDatabase(config, { migrate: true }), 'load');
  const embedder = createEmbedder(config);
  const admin = new AdminDb(db.dataSource);
  const corpus = new CorpusVersionRepository();
  const documents = new DocumentRepository();
  const embedders = new EmbedderRegistry(config, embedder, config.embedding.cacheEntries, NO_SERVICE_EVENTS);
  const writer = new SourceWriter(
    embedders,
    corpus,
    documents,
    new TicketRepository(),
    new ChunkRepository(),
    [],
    NO_SERVICE_EVENTS,
  );
  return {
    db,
    targets: {
      ingestion: new IngestionService(admin, writer, documents, config),
      merchants: new MerchantService(admin, new MerchantRepository(), corpus, embedder),
      indexes: new MerchantIndexService(db.dataSource, new VectorIndexRepository(), config),
    },
  };
}
