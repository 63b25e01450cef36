import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createGateway, type Gateway } from '../../src/app';
import { type Services } from '../../src/services';
import { signToken } from '../../src/auth/jwt';
import { type Config, loadConfig } from '../../src/config/config';
import { type Database, openDatabase } from '../../src/db/database';
import { type Embedder } from '../../src/embeddings/embedder';
import { createEmbedder } from '../../src/embeddings/embedder.factory';
import { type Logger } from '../../src/ops/logger';
import { nativeGatewayUrl, nativeTestUrl, TEMPLATE_DIR, TEMPLATE_ENV, TEST_JWT_SECRET } from './test-env';

export interface TestIdentity {
  merchantId: string;
  userId: string;
  roles: string[];
}

export const ALICE: TestIdentity = { merchantId: 'm01', userId: 'u1', roles: ['agent'] };
export const BOB: TestIdentity = { merchantId: 'm01', userId: 'u3', roles: ['contractor'] };
export const ADA_ADMIN: TestIdentity = { merchantId: 'm01', userId: 'u0', roles: ['admin', 'agent'] };
export const GLOBEX_AGENT: TestIdentity = { merchantId: 'm02', userId: 'u9', roles: ['agent'] };

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } & Record<string, unknown> }[];
}

export interface TestGateway {
  url: string;
  db: Database;
  config: Config;
  services: Services;
  gateway: Gateway;
  token(identity: TestIdentity): string;
  /** POSTs over real HTTP; `as` null sends no Authorization header. */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    as?: TestIdentity | null,
  ): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  embedder?: Embedder;
  /** Where the gateway logs; by default nowhere (LOG_LEVEL is silent under NODE_ENV=test). */
  logger?: Logger;
}

/**
 * A real gateway on a random port over the run's test database. Embedded: a private copy of the prepared
 * template directory (PGlite opens an existing directory in about a second, versus several to create one).
 */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const url = nativeTestUrl();
  let dataDir: string | undefined;
  const env: Record<string, string> = { NODE_ENV: 'test', AUTH_JWT_SECRET: TEST_JWT_SECRET, ...options.env };
  if (url) {
    env.DATABASE_URL = nativeGatewayUrl(url);
    env.MIGRATION_DATABASE_URL = url;
  } else {
    const template = process.env[TEMPLATE_ENV] ?? TEMPLATE_DIR;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-test-db-'));
    fs.cpSync(template, dataDir, { recursive: true });
    env.PGLITE_DATA_DIR = dataDir;
  }
  const config = loadConfig(env);
  const db = await openDatabase(config, { migrate: true, poolSize: 4 });
  const embedder = options.embedder ?? createEmbedder(config);
  const gateway = await createGateway({
    config,
    db,
    embedder,
    jwtSecret: TEST_JWT_SECRET,
    logger: options.logger,
  });
  const endpoint = await gateway.listen(0, '127.0.0.1');
  const token = (id: TestIdentity): string =>
    signToken({ sub: id.userId, merchantId: id.merchantId, roles: id.roles }, TEST_JWT_SECRET);
  return {
    url: endpoint,
    db,
    config,
    services: gateway.services,
    gateway,
    token,
    async gql<T>(query: string, variables: Record<string, unknown> = {}, as: TestIdentity | null = ALICE) {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(as ? { authorization: `Bearer ${token(as)}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as Omit<GraphQLResponse<T>, 'status'>;
      return { status: res.status, ...body };
    },
    async close() {
      await gateway.stop();
      await db.close();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A merchant of its own per test, so tests never see each other's data on a shared native database. */
export async function createTestMerchant(t: TestGateway, prefix = 'tm'): Promise<string> {
  const id = `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
  await t.services.merchants.provision({ id, name: `Test merchant ${id}` });
  return id;
}

export function errorCode(res: GraphQLResponse<unknown>): string | undefined {
  return res.errors?.[0]?.extensions?.code;
}
