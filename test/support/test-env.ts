import os from 'node:os';
import path from 'node:path';

/** Shared between globalSetup (which prepares it) and the test files (which use it). */
export const TEMPLATE_DIR = path.join(os.tmpdir(), `srg-test-template-${process.ppid}-${process.pid}`);
export const TEMPLATE_ENV = 'SRG_TEST_PGLITE_TEMPLATE';
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/**
 * The gateway's request connection in native tests: the test database as srg_gateway (scripts/db-roles.sql; the
 * global setup creates the roles when it can), so row-level security is exercised as in production. The owner
 * connection (migrations, provisioning, ground truth) is TEST_DATABASE_URL itself.
 */
export function nativeGatewayUrl(ownerUrl: string): string {
  const explicit = process.env.TEST_GATEWAY_DATABASE_URL?.trim();
  if (explicit) return explicit;
  const url = new URL(ownerUrl);
  url.username = 'srg_gateway';
  url.password = '';
  return url.toString();
}

export function nativeTestUrl(): string | undefined {
  const url = process.env.TEST_DATABASE_URL;
  return url && url.trim() !== '' ? url.trim() : undefined;
}
