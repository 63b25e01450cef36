import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express from 'express';
import { GraphQLError } from 'graphql';
import { AgentContextResolver } from './agent/agent-context.resolver';
import { ApiKeyResolver } from './api-keys/api-key.resolver';
import { bearerToken, TokenVerifier, tokenVerifierOptions } from './auth/jwt';
import { type Identity } from './auth/identity';
import { ErrorCode } from './common/errors/error-code';
import { createApqStore } from './persisted-queries/apq-cache';
import { OperationManifest } from './persisted-queries/manifest';
import { enforceOperationPolicy } from './persisted-queries/operation-policy';
import { DomainError, unauthenticated } from './common/errors/domain-error';
import { createFormatError } from './common/errors/format-error';
import { type Config } from './config/config';
import { type Database } from './db/database';
import { DocumentResolver } from './documents/document.resolver';
import { type Embedder } from './embeddings/embedder';
import { type GatewayContext } from './graphql/context';
import { createLoaders } from './graphql/loaders';
import { buildGatewaySchema, type ResolverClass } from './graphql/schema';
import { IngestionResolver } from './ingestion/ingestion.resolver';
import { corsOptions } from './limits/cors';
import {
  answerClientErrorsAsJson,
  graphqlHttpErrorHandler,
  graphqlRequestGuards,
} from './limits/http-guards';
import { queryCostPlugin } from './limits/query-limits';
import { createRateLimiter } from './limits/rate-limiter';
import { createPlayground } from './playground/playground';
import { OrderResolver } from './orders/order.resolver';
import { TicketResolver } from './tickets/ticket.resolver';
import { RetrievalResolver, RetrievedChunkResolver } from './retrieval/retrieval.resolver';
import { CalibrationResolver } from './retrieval/calibration.resolver';
import { SynonymResolver } from './synonyms/synonym.resolver';
import { ErrorOrigins, mountOpsRoutes, operationOutcomePlugin, trackRequests } from './ops/http';
import { createLogger, type Logger, safeError } from './ops/logger';
import { ProvisionedMerchants } from './merchants/provisioned-merchants';
import { GatewayMetrics } from './ops/metrics';
import { knownMigrationNames, ReadinessCheck } from './ops/readiness';
import { requestIdFrom, requestStateOf } from './ops/request-context';
import { NO_SERVICE_EVENTS } from './ops/service-events';
import { createServices, type Services } from './services';

export interface Gateway {
  services: Services;
  /** Starts listening; resolves to the GraphQL endpoint URL. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting, lets in-flight requests finish for up to SHUTDOWN_TIMEOUT_MS, then cuts the rest and says
   * how many. /readyz answers 503 from the first moment. Does not close the database (its owner does).
   */
  stop(): Promise<{ abandonedRequests: number }>;
}

export interface GatewayOptions {
  config: Config;
  db: Database;
  embedder: Embedder;
  /** The HS256 secret (AUTH_JWT_SECRET or the generated development one); undefined when only public keys verify. */
  jwtSecret: string | undefined;
  /** Defaults to JSON lines on stdout at LOG_LEVEL. */
  logger?: Logger;
}

