import { loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';

const HELP = `Usage:
  npm run apikey -- create --merchant m01 --name "Acme helpdesk" --principals role:agent[,u7] --scopes retrieve[,ingest] [--expires 90d]
  npm run apikey -- list   --merchant m01 [--all]
  npm run apikey -- revoke --merchant m01 --id <key id>

Partner API keys, run by an operator against the gateway's database (DATABASE_URL, or the embedded one).
create prints the key once: give it to the partner, who sends it as the x-api-key header. Only its sha256 is
stored. --principals are the ACL principals the key reads as; --scopes: retrieve (queries), ingest (mutations).
Admins of a merchant can do the same through GraphQL (createApiKey, apiKeys, revokeApiKey).`;

function parseDuration(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s);
  if (!m || Number(m[1]) === 0) usageError(HELP, `--expires ${s}: use e.g. 3600, 30m, 12h or 90d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

const list = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(HELP, {
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      name: { type: 'string' },
      principals: { type: 'string' },
      scopes: { type: 'string', default: 'retrieve' },
      expires: { type: 'string' },
      id: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  if (positionals.length !== 1 || !['create', 'list', 'revoke'].includes(command ?? '')) {
    usageError(HELP, 'give one command: create, list or revoke');
  }
  if (!values.merchant) usageError(HELP, '--merchant is required');
  if (command === 'create' && (!values.name || !values.principals)) {
    usageError(HELP, 'create needs --name and --principals');
  }
  if (command === 'revoke' && !values.id) usageError(HELP, 'revoke needs --id');
  const expiresIn = values.expires === undefined ? undefined : parseDuration(values.expires);
  const merchant = values.merchant;
  const config = loadCommandConfig();
  const { openCommandServices } = await import('./command-services');
  const { db, services } = await openCommandServices(config, 'apikey', { poolSize: 1 });
  try {
    if (command === 'create') {
      const { apiKey, key } = await services.apiKeys.create(
        merchant,
        {
          name: values.name!,
          principals: list(values.principals),
          scopes: list(values.scopes),
          expiresAt: expiresIn === undefined ? null : new Date(Date.now() + expiresIn * 1000),
        },
        'cli',
      );
      console.error(
        `Created API key ${apiKey.id} for ${merchant} (${apiKey.scopes.join(', ')}; reads as ${apiKey.principals.join(', ')}` +
          `${apiKey.expiresAt ? `; expires ${apiKey.expiresAt.toISOString()}` : ''}).\n` +
          'The key below is shown only now; it is stored hashed and cannot be retrieved again:',
      );
      console.log(key);
    } else if (command === 'list') {
      const keys = await services.apiKeys.list(merchant, values.all);
      console.log(JSON.stringify(keys, null, 2));
    } else {
      const revoked = await services.apiKeys.revoke(merchant, values.id!);
      console.log(`Revoked API key ${revoked.id} at ${revoked.revokedAt?.toISOString() ?? ''}`);
    }
  } finally {
    await db.close();
  }
}

runCommand(main);
