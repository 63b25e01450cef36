import 'reflect-metadata';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createServices } from '../src/services';
import { signToken } from '../src/auth/jwt';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { OpenAIEmbedder } from '../src/embeddings/openai.embedder';
import {
  nativeGatewayUrl,
  nativeTestUrl,
  TEMPLATE_DIR,
  TEMPLATE_ENV,
  TEST_JWT_SECRET,
} from './support/test-env';

/**
 * The built gateway as operators run it: a child process, real signals, real exit codes. The code is compiled
 * once into .test-build/<pid> (tsc; the test runner's transpiler is not available to a child process).
 */
const ROOT = path.resolve(__dirname, '..');
const BUILD = path.join(ROOT, '.test-build', String(process.pid));
const SLOW_MODEL = 'slow-test-model';
const run = promisify(execFile);

beforeAll(async () => {
  fs.rmSync(BUILD, { recursive: true, force: true });
  await run(process.execPath, [
    path.join(ROOT, 'node_modules/typescript/bin/tsc'),
    '-p',
    path.join(ROOT, 'tsconfig.build.json'),
    '--outDir',
    BUILD,
    '--sourceMap',
    'false',
  ]);
}, 180_000);
afterAll(() => {
  fs.rmSync(BUILD, { recursive: true, force: true });
});

const script = (name: string): string => path.join(BUILD, 'src', name);

describe('every command has --help, and a bad configuration names its variables', () => {
  it('prints usage for `npm start` and every CLI', async () => {
    const commands: [string, string][] = [
      ['main.js', 'npm start'],
      ['cli/seed.cli.js', 'npm run seed'],
      ['cli/token.cli.js', 'npm run token'],
      ['cli/load.cli.js', 'npm run load'],
      ['cli/reembed.cli.js', 'npm run reembed'],
      ['cli/query.cli.js', 'npm run query'],
      ['cli/print-schema.cli.js', 'npm run schema:print'],
      ['cli/vector-index.cli.js', 'npm run vector-index'],
    ];
    const outputs = await Promise.all(
      commands.map(([file]) =>
        run(process.execPath, [script(file), '--help'], { env: { PATH: process.env.PATH } }),
      ),
    );
    commands.forEach(([, usage], i) => expect(outputs[i].stdout).toContain(usage));
    for (const name of ['DATABASE_URL', 'LOG_LEVEL', 'SHUTDOWN_TIMEOUT_MS', 'EMBEDDING_CACHE_ENTRIES'])
      expect(outputs[0].stdout).toContain(name);
  });

  it('refuses to start on invalid values, listing each variable and what is wrong', async () => {
    const failed = await run(process.execPath, [script('main.js')], {
      env: {
        PATH: process.env.PATH,
        PORT: 'http',
        LOG_LEVEL: 'loud',
        DB_POOL_SIZE: '0',
        AUTH_JWT_SECRET: 'short',
      },
    }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('PORT="http" must be an integer between 0 and 65535');
    expect(failed?.stderr).toContain(
      'LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent',
    );
    expect(failed?.stderr).toContain('DB_POOL_SIZE="0" must be an integer between 1 and 1000');
    expect(failed?.stderr).toContain('AUTH_JWT_SECRET must be at least 32 characters');
  });
});

/** An OpenAI-compatible embeddings endpoint that answers after `delayMs`: the slow request of these tests. */
class SlowEmbeddings {
  delayMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { input, dimensions } = JSON.parse(body) as { input: string[]; dimensions: number };
      this.onRequest?.();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const vector = Array.from({ length: dimensions }, (_, i) => (i === 0 ? 1 : 0));
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ data: input.map((_, index) => ({ index, embedding: vector })) }));
      }, this.delayMs);
      this.timers.add(timer);
    });
  });
  private onRequest: (() => void) | undefined;
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  nextRequest(): Promise<void> {
    return new Promise((resolve) => (this.onRequest = resolve));
  }
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

interface Child {
  process: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(msg: string): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  // A failed test must not leave a gateway running.
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function startChild(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, [script('main.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const logs: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const text of lines) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      for (const w of waiters.filter((x) => x.msg === line.msg)) w.resolve(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (msg: string): Promise<Record<string, unknown>> => {
    const seen = logs.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ msg, resolve });
      void exited.then(({ code }) =>
        reject(new Error(`gateway exited (${code}) before "${msg}": ${stderr}`)),
      );
    });
  };
  const listening = await waitForLog('gateway listening');
  return { process: child, url: listening.url as string, logs, exited, waitForLog };
}

