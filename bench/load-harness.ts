import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { CLAIM_TTL_SECONDS, signClaim } from '../src/db/session';
import { percentile } from './bench-utils';

/** Helpers for the load runs: a fixed-concurrency driver, the gateway as a child process, SQL recording. */

export interface LoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p95: number;
  p99: number;
  throughput: number;
}

/**
 * Runs `requests` calls of `fn(i)` with exactly `concurrency` in flight (each worker takes the next index when its
 * call returns). Latencies in milliseconds, throughput in calls per second of wall time.
 */
export async function runConcurrent(
  requests: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= requests) return;
      const t0 = performance.now();
      await fn(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  const seconds = (performance.now() - started) / 1000;
  return {
    requests,
    seconds,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    throughput: requests / seconds,
  };
}

export interface Recorded {
  text: string;
  values: unknown[];
  /** The prepared statement's name when the product sent it as one (the search statement on one node). */
  name?: string;
  /** Sent in pg's pipeline mode (TenantSession.readAhead): replayed together with the others of its trip. */
  pipelined?: boolean;
  /**
   * Its round trip: how many replies (on any connection) had come back when it was sent. Statements sent before
   * any reply to the one before share a trip.
   */
  trip: number;
}

/**
 * Records the statements sent through `pg` (TypeORM included) while `fn` runs, so the raw-SQL side of the
 * benchmark replays exactly what the product sent for the same request — whatever retrieval strategy main has.
 * `include` tells which connections' statements belong to `fn` (others may be busy with something else meanwhile).
 */
export async function recordSql<T>(
  fn: () => Promise<T>,
  include: (client: object) => boolean = () => true,
): Promise<{ result: T; statements: Recorded[] }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  const statements: Recorded[] = [];
  let replies = 0;
  proto.query = function (this: object, ...args: unknown[]) {
    const pipelined = {
      trip: replies,
      ...((this as { pipeline?: boolean }).pipeline === true ? { pipelined: true } : {}),
    };
    if (typeof args[0] === 'string' && include(this))
      statements.push({
        text: args[0],
        values: Array.isArray(args[1]) ? [...(args[1] as unknown[])] : [],
        ...pipelined,
      });
    else if (isNamedQuery(args[0]) && include(this))
      statements.push({
        text: args[0].text,
        values: [...(args[0].values ?? [])],
        name: args[0].name,
        ...pipelined,
      });
    const result = original.apply(this, args);
    if (result instanceof Promise)
      result.then(
        () => replies++,
        () => replies++,
      );
    return result;
  };
  try {
    return { result: await fn(), statements };
  } finally {
    proto.query = original;
  }
}

function isNamedQuery(q: unknown): q is { name: string; text: string; values?: unknown[] } {
  return typeof q === 'object' && q !== null && typeof (q as { name?: unknown }).name === 'string';
}

/**
 * Replays recorded statements on one pooled connection, in order (they include the transaction's BEGIN/COMMIT).
 * A recorded tenant claim is re-signed for the replaying connection first (`claims`): a claim is bound to the
 * backend it was signed for and expires after CLAIM_TTL_SECONDS, and without a valid one row-level security
 * shows no rows at all — the replay would time empty queries. Resolves to the row count of the statement with the
 * most rows (the search), which callers compare with what the product returned.
 */
