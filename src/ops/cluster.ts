import cluster from 'node:cluster';

/**
 * WEB_CONCURRENCY > 1: this process becomes a supervisor that forks that many gateway processes, which share the
 * listening port (Node's cluster module hands connections out round-robin) and each open their own pool. One
 * Node process uses one core for JavaScript (GraphQL execution, JSON, the embedding argument); more processes
 * use the machine's other cores. The supervisor runs no gateway itself: it restarts a worker that died, and
 * passes SIGTERM/SIGINT on so each worker drains as a single gateway does (src/ops/shutdown.ts).
 *
 * Returns true in the supervisor (the caller must not start a gateway), false in a worker or a single process.
 */
export function superviseWorkers(count: number, log: (message: string, fields?: object) => void): boolean {
  if (count <= 1 || !cluster.isPrimary) return false;
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < count; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log('gateway worker exited; starting another', { pid: worker.process.pid, code, signal });
    setTimeout(fork, 1000).unref();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log('gateway supervisor', { workers: count, pid: process.pid });
  return true;
}

/** Only the first worker (or a single process) does once-per-deployment start-up work such as the demo data. */
export function isFirstProcess(): boolean {
  return cluster.isPrimary || cluster.worker?.id === 1;
}
