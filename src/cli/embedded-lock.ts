import { EmbeddedDatabaseInUseError } from '../db/embedded-postgres';

/** How to do each command's job while the gateway keeps the embedded database open: through its GraphQL API. */
const ONLINE: Record<string, string> = {
  seed:
    'A running gateway loads the demo data into an empty database itself (SEED_ON_EMPTY). To add a folder of ' +
    'documents while it runs: npm run load -- --gateway http://127.0.0.1:4000/graphql --token "$ADMIN" ' +
    '--merchant <id> <folder> (README, "Load a folder").',
  load:
    'Load through the running gateway instead: add --gateway http://127.0.0.1:4000/graphql --token "$ADMIN" ' +
    '(a token with a role in INGEST_ROLES, e.g. ADMIN=$(npm run --silent token -- --merchant m01 --user u0 ' +
    '--roles admin,agent)).',
  query:
    'Ask the running gateway instead: the retrieveChunks query (README, "Ask as Alice", or the /playground).',
  apikey:
    'Manage keys through the running gateway instead: createApiKey, apiKeys and revokeApiKey, as an admin.',
  reembed: 'Re-embedding needs the database to itself on the embedded database: stop the gateway first.',
  'vector-index':
    'Dedicated indexes are for native PostgreSQL (the embedded database searches exactly or by the quantized ' +
    'scan): stop the gateway first, or run on DATABASE_URL where the gateway builds them itself.',
};

/** Opens the database for a command; if a running gateway holds the embedded one, says how to do it online. */
export async function openCommandDatabase<T>(open: () => Promise<T>, command: string): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if (!(err instanceof EmbeddedDatabaseInUseError)) throw err;
    throw new Error(
      `the embedded database in ${err.dataDir} is in use by process ${err.ownerPid} (a running gateway?), and ` +
        `PGlite serves one process at a time. ${ONLINE[command] ?? 'Stop the gateway first.'} ` +
        'With DATABASE_URL (native PostgreSQL) tools and gateways run side by side.',
    );
  }
}