/** Opens a connection of its own (no keep-alive pool), so "refused" means the listener is gone. */
function freshConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url.replace(/\/graphql$/, '/healthz'), { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

describe('graceful shutdown of the built gateway on SIGTERM', () => {
  const embeddings = new SlowEmbeddings();
  const merchant = `proc-${crypto.randomBytes(4).toString('hex')}`;
  let dataDir: string | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    await embeddings.start();
    const native = nativeTestUrl();
    env = {
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      OPENAI_BASE_URL: embeddings.url,
      EMBEDDING_MAX_RETRIES: '0',
    };
    if (native) {
      // Production refuses a request login that bypasses row-level security: requests as srg_gateway, the
      // owner for migrations (README, "Database roles").
      env.DATABASE_URL = nativeGatewayUrl(native);
      env.MIGRATION_DATABASE_URL = native;
    } else {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-proc-db-'));
      fs.cpSync(process.env[TEMPLATE_ENV] ?? TEMPLATE_DIR, dataDir, { recursive: true });
      env.PGLITE_DATA_DIR = dataDir;
    }
    // A merchant whose model is served by the slow endpoint, so its ingestion takes as long as the test wants.
    const config = loadConfig(env);
    const db = await openDatabase(config, { migrate: true });
    try {
      const slow = new OpenAIEmbedder({
        baseUrl: embeddings.url,
        apiKey: undefined,
        model: SLOW_MODEL,
        dimensions: 1536,
        timeoutMs: 60_000,
      });
      await createServices(config, db, slow).merchants.provision({ id: merchant, name: 'Process test' });
    } finally {
      await db.close();
    }
  }, 60_000);
  afterAll(async () => {
    await embeddings.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const ingest = (url: string, id: string): Promise<Response> =>
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${signToken({ sub: 'u0', merchantId: merchant, roles: ['admin'] }, TEST_JWT_SECRET)}`,
        'x-request-id': id,
      },
      body: JSON.stringify({
        query: `mutation Ingest($input: IngestDocumentInput!) { ingestDocument(input: $input) { chunkCount } }`,
        variables: {
          input: { id, title: 'Slow', text: `Written while the gateway stops (${id}).`, acl: ['role:agent'] },
        },
      }),
    });

  it('finishes the in-flight request, refuses new connections, closes the database and exits 0', async () => {
    const child = await startChild(env);
    embeddings.delayMs = 1500;
    const arrived = embeddings.nextRequest();
    const pending = ingest(child.url, 'proc-drain-1');
    await arrived; // the request is now in flight (its text is new: the stored vectors cannot answer it), waiting for its embeddings
    child.process.kill('SIGTERM');
    await child.waitForLog('shutting down: draining in-flight requests');
    // Refused, or reset when it raced into the listen backlog just before the listener closed: never served.
    const refused = await freshConnection(child.url).then(
      (status) => `served ${status}`,
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(['ECONNREFUSED', 'ECONNRESET']).toContain(refused);

    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('proc-drain-1');
    expect(await res.json()).toEqual({ data: { ingestDocument: { chunkCount: 1 } } });
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.logs.find((l) => l.requestId === 'proc-drain-1')).toMatchObject({
      msg: 'request',
      outcome: 'ok',
      operation: 'Ingest',
    });
    expect(child.logs.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });

    // The write is there after the process is gone (on PGlite: flushed to the data directory by the close).
    const db = await openDatabase(loadConfig(env), { migrate: false });
    try {
      const rows: unknown[] = await db.dataSource.query(
        'SELECT 1 FROM support_documents WHERE merchant_id = $1 AND id = $2',
        [merchant, 'proc-drain-1'],
      );
      expect(rows).toHaveLength(1);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('cuts requests still running at SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
    const child = await startChild({ ...env, SHUTDOWN_TIMEOUT_MS: '300' });
    embeddings.delayMs = 20_000;
    const arrived = embeddings.nextRequest();
    const pending = ingest(child.url, 'proc-cut-1').then(
      () => 'answered',
      () => 'cut',
    );
    await arrived;
    const signalled = Date.now();
    child.process.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 1, signal: null });
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(await pending).toBe('cut');
    expect(
      child.logs.find((l) => l.msg === 'requests still running at the shutdown timeout were cut'),
    ).toMatchObject({
      abandonedRequests: 1,
    });
  }, 60_000);
});
