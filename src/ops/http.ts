import crypto from 'node:crypto';
import { type ApolloServerPlugin } from '@apollo/server';
import { type Express, type NextFunction, type Request, type Response } from 'express';
import { type GatewayContext } from '../graphql/context';
import { type Logger } from './logger';
import { type GatewayMetrics, OTHER_OPERATION } from './metrics';
import { type ReadinessCheck } from './readiness';
import { requestIdFrom, type RequestState } from './request-context';

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

export interface RequestTracking {
  /** From now on, every response asks the client to close its connection, so keep-alive sockets drain. */
  startDraining(): void;
  readonly draining: boolean;
  /** Responses that did not finish after draining began: cut at the shutdown timeout (or abandoned by the client). */
  readonly cutWhileDraining: number;
}

/**
 * First middleware of the app: gives each request an id (the caller's `x-request-id` if it is sane, else a new
 * one) and returns it in the response header, counts requests in flight (a metric) and those cut by the graceful shutdown, and when the
 * response ends writes one log line and, for GraphQL requests, the request metrics.
 */
export function trackRequests(
  app: Express,
  options: { logger: Logger; metrics: GatewayMetrics | undefined; graphqlPath: string },
): RequestTracking {
  const { logger, metrics, graphqlPath } = options;
  let draining = false;
  let cutWhileDraining = 0;
  /** Responses not closed yet: at the end of a shutdown, any of them still unfinished has been cut too. */
  const open = new Set<Response>();
  app.use((req: Request, res: Response, next: NextFunction) => {
    const state: RequestState = {
      id: requestIdFrom(req.header('x-request-id')),
      startedAt: performance.now(),
    };
    const path = req.path; // routers below rewrite req.url while they handle the request
    res.locals.request = state; // requestStateOf(res)
    res.setHeader('x-request-id', state.id);
    if (draining) res.setHeader('connection', 'close');
    metrics?.inFlight.inc();
    open.add(res);
    // 'close' fires once for every response: after it finished, or when the client went away first.
    res.once('close', () => {
      metrics?.inFlight.dec();
      open.delete(res);
      const seconds = (performance.now() - state.startedAt) / 1000;
      const graphql = path === graphqlPath;
      const finished = res.writableFinished;
      if (draining && !finished) cutWhileDraining++;
      const outcome = state.outcome ?? outcomeFromStatus(res.statusCode, finished);
      // GraphQL work is what an operation name and outcome describe; a landing page GET or a CORS preflight
      // never reached the GraphQL plugin and is not counted as an operation.
      const operationRan = state.operation !== undefined || state.outcome !== undefined;
      const countable = graphql && (operationRan || outcome !== 'ok');
      const operation = state.operation === undefined ? undefined : logName(state.operation);
      if (countable && metrics)
        metrics.requestServed(metrics.operationLabel(state.operation), outcome, seconds);
      const fields = {
        requestId: state.id,
        method: req.method,
        path,
        status: finished ? res.statusCode : null,
        operation,
        outcome,
        durationMs: Math.round(seconds * 10000) / 10,
        merchantId: state.merchantId,
      };
      if (!graphql || !countable) logger.debug(fields, 'request');
      else if (outcome === 'INTERNAL_SERVER_ERROR' || !finished) logger.error(fields, 'request');
      else if (outcome === 'SERVICE_UNAVAILABLE') logger.warn(fields, 'request');
      else logger.info(fields, 'request');
    });
    next();
  });
  return {
    get draining() {
      return draining;
    },
    get cutWhileDraining() {
      // The cut responses whose 'close' event has not run yet count as well (it can come after the server closed).
      return cutWhileDraining + [...open].filter((r) => !r.writableFinished).length;
    },
    startDraining() {
      draining = true;
    },
  };
}

/**
 * Which request an error was raised in, for the internal-error log line: Apollo's formatError, which decides that
 * an error is internal, is not given the request. Errors are noted (with every error they wrap) where the request
 * is known: the plugin below, and the context function.
 */
export class ErrorOrigins {
  private readonly requests = new WeakMap<object, string>();

