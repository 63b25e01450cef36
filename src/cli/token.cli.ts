import { parseArgs } from 'node:util';
import { resolveJwtSecret } from '../auth/dev-secret';
import { signToken } from '../auth/jwt';
import { ConfigError, loadConfig } from '../config/config';

const HELP = `Usage: npm run token -- --merchant m01 --user u1 [--roles agent,admin] [--expires 12h]

Prints a signed HS256 token for local use, with the secret the gateway uses (AUTH_JWT_SECRET, or in development
the generated one in the data directory). Works only when NODE_ENV=development (the default).

Demo identities: --merchant m01 --user u1 --roles agent       (Alice, reads everything)
                 --merchant m01 --user u3 --roles contractor  (Bob, refund content only)
                 --merchant m01 --user u0 --roles admin,agent (Ada, may ingest)
                 --merchant m02 --user u9 --roles agent       (Globex agent)`;

function parseDuration(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s);
  if (!m) throw new Error(`--expires ${s}: use e.g. 900, 30m, 12h or 7d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

function main(): void {
  const { values } = parseArgs({
    options: {
      merchant: { type: 'string' },
      user: { type: 'string' },
      roles: { type: 'string', default: '' },
      expires: { type: 'string', default: '12h' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.merchant || !values.user) {
    console.error(HELP);
    process.exit(2);
  }
  // Checked before the configuration, so production hears "not here" rather than a missing-key message.
  const env = process.env.NODE_ENV?.trim() || 'development';
  if (env !== 'development') {
    console.error(
      `npm run token is a development helper: it works only with NODE_ENV=development (now ${env}). ` +
        'Real tokens come from your identity provider; partners use API keys (npm run apikey).',
    );
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(2);
  }
  if (config.env !== 'development') {
    console.error(
      `npm run token is a development helper: it works only with NODE_ENV=development (now ${config.env}). ` +
        'Real tokens come from your identity provider; partners use API keys (npm run apikey).',
    );
    process.exit(2);
  }
  const { secret } = resolveJwtSecret(config);
  if (secret === undefined) {
    console.error(
      'AUTH_JWT_SECRET is not set (tokens are verified with public keys): there is nothing to sign with.',
    );
    process.exit(2);
  }
  const roles = values.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  console.log(
    signToken(
      { sub: values.user, merchantId: values.merchant, roles },
      secret,
      parseDuration(values.expires),
    ),
  );
}

main();
