import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { allowRecreating, BENCH_DATABASE_COMMENT, recreateDatabase } from '../bench/bench-utils';
import { buildGatewayScript } from './support/gateway-process';
import { nativeTestUrl } from './support/test-env';

/**
 * Every command a user can run (`npm start`, src/cli/*.cli.ts, bench/*.bench.ts, found on disk so a new one
 * cannot be missed): `--help` prints its usage, names its npm script, and does nothing else; an unknown option is
 * a one-line error with the usage, not a stack trace. Side effects are watched on a sentinel database (native
 * runs) or an address where nothing listens (any connection attempt fails the command), a fresh working
 * directory and data directory, and the checked-in result files.
 */
const ROOT = path.resolve(__dirname, '..');
const run = promisify(execFile);
const native = nativeTestUrl();

const commands: { file: string; script: string }[] = (() => {
  const scripts = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;
  const files = [
    'src/main.ts',
    ...fs
      .readdirSync(path.join(ROOT, 'src/cli'))
      .filter((f) => f.endsWith('.cli.ts'))
      .map((f) => `src/cli/${f}`),
    ...fs
      .readdirSync(path.join(ROOT, 'bench'))
      .filter((f) => f.endsWith('.bench.ts'))
      .map((f) => `bench/${f}`),
  ];
  return files.map((file) => {
    const built = `dist/${file.replace(/\.ts$/, '.js')}`;
    const entry = Object.entries(scripts).find(([, cmd]) => cmd.includes(` ${built}`));
    if (!entry) throw new Error(`${file} has no npm script`);
    return { file, script: entry[0] === 'start' ? 'npm start' : `npm run ${entry[0]}` };
  });
})();

let build: ReturnType<typeof buildGatewayScript>;
let sentinelUrl: string;
let sentinelName: string | undefined;
let workDir: string;

beforeAll(async () => {
  build = buildGatewayScript(['src', 'migrations', 'bench']);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-commands-'));
  if (native) {
    // A database the commands are pointed at, holding one row: it must still be there, untouched, afterwards.
    sentinelName = `${new URL(native).pathname.slice(1)}_sentinel_${process.pid}`;
    const admin = adminClient(native);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${sentinelName}`);
    await admin.end();
    const url = new URL(native);
    url.pathname = `/${sentinelName}`;
    sentinelUrl = url.toString();
    const c = new Client({ connectionString: sentinelUrl });
    await c.connect();
    await c.query(`CREATE TABLE sentinel (note text); INSERT INTO sentinel VALUES ('untouched')`);
    await c.end();
  } else {
    sentinelUrl = 'postgres://postgres@127.0.0.1:1/srg_nothing_listens_here';
  }
}, 120_000);

afterAll(async () => {
  build?.remove();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  if (native && sentinelName) {
    const admin = adminClient(native);
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${sentinelName} WITH (FORCE)`);
    await admin.end();
  }
});

function adminClient(url: string): Client {
  const u = new URL(url);
  u.pathname = '/postgres';
  return new Client({ connectionString: u.toString() });
}

function snapshot(dir: string): Record<string, number> {
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(
    fs
      .readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]),
  );
}

