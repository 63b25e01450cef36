import 'reflect-metadata';
import { createGateway } from './app';
import { resolveJwtSecret } from './auth/dev-secret';
import { signToken } from './auth/jwt';
import { parseCommandLine } from './cli/command-line';
import { ConfigError, describeVariables, loadConfig, unknownVariableWarnings } from './config/config';
import { inspectRequestRole, openDatabase } from './db/database';
import { createEmbedder } from './embeddings/embedder.factory';
import { isFirstProcess, superviseWorkers } from './ops/cluster';
import { createLogger } from './ops/logger';
import { exitGracefullyOnSignals } from './ops/shutdown';
import { isDatabaseEmpty, seedDemoData } from './seed/seed.service';

const USAGE = `Usage: npm start [-- --help]

Starts the GraphQL gateway on http://HOST:PORT/graphql, with /healthz, /readyz and /metrics beside it
(docs/OPERATIONS.md); WEB_CONCURRENCY=N runs N gateway processes sharing the port (native PostgreSQL). Without DATABASE_URL it runs on the embedded PGlite database in PGLITE_DATA_DIR and loads
the demo data into it on first start. Logs are JSON lines on stdout. SIGTERM/SIGINT drain and exit.

Configuration (environment variables, validated at start):
${describeVariables()}`;

async function main(): Promise<void> {
  parseCommandLine(USAGE, { options: {} });
  const config = loadConfig();
  const logger = createLogger(config.ops.logLevel);
  for (const warning of unknownVariableWarnings()) logger.warn({ warning }, 'configuration');
  if (superviseWorkers(config.webConcurrency, (message, fields) => logger.info(fields ?? {}, message)))
    return;
  const secret = resolveJwtSecret(config);
  if (secret.generated) {
    console.warn(
      `\n!!! DEVELOPMENT MODE: AUTH_JWT_SECRET is not set; using a generated secret stored in ${secret.file}.\n` +
        `!!! Tokens signed with it are for local use only. Set AUTH_JWT_SECRET (and NODE_ENV=production) for real use.\n`,
    );
  }
  const db = await openDatabase(config, { migrate: true });
  logger.info({ database: db.description }, 'database ready');
  if (db.kind === 'native') {
    // Requests enter the gateway role per transaction anyway; connecting as a role the policies do not bind
    // would leave any query outside a TenantSession unrestricted.
    const role = await inspectRequestRole(db);
    if (role.superuser || role.bypassRls || role.ownsTables) {
      const message =
        `DATABASE_URL connects as ${role.user}, which ${role.ownsTables ? 'owns the tables' : 'bypasses row-level security'}. ` +
        'Connect as srg_gateway and give the owner in MIGRATION_DATABASE_URL (README, "Database roles").';
      if (config.env === 'production') throw new Error(message);
      logger.warn({ user: role.user }, message);
    }
  }
  const embedder = createEmbedder(config);
  const gateway = await createGateway({ config, db, embedder, jwtSecret: secret.secret, logger });
  // Installed before the demo data load and listen(), so a signal at any point still closes the database cleanly.
  exitGracefullyOnSignals({
    gateway,
    closeDatabase: () => db.close(),
    logger,
    timeoutMs: config.ops.shutdownTimeoutMs,
  });
  if (config.seedOnEmpty && isFirstProcess() && (await isDatabaseEmpty(db.dataSource))) {
    const summary = await seedDemoData(gateway.services);
    logger.info({ ...summary }, 'demo data loaded');
  }
  const url = await gateway.listen();
  logger.info({ url, env: config.env, embedder: embedder.model, pid: process.pid }, 'gateway listening');
  if (config.env === 'development' && secret.generated && secret.secret !== undefined) {
    const alice = signToken({ sub: 'u1', merchantId: 'm01', roles: ['agent'] }, secret.secret);
    const playground =
      config.playground.mode === 'off' ? '' : `\nPlayground: ${url.replace(/\/graphql$/, '/playground')}`;
    console.log(
      `${playground}\nDemo token for Alice (m01, agent): ${alice}\nMore: npm run token -- --help\n`,
    );
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    // A misspelt variable is often why a value is missing or wrong: say so here too, not only in the log.
    for (const warning of unknownVariableWarnings()) console.error(`  (warning) ${warning}`);
  } else console.error(err);
  process.exit(1);
});
