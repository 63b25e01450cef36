import { type Logger } from './logger';

export interface Stoppable {
  /** Stops accepting, waits for in-flight requests up to the timeout; says how many it had to cut. */
  stop(): Promise<{ abandonedRequests: number }>;
}

/**
 * On SIGTERM or SIGINT: stop the gateway (no new connections, in-flight requests finish within
 * SHUTDOWN_TIMEOUT_MS), close the database (pool or embedded PGlite, which flushes its data directory), exit 0 —
 * or 1 if requests had to be cut or anything failed. A second signal exits at once. A last-resort timer makes sure
 * the process ends even if closing the database hangs.
 */
export function exitGracefullyOnSignals(options: {
  gateway: Stoppable;
  closeDatabase: () => Promise<void>;
  logger: Logger;
  timeoutMs: number;
  exit?: (code: number) => void;
}): void {
  const { gateway, closeDatabase, logger, timeoutMs } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal, timeoutMs }, 'shutting down: draining in-flight requests');
    const backstop = setTimeout(() => {
      logger.error({ signal }, 'shutdown did not finish in time: exiting');
      exit(1);
    }, timeoutMs + 10_000);
    backstop.unref();
    void (async () => {
      let code = 0;
      try {
        const { abandonedRequests } = await gateway.stop();
        if (abandonedRequests > 0) {
          code = 1;
          logger.warn({ abandonedRequests }, 'requests still running at the shutdown timeout were cut');
        }
        await closeDatabase();
      } catch (err) {
        code = 1;
        logger.error({ error: err instanceof Error ? err.name : typeof err }, 'error during shutdown');
      }
      logger.info({ exitCode: code }, 'stopped');
      exit(code);
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