async function runCommand(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = path.join(build.root, file.replace(/\.ts$/, '.js'));
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'development',
    DATABASE_URL: sentinelUrl,
    BENCH_DATABASE_URL: sentinelUrl,
    PGLITE_DATA_DIR: path.join(workDir, 'data'),
  };
  return run(process.execPath, [script, ...args], { env, cwd: workDir, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

async function sentinelRows(): Promise<string[]> {
  const c = new Client({ connectionString: sentinelUrl });
  await c.connect();
  try {
    return (await c.query<{ note: string }>('SELECT note FROM sentinel')).rows.map((r) => r.note);
  } finally {
    await c.end();
  }
}

describe('every command', () => {
  it('knows its commands', () => {
    expect(commands.map((c) => c.script)).toEqual(
      expect.arrayContaining([
        'npm start',
        'npm run load',
        'npm run token',
        'npm run bench',
        'npm run bench:rls',
      ]),
    );
  });

  it('prints usage on --help and does nothing else', async () => {
    const results = new Map<string, string>();
    const before = {
      results: snapshot(path.join(ROOT, 'docs')),
      schema: fs.statSync(path.join(ROOT, 'schema.graphql')).mtimeMs,
    };
    // Two at a time: the machine is shared.
    for (let i = 0; i < commands.length; i += 2) {
      await Promise.all(
        commands.slice(i, i + 2).map(async ({ file, script }) => {
          const r = await runCommand(file, ['--help']);
          results.set(file, `${r.code}\n${r.stdout}\n${r.stderr}`);
          expect({ file, code: r.code, stderr: r.stderr }).toEqual({ file, code: 0, stderr: '' });
          expect(r.stdout).toMatch(/^Usage:\s/);
          expect(r.stdout).toContain(script);
        }),
      );
    }
    expect(fs.readdirSync(workDir)).toEqual([]); // no data directory, no files
    expect(snapshot(path.join(ROOT, 'docs'))).toEqual(before.results);
    expect(fs.statSync(path.join(ROOT, 'schema.graphql')).mtimeMs).toBe(before.schema);
    if (native) expect(await sentinelRows()).toEqual(['untouched']);
  }, 300_000);

  it('refuses an unknown option with one line and the usage, not a stack trace', async () => {
    // bench/soak.bench.ts parses its own options (it belongs to the soak work); every other command is strict.
    const strict = commands.filter((c) => c.file !== 'bench/soak.bench.ts');
    for (let i = 0; i < strict.length; i += 2) {
      await Promise.all(
        strict.slice(i, i + 2).map(async ({ file, script }) => {
          const r = await runCommand(file, ['--no-such-option']);
          expect({ file, code: r.code }).toEqual({ file, code: 2 });
          expect(r.stderr).toMatch(/^error: Unknown option '--no-such-option'/);
          expect(r.stderr).toContain(script);
          expect(r.stderr).not.toMatch(/^\s+at /m);
        }),
      );
    }
    expect(fs.readdirSync(workDir)).toEqual([]);
    if (native) expect(await sentinelRows()).toEqual(['untouched']);
  }, 300_000);

  it('explains CLI mistakes instead of failing deep inside', async () => {
    const seed = await runCommand('src/cli/seed.cli.ts', ['no-such-folder']);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/^error: .*no-such-folder is not a folder/);
    const token = await runCommand('src/cli/token.cli.ts', [
      '--merchant',
      'acme corp',
      '--user',
      'role:admin',
    ]);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(
      /^error: the gateway would refuse a token with --merchant "acme corp", --user "role:admin"/,
    );
    const badRole = await runCommand('src/cli/token.cli.ts', [
      '--merchant',
      'm01',
      '--user',
      'u1',
      '--roles',
      'agent,-x',
    ]);
    expect(badRole.stderr).toMatch(/^error: the gateway would refuse a token with role "-x"/);
    const typo = await runCommand('src/cli/load.cli.ts', ['--merchant', 'm01']);
    expect(typo.stderr).toMatch(/^error: give exactly one folder/);
    expect(fs.readdirSync(workDir)).toEqual([]);
  }, 120_000);
});

(native ? describe : describe.skip)('benchmark databases (native PostgreSQL)', () => {
  const name = `${native ? new URL(native).pathname.slice(1) : 'x'}_bench_guard_${process.pid}`;
  const url = (() => {
    if (!native) return '';
    const u = new URL(native);
    u.pathname = `/${name}`;
    return u.toString();
  })();
  const comment = async (): Promise<string | null | undefined> => {
    const admin = adminClient(native!);
    await admin.connect();
    try {
      const r = await admin.query<{ c: string | null }>(
        `SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1`,
        [name],
      );
      return r.rows.length === 0 ? undefined : r.rows[0].c;
    } finally {
      await admin.end();
    }
  };
  afterAll(async () => {
    allowRecreating(undefined);
    const admin = adminClient(native!);
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('drops only a database a benchmark created, or the one named with --recreate-database', async () => {
    const admin = adminClient(native!);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`); // someone else's
    await admin.end();
    await expect(recreateDatabase(url)).rejects.toThrow(
      `database ${name} on ${new URL(native!).host} exists and was not created by a benchmark: refusing to drop it`,
    );
    expect(await comment()).toBeNull(); // still there, untouched
    allowRecreating('some_other_database');
    await expect(recreateDatabase(url)).rejects.toThrow(/is not the benchmark's database/);
    allowRecreating(name);
    await recreateDatabase(url);
    expect(await comment()).toBe(BENCH_DATABASE_COMMENT);
    allowRecreating(undefined);
    await recreateDatabase(url); // created by a benchmark now: a rerun may recreate it
    expect(await comment()).toBe(BENCH_DATABASE_COMMENT);
  });
});
