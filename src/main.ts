import 'reflect-metadata';
import { createGateway } from './app';
import { resolveJwtSecret } from './auth/dev-secret';
import { signToken } from './auth/jwt';
import { ConfigError, loadConfig } from './config/config';
import { openDatabase } from './db/database';
import { createEmbedder } from './embeddings/embedder.factory';
import { isDatabaseEmpty, seedDemoData } from './seed/seed.service';

const log = (message: string, fields: Record<string, unknown> = {}): void => {
  console.log(JSON.stringify({ time: new Date().toISOString(), msg: message, ...fields }));
};

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log(`Usage: npm start

Starts the GraphQL gateway. Without DATABASE_URL it runs on the embedded PGlite database in PGLITE_DATA_DIR
(default ./.data) and loads the demo data into it on first start. See README.md for every variable.`);
    return;
  }
  const config = loadConfig();
  const secret = resolveJwtSecret(config);
  if (secret.generated) {
    console.warn(
      `\n!!! DEVELOPMENT MODE: AUTH_JWT_SECRET is not set; using a generated secret stored in ${secret.file}.\n` +
        `!!! Tokens signed with it are for local use only. Set AUTH_JWT_SECRET (and NODE_ENV=production) for real use.\n`,
    );
  }
  const db = await openDatabase(config, { migrate: true });
  log('database ready', { database: db.description });
  const embedder = createEmbedder(config);
  const gateway = await createGateway({ config, db, embedder, jwtSecret: secret.secret, log });
  if (config.seedOnEmpty && (await isDatabaseEmpty(db.dataSource))) {
    const summary = await seedDemoData(gateway.services);
    log('demo data loaded', { ...summary });
  }
  const url = await gateway.listen();
  log('gateway listening', { url, env: config.env, embedder: embedder.model });
  if (config.env === 'development' && secret.generated) {
    const alice = signToken({ sub: 'u1', merchantId: 'm01', roles: ['agent'] }, secret.secret);
    const playground =
      config.playground.mode === 'off' ? '' : `\nPlayground: ${url.replace(/\/graphql$/, '/playground')}`;
    console.log(
      `${playground}\nDemo token for Alice (m01, agent): ${alice}\nMore: npm run token -- --help\n`,
    );
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log('shutting down', { signal });
    const timer = setTimeout(() => process.exit(1), 15_000);
    timer.unref();
    await gateway.stop();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
