import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createServices } from '../app';
import { DomainError } from '../common/errors/domain-error';
import { ConfigError, loadConfig } from '../config/config';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';

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
  if (!m) throw new Error(`--expires ${s}: use e.g. 3600, 30m, 12h or 90d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

const list = (s: string | undefined): string[] =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      name: { type: 'string' },
      principals: { type: 'string' },
      scopes: { type: 'string', default: 'retrieve' },
      expires: { type: 'string' },
      id: { type: 'string' },
      all: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!['create', 'list', 'revoke'].includes(command ?? '') || !values.merchant) {
    console.error(HELP);
    process.exit(2);
  }
  const merchant = values.merchant;
  const config = loadConfig();
  const db = await openDatabase(config, { migrate: true, poolSize: 1 });
  try {
    const services = createServices(config, db, createEmbedder(config));
    if (command === 'create') {
      if (!values.name || !values.principals) throw new Error('create needs --name and --principals');
      const { apiKey, key } = await services.apiKeys.create(
        merchant,
        {
          name: values.name,
          principals: list(values.principals),
          scopes: list(values.scopes),
          expiresAt: values.expires ? new Date(Date.now() + parseDuration(values.expires) * 1000) : null,
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
      if (!values.id) throw new Error('revoke needs --id');
      const revoked = await services.apiKeys.revoke(merchant, values.id);
      console.log(`Revoked API key ${revoked.id} at ${revoked.revokedAt?.toISOString() ?? ''}`);
    }
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DomainError || err instanceof Error)
    console.error(err.message);
  else console.error(err);
  process.exit(1);
});