export async function replay(
  pool: pg.Pool,
  statements: readonly Recorded[],
  claims?: ClaimResigner,
): Promise<number> {
  const client = await pool.connect();
  let most = 0;
  const send = (s: Recorded, text: string) =>
    // A prepared statement is replayed as one (same name, so parsed and planned once per connection, as the
    // product's); its text carries no claim.
    (s.name !== undefined
      ? client.query({ name: s.name, text: s.text, values: s.values })
      : client.query(text, s.values)) as unknown as Promise<pg.QueryResult | pg.QueryResult[]>;
  const count = (result: pg.QueryResult | pg.QueryResult[]) => {
    for (const r of Array.isArray(result) ? result : [result]) most = Math.max(most, r.rowCount ?? 0);
  };
  try {
    for (let i = 0; i < statements.length;) {
      // Statements the product pipelined go out together here too, in one round trip, as it sent them.
      let j = i + 1;
      const trip = statements[i].trip;
      if (statements[i].pipelined === true)
        while (j < statements.length && statements[j].pipelined === true && statements[j].trip === trip) j++;
      const group = statements.slice(i, j);
      const texts: string[] = [];
      for (const s of group) texts.push(claims ? await claims.resign(client, s.text) : s.text);
      if (group.length === 1) count(await send(group[0], texts[0]));
      else {
        const mode = client as unknown as { pipeline: boolean };
        mode.pipeline = true;
        try {
          const settled = await Promise.allSettled(group.map((s, k) => send(s, texts[k])));
          for (const r of settled) {
            if (r.status === 'rejected') throw r.reason;
            count(r.value);
          }
        } finally {
          mode.pipeline = false;
        }
      }
      i = j;
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return most;
}

/** A recorded `SET LOCAL app.claim = '<key>.<expires>.<binding>.<capability>.<mac>'`. */
const CLAIM_SETTING = /SET LOCAL app\.claim = '(\d+)\.\d+\.[^.']*\.([rw])\.[0-9a-f]+'/;
const literalSetting = (name: string) => new RegExp(`SET LOCAL app\\.${name} = '((?:[^']|'')*)'`);

/**
 * Signs the tenant claims of recorded statements again, for the connection that replays them: the benchmark reads
 * the claim key over the owner's connection, as the gateway does (src/db/session.ts, TenantClaimSigner), and
 * each pooled connection's binding (its backend pid) once.
 */
export class ClaimResigner {
  private key: Promise<Buffer> | undefined;
  private readonly bindings = new WeakMap<object, Promise<string>>();

  constructor(private readonly owner: pg.Pool) {}

  async resign(client: pg.PoolClient, text: string): Promise<string> {
    const claim = CLAIM_SETTING.exec(text);
    if (!claim) return text;
    const merchant = literalSetting('merchant_id').exec(text)?.[1]?.replace(/''/g, "'");
    const principals = literalSetting('principals').exec(text)?.[1]?.replace(/''/g, "'");
    if (merchant === undefined || principals === undefined)
      throw new Error('a recorded claim without its merchant and principals settings');
    const keyId = Number(claim[1]);
    this.key ??= this.owner
      .query<{ secret: Buffer }>('SELECT secret FROM tenant_claim_keys WHERE id = $1', [keyId])
      .then((r) => r.rows[0].secret);
    let binding = this.bindings.get(client);
    if (binding === undefined) {
      binding = client
        .query<{ binding: string }>('SELECT app_claim_binding() AS binding')
        .then((r) => r.rows[0].binding);
      this.bindings.set(client, binding);
    }
    const signed = signClaim(await this.key, {
      keyId,
      expires: Math.ceil(Date.now() / 1000) + CLAIM_TTL_SECONDS,
      binding: await binding,
      capability: claim[2] as 'r' | 'w',
      merchant,
      principals,
    });
    return text.replace(CLAIM_SETTING, `SET LOCAL app.claim = '${signed}'`);
  }
}

export interface GatewayProcess {
  url: URL;
  pid: number;
  /** Peak resident set size so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  rssMiB(): number;
  /** CPU time (user + system) the process has used so far, in milliseconds. */
  cpuMs(): number;
  /** The same, split into user and system (kernel) time. */
  cpuSplitMs(): { user: number; system: number };
  stop(): Promise<void>;
}

/** utime + stime from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms on Linux); NaN once it is gone. */
export function procCpuMs(pid: number): number {
  const { user, system } = procCpuSplitMs(pid);
  return user + system;
}

/** utime and stime apart: user = JavaScript and libuv work, system = the kernel's (socket writes on loopback). */
function procCpuSplitMs(pid: number): { user: number; system: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
  } catch {
    return { user: NaN, system: NaN };
  }
}

function procStatusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * The environment of a gateway that a benchmark times on a database `npm run bench` loaded: production settings,
 * requests as srg_gateway under row-level security and admin work as the URL's owner, no background calibration,
 * index builds or rate limits, an ephemeral port.
 */
export function readOnlyGatewayEnv(ownerUrl: string, secret: string): Record<string, string> {
  const gatewayUrl = new URL(ownerUrl);
  gatewayUrl.username = 'srg_gateway';
  return {
    NODE_ENV: 'production',
    DATABASE_URL: gatewayUrl.toString(),
    MIGRATION_DATABASE_URL: ownerUrl,
    RETRIEVAL_CALIBRATION_AUTO: 'false',
    RETRIEVAL_INDEX_AUTOBUILD: 'false',
    RATE_LIMIT_MERCHANT_PER_MINUTE: '0',
    RATE_LIMIT_CALLER_PER_MINUTE: '0',
    AUTH_JWT_SECRET: secret,
    PORT: '0',
    HOST: '127.0.0.1',
  };
}

/**
 * Starts the real gateway (`node dist/src/main.js`, the same entry point as `npm start`) on an ephemeral port
 * and resolves when it listens. A separate process, so its memory is its own and measurable.
 */
export async function startGatewayProcess(
  root: string,
  env: Record<string, string>,
  /** Options for node itself (e.g. --cpu-prof, which NODE_OPTIONS does not accept). */
  nodeArgs: string[] = [],
): Promise<GatewayProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, path.join(root, 'dist', 'src', 'main.js')],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Never outlive the benchmark, also when it fails half-way.
  const killOnExit = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  const url = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 120_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'gateway listening' && entry.url) {
            clearTimeout(timer);
            resolve(new URL(entry.url));
          }
        } catch {
          // a partial line; wait for the rest
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${String(code)}:\n${output}`));
    });
  });
  // Keep draining its output so a chatty gateway never blocks on a full pipe; print errors.
  child.stdout!.removeAllListeners('data');
  child.stdout!.on('data', () => undefined);
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(`[gateway] ${c.toString()}`));
  const pid = child.pid!;
  return {
    url,
    pid,
    peakRssMiB: () => procStatusMiB(pid, 'VmHWM'),
    rssMiB: () => procStatusMiB(pid, 'VmRSS'),
    cpuMs: () => procCpuMs(pid),
    cpuSplitMs: () => procCpuSplitMs(pid),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * POSTs a prepared GraphQL body; resolves to the parsed `data`, rejects on HTTP or GraphQL errors. A request that
 * went out on a kept-alive socket the server was closing at that moment (its idle timeout) is sent again once.
 */
export function graphql<T>(url: URL, token: string, body: string, retry = true): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString();
          try {
            const parsed = JSON.parse(text) as { data?: T; errors?: { message: string }[] };
            if (parsed.errors?.length || !parsed.data)
              reject(new Error(`GraphQL error (${res.statusCode}): ${text.slice(0, 500)}`));
            else resolve(parsed.data);
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 500)}`));
          }
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (retry && req.reusedSocket && err.code === 'ECONNRESET')
        resolve(graphql<T>(url, token, body, false));
      else reject(err);
    });
    req.end(body);
  });
}