  note(error: unknown, requestId: string): void {
    for (const e of wrapped(error)) if (!this.requests.has(e)) this.requests.set(e, requestId);
  }

  requestIdOf(error: unknown): string | undefined {
    for (const e of wrapped(error)) {
      const id = this.requests.get(e);
      if (id !== undefined) return id;
    }
    return undefined;
  }
}

/** The error and those it wraps (GraphQLError's originalError), outermost first. */
function* wrapped(error: unknown): Generator<object> {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    yield e;
    e = (e as { originalError?: unknown }).originalError;
  }
}

/**
 * Records the operation name, the caller's merchant and the outcome (`ok` or the first error's code) in the
 * request's state, and notes which request each error belongs to (ErrorOrigins). Apollo calls didEncounterErrors
 * before it formats them.
 */
export function operationOutcomePlugin(origins: ErrorOrigins): ApolloServerPlugin<GatewayContext> {
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation(rc) {
          rc.contextValue.request.operation = rc.operationName ?? '';
          return Promise.resolve();
        },
        didEncounterErrors(rc) {
          for (const error of rc.errors) origins.note(error, rc.contextValue.request.id);
          return Promise.resolve();
        },
        willSendResponse(rc) {
          const state = rc.contextValue.request;
          state.operation ??= rc.request.operationName ?? '';
          state.merchantId = rc.contextValue.identity?.merchantId;
          const body = rc.response.body;
          const errors = body.kind === 'single' ? body.singleResult.errors : undefined;
          const code = errors?.[0]?.extensions?.code;
          state.outcome =
            errors === undefined || errors.length === 0 ? 'ok' : typeof code === 'string' ? code : 'other';
          return Promise.resolve();
        },
      });
    },
  };
}

/** `/healthz`, `/readyz` and `/metrics`. */
export function mountOpsRoutes(
  app: Express,
  options: {
    readiness: ReadinessCheck;
    metrics: GatewayMetrics | undefined;
    tracking: RequestTracking;
    /** METRICS_TOKEN, and whether this is production (where no token means closed). */
    metricsAccess: { token: string | undefined; production: boolean };
  },
): void {
  const { readiness, metrics, tracking } = options;
  // Liveness: the process runs and its event loop answers. Deliberately nothing else: a restart does not fix a
  // database outage, so a liveness probe must not fail on one.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  });
  app.get('/readyz', async (_req, res) => {
    if (tracking.draining) {
      res.status(503).json({ status: 'shutting_down', ready: false });
      return;
    }
    const result = await readiness.check();
    res.status(result.ready ? 200 : 503).json({ status: result.ready ? 'ready' : 'not_ready', ...result });
  });
  if (metrics) {
    const { token, production } = options.metricsAccess;
    app.get('/metrics', async (req, res) => {
      if (token === undefined && production) {
        res.status(403).json({
          error:
            'metrics are closed in production until METRICS_TOKEN is set (docs/OPERATIONS.md, "Metrics")',
        });
        return;
      }
      if (token !== undefined && !bearerMatches(req.header('authorization'), token)) {
        res.setHeader('www-authenticate', 'Bearer realm="metrics"');
        res.status(401).json({ error: 'send the metrics token: Authorization: Bearer <METRICS_TOKEN>' });
        return;
      }
      res.setHeader('content-type', metrics.registry.contentType);
      res.send(await metrics.registry.metrics());
    });
  }
}

/** Compared as hashes, in constant time, so the response time says nothing about a guess. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (v: string) => crypto.createHash('sha256').update(v).digest();
  return crypto.timingSafeEqual(digest(m[1]), digest(token));
}

function outcomeFromStatus(status: number, finished: boolean): string {
  if (!finished) return 'aborted';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status >= 500) return 'INTERNAL_SERVER_ERROR';
  if (status >= 400) return 'BAD_REQUEST';
  return 'ok';
}

function logName(name: string): string {
  if (name === '') return 'anonymous';
  return GRAPHQL_NAME.test(name) ? name : OTHER_OPERATION;
}
