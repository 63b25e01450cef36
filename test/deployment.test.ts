import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig, unknownVariableWarnings } from '../src/config/config';

/**
 * docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so their settings are checked the way
 * Compose would resolve them: `${VAR:-default}`, `${VAR:?message}` (required), `${VAR}`.
 */
const ROOT = path.resolve(__dirname, '..');
const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { environment?: Record<string, string | number> }>;
};

function resolve(service: string, shell: Record<string, string>): Record<string, string> {
  const env = compose.services[service].environment ?? {};
  return Object.fromEntries(
    Object.entries(env).map(([name, raw]) => [
      name,
      String(raw).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, v: string, op?: string, arg?: string) => {
        const value = shell[v];
        if (op === '?' && (value === undefined || value === '')) throw new Error(`${v} is required: ${arg}`);
        if (op === '-' && (value === undefined || value === '')) return arg ?? '';
        return value ?? '';
      }),
    ]),
  );
}

const SECRETS = {
  AUTH_JWT_SECRET: 'a'.repeat(64),
  POSTGRES_PASSWORD: 'b'.repeat(48),
  SRG_GATEWAY_PASSWORD: 'c'.repeat(48),
};

describe('docker-compose.yml', () => {
  it('runs the gateway with production settings by default: no demo tokens, playground, introspection or CORS', () => {
    const env = resolve('gateway', SECRETS);
    expect(unknownVariableWarnings(env)).toEqual([]);
    const config = loadConfig(env);
    expect(config.env).toBe('production');
    expect(config.playground).toMatchObject({ mode: 'off', devTokens: false });
    expect(config.api.introspection).toBeUndefined(); // PLAYGROUND=off decides: no introspection
    expect(config.api.corsOrigins).toEqual([]);
    expect(config.seedOnEmpty).toBe(false);
  });

  it('has no default secrets, and the gateway uses the passwords the database was given', () => {
    for (const name of Object.keys(SECRETS)) {
      const without = { ...SECRETS, [name]: '' };
      expect(() => {
        resolve('gateway', without);
        resolve('db', without);
      }).toThrow(`${name} is required`);
    }
    const db = resolve('db', SECRETS);
    const gateway = resolve('gateway', SECRETS);
    expect(new URL(gateway.DATABASE_URL)).toMatchObject({
      username: 'srg_gateway',
      password: db.SRG_GATEWAY_PASSWORD,
      pathname: `/${db.POSTGRES_DB}`,
    });
    expect(new URL(gateway.MIGRATION_DATABASE_URL)).toMatchObject({
      username: db.POSTGRES_USER,
      password: db.POSTGRES_PASSWORD,
    });
  });

  it('still starts the demo when asked for it', () => {
    const config = loadConfig(
      resolve('gateway', { ...SECRETS, NODE_ENV: 'development', SEED_ON_EMPTY: 'true' }),
    );
    expect(config).toMatchObject({ env: 'development', seedOnEmpty: true, playground: { mode: 'on' } });
  });
});

describe('Node versions', () => {
  it('builds the image on a Node major that package.json accepts', () => {
    const engines = (
      JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
        engines: { node: string };
      }
    ).engines.node;
    const majors = [
      ...fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM node:(\d+)/gm),
    ].map((m) => m[1]);
    expect(majors.length).toBeGreaterThan(0);
    for (const major of majors) expect(engines).toMatch(new RegExp(`(^|\\|\\|\\s*)[\\^>=]*${major}\\.`));
    // The README names the supported versions.
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toMatch(
      /Supported: \*\*Node 24\*\*.*\*\*Node 22\*\*/s,
    );
  });
});
