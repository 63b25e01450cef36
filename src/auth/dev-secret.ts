import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Config } from '../config/config';

/**
 * Development only: when AUTH_JWT_SECRET is unset, a random secret is generated once and kept in a file beside
 * the embedded data, so the gateway and `npm run token` agree across restarts. Production refuses to start
 * without AUTH_JWT_SECRET (see loadConfig).
 */
export function devSecretPath(config: Config): string {
  const dir = config.embeddedDataDir.startsWith('memory://') ? path.resolve('.data') : config.embeddedDataDir;
  return path.join(dir, 'dev-jwt-secret');
}

export function resolveJwtSecret(config: Config): { secret: string; generated: boolean; file?: string } {
  if (config.jwtSecret !== undefined) return { secret: config.jwtSecret, generated: false };
  if (config.env === 'production') throw new Error('AUTH_JWT_SECRET is required in production');
  const file = devSecretPath(config);
  if (fs.existsSync(file)) {
    return { secret: fs.readFileSync(file, 'utf8').trim(), generated: true, file };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const secret = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, generated: true, file };
}
