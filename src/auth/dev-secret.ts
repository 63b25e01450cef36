import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError } from '../config/config';

/**
 * Development only: when no verification key is configured, a random HS256 secret is generated once and kept in
 * a file beside the embedded data, so the gateway and `npm run token` agree across restarts. It is never used
 * outside NODE_ENV=development, and production refuses to start with it (see assertNotDevelopmentSecret).
 */
export function devSecretPath(config: Config): string {
  const dir = config.embeddedDataDir.startsWith('memory://') ? path.resolve('.data') : config.embeddedDataDir;
  return path.join(dir, 'dev-jwt-secret');
}

export function hasVerificationKey(config: Config): boolean {
  const a = config.auth;
  return (
    config.jwtSecret !== undefined ||
    a.publicKeyFile !== undefined ||
    a.jwksFile !== undefined ||
    a.jwksUrl !== undefined
  );
}

export interface ResolvedSecret {
  /** The HS256 secret, or undefined when only public keys verify tokens. */
  secret: string | undefined;
  generated: boolean;
  file?: string;
}

export function resolveJwtSecret(config: Config): ResolvedSecret {
  if (config.jwtSecret !== undefined) {
    assertNotDevelopmentSecret(config);
    return { secret: config.jwtSecret, generated: false };
  }
  if (hasVerificationKey(config)) return { secret: undefined, generated: false };
  if (config.env !== 'development') {
    throw new ConfigError([
      `NODE_ENV=${config.env} needs a token verification key: set AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY_FILE, ` +
        'AUTH_JWKS_FILE or AUTH_JWKS_URL (a secret is generated only in development)',
    ]);
  }
  const file = devSecretPath(config);
  if (fs.existsSync(file)) {
    return { secret: fs.readFileSync(file, 'utf8').trim(), generated: true, file };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const secret = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, generated: true, file };
}

/** Production must not run with the generated development secret copied into AUTH_JWT_SECRET. */
export function assertNotDevelopmentSecret(config: Config): void {
  if (config.env !== 'production' || config.jwtSecret === undefined) return;
  const file = devSecretPath(config);
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() === config.jwtSecret) {
    throw new ConfigError([
      `AUTH_JWT_SECRET is the development secret generated in ${file}; production needs its own secret ` +
        '(e.g. openssl rand -base64 48) or public keys',
    ]);
  }
}
