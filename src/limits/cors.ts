import { type CorsOptions } from 'cors';

/**
 * CORS from CORS_ORIGINS: `*` allows any origin (development default), a list allows exactly those origins, an
 * empty list (production default) sends no CORS headers, so browsers on other origins cannot read responses.
 * Tokens travel in the Authorization header, never in cookies, so credentials mode is not needed.
 */
export function corsOptions(origins: readonly string[]): CorsOptions {
  if (origins.includes('*')) return { origin: '*' };
  const allowed = new Set(origins);
  return {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    maxAge: 600,
  };
}
