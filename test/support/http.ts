import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
  /** extensions.code of the first error, when the body is a GraphQL error response. */
  code: string | undefined;
}

/** A request exactly as given (body, content type, headers): for the inputs `gql` would never produce. */
export async function rawRequest(
  url: string,
  options: {
    body?: string | Uint8Array;
    contentType?: string;
    token?: string;
    method?: string;
    headers?: Record<string, string>;
  },
): Promise<RawResponse> {
  const res = await fetch(url, {
    method: options.method ?? 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: options.body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const code = (json as { errors?: { extensions?: { code?: string } }[] } | undefined)?.errors?.[0]
    ?.extensions?.code;
  return { status: res.status, headers: res.headers, text, json, code };
}

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Decided when the test file is collected (describe vs. describe.skip), so it must be synchronous: a child
 * process tries to connect for up to two seconds.
 */
export function redisAvailable(): boolean {
  const { hostname, port } = new URL(REDIS_URL);
  const probe = `const s=require('net').connect(${Number(port) || 6379},${JSON.stringify(hostname)});
s.on('connect',()=>{s.write('PING\\r\\n')});s.on('data',d=>process.exit(String(d).startsWith('+PONG')?0:1));
s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),2000);`;
  return spawnSync(process.execPath, ['-e', probe], { timeout: 3000 }).status === 0;
}

/** Keys of one test run: several agents and CI runs share the machine's Redis. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${crypto.randomBytes(6).toString('hex')}:`;
}
