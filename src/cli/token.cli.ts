import { resolveJwtSecret } from '../auth/dev-secret';
import { isValidMerchantId, isValidRoleName, isValidUserId } from '../auth/id-rules';
import { signToken } from '../auth/jwt';
import { loadCommandConfig, parseCommandLine, runCommand, usageError, USAGE_ERROR } from './command-line';

const HELP = `Usage: npm run token -- --merchant m01 --user u1 [--roles agent,admin] [--expires 12h]

Prints a signed HS256 token for local use, with the secret the gateway uses (AUTH_JWT_SECRET, or in development
the generated one in the data directory) and the claim names it reads (AUTH_CLAIM_*). Works only when
NODE_ENV=development (the default). Ids and roles are checked by the gateway's own rules: 1-128 letters, digits,
'_', '.', ':', '@' or '-', starting with a letter or digit; a user id may not start with role: or apikey:.

Demo identities: --merchant m01 --user u1 --roles agent       (Alice, reads everything)
                 --merchant m01 --user u3 --roles contractor  (Bob, refund content only)
                 --merchant m01 --user u0 --roles admin,agent (Ada, may ingest)
                 --merchant m02 --user u9 --roles agent       (Globex agent)`;

function parseDuration(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s);
  if (!m || Number(m[1]) === 0) usageError(HELP, `--expires ${s}: use e.g. 900, 30m, 12h or 7d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

function main(): void {
  const { values } = parseCommandLine(HELP, {
    options: {
      merchant: { type: 'string' },
      user: { type: 'string' },
      roles: { type: 'string', default: '' },
      expires: { type: 'string', default: '12h' },
    },
  });
  if (!values.merchant || !values.user) usageError(HELP, '--merchant and --user are required');
  const roles = values.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const refused = [
    ...(isValidMerchantId(values.merchant) ? [] : [`--merchant ${JSON.stringify(values.merchant)}`]),
    ...(isValidUserId(values.user) ? [] : [`--user ${JSON.stringify(values.user)}`]),
    ...roles.filter((r) => !isValidRoleName(r)).map((r) => `role ${JSON.stringify(r)}`),
  ];
  if (refused.length > 0) usageError(HELP, `the gateway would refuse a token with ${refused.join(', ')}`);
  const expires = parseDuration(values.expires);
  // Checked before the configuration, so production hears "not here" rather than a missing-key message.
  const env = process.env.NODE_ENV?.trim() || 'development';
  const config = env === 'development' ? loadCommandConfig() : undefined;
  if (config?.env !== 'development') {
    console.error(
      `npm run token is a development helper: it works only with NODE_ENV=development (now ${env}). ` +
        'Real tokens come from your identity provider; partners use API keys (npm run apikey).',
    );
    process.exit(USAGE_ERROR);
  }
  const { secret } = resolveJwtSecret(config);
  if (secret === undefined) {
    console.error(
      'AUTH_JWT_SECRET is not set (tokens are verified with public keys): there is nothing to sign with.',
    );
    process.exit(USAGE_ERROR);
  }
  console.log(
    signToken({ sub: values.user, merchantId: values.merchant, roles }, secret, expires, config.auth.claims),
  );
}

runCommand(main);