const CONTEXT_ERROR_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.OPERATION_NOT_ALLOWED]: 403,
  [ErrorCode.MERCHANT_NOT_PROVISIONED]: 403,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, db, embedder, jwtSecret } = options;
  const logger = options.logger ?? createLogger(config.ops.logLevel);
  const metrics = config.ops.metricsEnabled
    ? new GatewayMetrics({ dataSource: db.requestDataSource, maxOperations: config.ops.metricsMaxOperations })
    : undefined;
  const log = (message: string, fields: Record<string, unknown> = {}): void => logger.warn(fields, message);
  const services = createServices(config, db, embedder, metrics ?? NO_SERVICE_EVENTS, log);
  const verifier = new TokenVerifier(tokenVerifierOptions(config, jwtSecret, log));
  await verifier.warmUp();
  const manifest = OperationManifest.load(config.persistedQueries.manifestFile);
  const apq = createApqStore(config, manifest, log);
  const schema = await buildGatewaySchema(
    new Map<ResolverClass, object>([
      [RetrievalResolver, new RetrievalResolver(services.retrieval, config)],
      [RetrievedChunkResolver, new RetrievedChunkResolver()],
      [CalibrationResolver, new CalibrationResolver(services.calibration, config)],
      [IngestionResolver, new IngestionResolver(services.ingestion)],
      [DocumentResolver, new DocumentResolver(services.documents)],
      [TicketResolver, new TicketResolver(services.tickets)],
      [OrderResolver, new OrderResolver(services.orders)],
      [AgentContextResolver, new AgentContextResolver(services.agentContext)],
      [ApiKeyResolver, new ApiKeyResolver(services.apiKeys)],
      [SynonymResolver, new SynonymResolver(services.synonyms)],
    ]),
  );
  const app = express();
  const httpServer = http.createServer(app);
  answerClientErrorsAsJson(httpServer);
  const tracking = trackRequests(app, { logger, metrics, graphqlPath: '/graphql' });
  const playground = createPlayground({
    config,
    jwtSecret,
    graphqlPath: '/graphql',
    log: (message, fields) => logger.warn(fields ?? {}, message),
  });
  const origins = new ErrorOrigins();
  const onInternalError = (err: unknown, requestId?: string): void =>
    logger.error(
      { requestId: requestId ?? origins.requestIdOf(err), error: safeError(err) },
      'internal error',
    );
  const provisioned = new ProvisionedMerchants((id) => services.merchants.exists(id));
  const rateLimiter = createRateLimiter(config.rateLimit, (message, fields) =>
    logger.warn(fields ?? {}, message),
  );
  // GRAPHQL_INTROSPECTION, when set, decides for everyone; unset, the playground mode's rule applies.
  const introspection = config.api.introspection ?? playground.introspection;
  const server = new ApolloServer<GatewayContext>({
    schema,
    introspection,
    // Without open introspection, "Did you mean …?" suggestions would still reveal field names one typo at a time.
    hideSchemaDetailsFromClientErrors: !introspection || config.env === 'production',
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: config.api.maxBatchOperations > 0,
    // The process's signal handling (src/ops/shutdown.ts) stops the server; Apollo's own would race it.
    stopOnTerminationSignals: false,
    // Automatic persisted queries; manifest operations are always hits (see persisted-queries/apq-cache.ts).
    persistedQueries: { cache: apq.cache, ttl: config.persistedQueries.apqTtlSeconds },
    formatError: createFormatError({ onInternalError }),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.ops.shutdownTimeoutMs }),
      queryCostPlugin(config.api),
      operationOutcomePlugin(origins),
      // Apollo's landing pages load from a CDN; the offline IDE is served by the playground router instead.
      ApolloServerPluginLandingPageDisabled(),
      // No type or field carries a cache hint, so Apollo's default cache-control plugin only added a hook per
      // resolved field (measured on the retrieval hot path, docs/benchmarks/gateway-profile.md).
      ApolloServerPluginCacheControlDisabled(),
      ...playground.apolloPlugins,
    ],
  });
  await server.start();
  await rateLimiter.start();

  /** A partner API key in `x-api-key`, or a token in `Authorization: Bearer`; never both. */
  const authenticate = async (
    authorization: string | undefined,
    apiKey: string | undefined,
  ): Promise<Identity | null> => {
    const token = bearerToken(authorization);
    const key = apiKey !== undefined && apiKey.trim() !== '' ? apiKey : undefined;
    if (token !== undefined && key !== undefined) {
      throw unauthenticated('Authentication failed: send either an API key or a bearer token, not both');
    }
    if (key !== undefined) return services.apiKeys.authenticate(key);
    return token === undefined ? null : verifier.verify(token);
  };

  mountOpsRoutes(app, {
    readiness: new ReadinessCheck(db.dataSource, knownMigrationNames(), embedder, config),
    metrics,
    tracking,
    metricsAccess: { token: config.ops.metricsToken, production: config.env === 'production' },
  });
  // CORS first: the playground router's GET /graphql route would otherwise answer every OPTIONS preflight itself
  // (Express's automatic "Allow: GET, HEAD"), without CORS headers.
  app.use('/graphql', cors(corsOptions(config.api.corsOrigins)));
  app.use(playground.router);
  app.use(
    '/graphql',
    ...graphqlRequestGuards(config.api, schema),
    expressMiddleware(server, {
      context: async ({ req, res }): Promise<GatewayContext> => {
        const request = requestStateOf(res) ?? { id: requestIdFrom(undefined), startedAt: performance.now() };
        const operations = Array.isArray(req.body) ? req.body.length : 1;
        try {
          const identity = await authenticate(req.header('authorization'), req.header('x-api-key'));
          await rateLimiter.enforce(identity, req.ip ?? 'unknown', operations);
          if (identity) await provisioned.assertProvisioned(identity.merchantId);
          enforceOperationPolicy(
            {
              method: req.method,
              body: req.body as unknown,
              searchParams: new URL(req.originalUrl, 'http://gateway').searchParams,
            },
            identity,
            manifest,
            config.persistedQueries.tokenOperations,
          );
          const session = identity ? services.sessions.open(identity, request.id) : null;
          return {
            request,
            identity,
            session,
            loaders: session ? createLoaders(session, services.documents, services.tickets) : null,
          };
        } catch (err) {
          if (err instanceof DomainError) {
            // A failed credential is charged to the address, so guessing tokens is rate limited too.
            if (err.code === ErrorCode.UNAUTHENTICATED)
              await rateLimiter.enforce(null, req.ip ?? 'unknown', operations);
            // Thrown from the context function, so the whole request fails before any resolver runs.
            throw new GraphQLError(err.message, {
              originalError: err,
              extensions: { code: err.code, http: { status: CONTEXT_ERROR_STATUS[err.code] ?? 400 } },
            });
          }
          origins.note(err, request.id); // Apollo formats it without running the plugins
          throw err;
        }
      },
    }),
    graphqlHttpErrorHandler(config.api, onInternalError),
  );

  let stopping: Promise<{ abandonedRequests: number }> | undefined;
  const drainAndStop = async (): Promise<{ abandonedRequests: number }> => {
    // Ours: /readyz answers 503 and responses ask for `Connection: close` from now on. Apollo's drain plugin then
    // stops the listener, closes idle sockets, ends busy ones after their response, and destroys what is left at
    // SHUTDOWN_TIMEOUT_MS; the tracking counts the responses that were cut.
    tracking.startDraining();
    await server.stop();
    await services.indexes.close(); // background index builds, before the owner closes the database
    await services.calibration.close();
    await services.statistics.close();
    await rateLimiter.close();
    await apq.close();
    return { abandonedRequests: tracking.cutWhileDraining };
  };

  return {
    services,
    async listen(port = config.port, host = config.host) {
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => resolve());
      });
      const address = httpServer.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${shownHost}:${address.port}/graphql`;
    },
    stop() {
      stopping ??= drainAndStop();
      return stopping;
    },
  };
}
