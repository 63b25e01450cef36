import { AgentContextService } from './agent/agent-context.service';
import { ApiKeyRepository } from './api-keys/api-key.repository';
import { ApiKeyService } from './api-keys/api-key.service';
import { ChunkRepository } from './chunks/chunk.repository';
import { type Config } from './config/config';
import { type Database } from './db/database';
import { AdminDb, SessionFactory } from './db/session';
import { ChunkStatisticsKeeper } from './db/statistics';
import { DocumentRepository } from './documents/document.repository';
import { type Embedder } from './embeddings/embedder';
import { IngestionService } from './ingestion/ingestion.service';
import { SourceWriter } from './ingestion/source-writer';
import { CorpusVersionRepository } from './corpus/corpus-version.repository';
import { ReembedService } from './corpus/reembed.service';
import { DocumentService } from './documents/document.service';
import { EmbedderRegistry } from './embeddings/embedder.registry';
import { MerchantRepository } from './merchants/merchant.repository';
import { MerchantService } from './merchants/merchant.service';
import { OrderRepository } from './orders/order.repository';
import { OrderService } from './orders/order.service';
import { TicketService } from './tickets/ticket.service';
import { CalibrationRepository } from './retrieval/calibration.repository';
import { CalibrationService } from './retrieval/calibration.service';
import { RetrievalService } from './retrieval/retrieval.service';
import { SearchStrategy } from './retrieval/search-strategy';
import { SearchRepository } from './retrieval/search.repository';
import { MerchantIndexService } from './vector-index/merchant-index.service';
import { VectorIndexRepository } from './vector-index/vector-index.repository';
import { TicketRepository } from './tickets/ticket.repository';
import { SynonymRepository } from './synonyms/synonym.repository';
import { SynonymService } from './synonyms/synonym.service';
import { NO_SERVICE_EVENTS, type ServiceEvents } from './ops/service-events';

export interface Services {
  ingestion: IngestionService;
  retrieval: RetrievalService;
  documents: DocumentService;
  tickets: TicketService;
  orders: OrderService;
  merchants: MerchantService;
  reembed: ReembedService;
  indexes: MerchantIndexService;
  calibration: CalibrationService;
  /** Planner statistics of document_chunks kept current after writes (the embedded database). */
  statistics: ChunkStatisticsKeeper;
  embedders: EmbedderRegistry;
  agentContext: AgentContextService;
  apiKeys: ApiKeyService;
  synonyms: SynonymService;
  /** Per-request database sessions (row-level security context) for verified identities. */
  sessions: SessionFactory;
}

/**
 * Wires repositories and services over one database and embedder; shared by the gateway (app.ts) and the CLI
 * tools, which import this file and not app.ts: no HTTP server, Apollo, resolvers or playground to load.
 * Request methods take a TenantSession (from `sessions`); admin methods (provisioning, seed/loader writes,
 * re-embedding) run on the owner's connection.
 */
export function createServices(
  config: Config,
  db: Database,
  embedder: Embedder,
  events: ServiceEvents = NO_SERVICE_EVENTS,
  log?: (message: string, fields?: Record<string, unknown>) => void,
): Services {
  const ds = db.dataSource;
  const merchants = new MerchantRepository();
  const admin = new AdminDb(ds);
  const embedders = new EmbedderRegistry(config, embedder, config.embedding.cacheEntries, events);
  const corpus = new CorpusVersionRepository();
  const chunks = new ChunkRepository();
  const documents = new DocumentRepository();
  const tickets = new TicketRepository();
  // Index builds are owner work (CREATE INDEX CONCURRENTLY on the owner's connection).
  const vectorIndexes = new VectorIndexRepository();
  const indexes = new MerchantIndexService(ds, vectorIndexes, config);
  const searches = new SearchRepository();
  const strategy = new SearchStrategy(searches, config);
  // Calibration is owner work too (it reads every reader's answers to compare them).
  const calibration = new CalibrationService(
    ds,
    corpus,
    new CalibrationRepository(),
    searches,
    vectorIndexes,
    config,
    embedders,
    events,
  );
  const retrieval = new RetrievalService(embedders, strategy, config, events, calibration);
  const autoAnalyze = config.database.autoAnalyze;
  const statistics = new ChunkStatisticsKeeper(ds, {
    enabled: autoAnalyze !== 'auto' ? autoAnalyze : db.kind === 'embedded' || 'unless-autovacuum',
    onAnalyzed: (ms) => log?.('analyzed document_chunks', { ms }),
    onSkipped: () =>
      log?.('ANALYZE of document_chunks skipped: the table is locked (an index build?); retried later'),
    onDisabled: (reason) => log?.(`planner statistics are not kept: ${reason}`),
  });
  const ticketService = new TicketService(tickets, chunks, corpus, config);
  const orderService = new OrderService(admin, new OrderRepository(), corpus, config);
  return {
    embedders,
    agentContext: new AgentContextService(retrieval, ticketService, orderService),
    merchants: new MerchantService(admin, merchants, corpus, embedder),
    // API keys are looked up before the merchant is known: on the owner's connection, never a tenant session.
    apiKeys: new ApiKeyService(ds, new ApiKeyRepository(), merchants, config, log),
    ingestion: new IngestionService(
      admin,
      new SourceWriter(
        embedders,
        corpus,
        documents,
        tickets,
        chunks,
        [indexes, calibration, statistics],
        events,
      ),
      documents,
      config,
    ),
    indexes,
    calibration,
    statistics,
    retrieval,
    documents: new DocumentService(documents, chunks, corpus, config),
    synonyms: new SynonymService(new SynonymRepository(), corpus, config),
    tickets: ticketService,
    orders: orderService,
    reembed: new ReembedService(ds, embedders, corpus, chunks, indexes),
    sessions: new SessionFactory(db.requestDataSource, config, db.dataSource),
  };
}
