import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { signToken } from '../../src/auth/jwt';
import { type GraphQLResponse, type TestIdentity } from './test-gateway';
import { TEST_JWT_SECRET } from './test-env';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The real gateway (src/main.ts) in a child process, for tests that must kill it or watch it survive.
 *
 * Jest runs TypeScript in its own module system, so the child needs JavaScript: every file of src/ and
 * migrations/ is transpiled once per test file (ts.transpileModule with the project's options, decorator
 * metadata included; a few seconds) into node_modules/.cache, where `node_modules` resolves as from the
 * project. `npm run build` would type-check too and take ten times longer; the type check is `npm test`'s job.
 */
export function buildGatewayScript(dirs: readonly string[] = ['src', 'migrations']): {
  main: string;
  /** The output folder: <root>/src/..., <root>/bench/... as in the project. */
  root: string;
  remove(): void;
} {
  const cacheDir = path.join(ROOT, 'node_modules', '.cache');
  fs.mkdirSync(cacheDir, { recursive: true });
  const out = fs.mkdtempSync(path.join(cacheDir, 'srg-gateway-'));
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('could not read tsconfig.json');
  const compilerOptions = { ...parsed.options, sourceMap: false, inlineSourceMap: false };
  for (const dir of dirs) {
    for (const file of walk(path.join(ROOT, dir))) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file.endsWith('.d.ts')) continue;
      const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
        compilerOptions,
        fileName: file,
      });
      const target = path.join(out, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, outputText);
    }
  }
  return {
    main: path.join(out, 'src', 'main.js'),
    root: out,
    remove: () => fs.rmSync(out, { recursive: true, force: true }),
  };
}

function* walk(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else yield p;
  }
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process printed so far (for failure messages). */
  output(): string;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    as?: TestIdentity | null,
    timeoutMs?: number,
  ): Promise<GraphQLResponse<T>>;
  /** SIGKILL, then wait until the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful), then wait; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function tokenFor(id: TestIdentity): string {
  return signToken({ sub: id.userId, merchantId: id.merchantId, roles: id.roles }, TEST_JWT_SECRET);
}

/**
 * Starts `node <main>` with a clean environment (only what is passed, plus PATH and HOME) on a random port and
 * resolves once it logs "gateway listening".
 */
export async function spawnGateway(
  main: string,
  env: Record<string, string>,
  startTimeoutMs = 60_000,
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [main], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      SEED_ON_EMPTY: 'false',
      // The test reads the "gateway listening" line (and internal errors) from the JSON log; test mode is silent.
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start within ${startTimeoutMs} ms:\n${output}`));
    }, startTimeoutMs);
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      output += text;
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'gateway listening' && entry.url) {
            clearTimeout(timer);
            resolve(entry.url);
          }
        } catch {
          // not a log line
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  const waitGone = async (): Promise<void> => {
    await exited;
  };
  return {
    child,
    url,
    output: () => output,
    exited,
    async gql<T>(
      query: string,
      variables: Record<string, unknown> = {},
      as: TestIdentity | null = null,
      timeoutMs = 60_000,
    ): Promise<GraphQLResponse<T>> {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(as ? { authorization: `Bearer ${tokenFor(as)}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.json()) as Omit<GraphQLResponse<T>, 'status'>;
      return { status: res.status, ...body };
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await waitGone();
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await waitGone();
      clearTimeout(timer);
    },
  };
}
