import os from 'node:os';
import path from 'node:path';

/** Shared between globalSetup (which prepares it) and the test files (which use it). */
export const TEMPLATE_DIR = path.join(os.tmpdir(), `srg-test-template-${process.ppid}-${process.pid}`);
export const TEMPLATE_ENV = 'SRG_TEST_PGLITE_TEMPLATE';
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export function nativeTestUrl(): string | undefined {
  const url = process.env.TEST_DATABASE_URL;
  return url && url.trim() !== '' ? url.trim() : undefined;
}
