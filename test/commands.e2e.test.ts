import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { allowRecreating, BENCH_DATABASE_COMMENT, recreateDatabase } from '../bench/bench-utils';
import { configDefault, loadConfig } from '../src/config/config';
import { buildGatewayScript } from './support/gateway-process';
import { createTestMerchant, startTestGateway } from './support/test-gateway';
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
    await admin.query(`CREATE DATABASE "${sentinelName}"`);
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
    await admin.query(`DROP DATABASE IF EXISTS "${sentinelName}" WITH (FORCE)`);
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
  env: Record<string, string | undefined> = {
    NODE_ENV: 'development',
    DATABASE_URL: sentinelUrl,
    BENCH_DATABASE_URL: sentinelUrl,
    PGLITE_DATA_DIR: path.join(workDir, 'data'),
  },
  cwd = workDir,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = path.join(build.root, file.replace(/\.ts$/, '.js'));
  return run(process.execPath, [script, ...args], {
    env: { PATH: process.env.PATH, ...env },
    cwd,
    timeout: 120_000,
  }).then(
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
    // Help texts quote the code's defaults rather than repeat them (vector-index once said 20000 for 10000).
    expect(results.get('src/cli/vector-index.cli.ts')).toContain(
      `RETRIEVAL_DEDICATED_INDEX_MIN_ROWS chunks (default ${configDefault('RETRIEVAL_DEDICATED_INDEX_MIN_ROWS')})`,
    );
    expect(configDefault('RETRIEVAL_DEDICATED_INDEX_MIN_ROWS')).toBe(
      String(loadConfig({}).retrieval.dedicatedIndexMinRows),
    );
    expect(fs.readdirSync(workDir)).toEqual([]); // no data directory, no files
    expect(snapshot(path.join(ROOT, 'docs'))).toEqual(before.results);
    expect(fs.statSync(path.join(ROOT, 'schema.graphql')).mtimeMs).toBe(before.schema);
    if (native) expect(await sentinelRows()).toEqual(['untouched']);
  }, 300_000);

  it('answers --help from the CLIs without loading the database layer or the gateway', async () => {
    // Start-up of a CLI is module loading: TypeORM with the entities (and their GraphQL types), or app.ts with
    // Apollo and Express, cost 0.5-1 s before the first line. A preload reports what was loaded at exit.
    const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-cli-modules-'));
    try {
      const preload = path.join(probeDir, 'report-modules.js');
      fs.writeFileSync(
        preload,
        `process.on('exit', () => process.stderr.write(JSON.stringify(Object.keys(require.cache))));`,
      );
      const heavy = /node_modules\/(typeorm|@apollo\/server|express|type-graphql|js-tiktoken)\//;
      for (const { file } of commands.filter((c) => c.file.startsWith('src/cli/'))) {
        const script = path.join(build.root, file.replace(/\.ts$/, '.js'));
        const { stderr } = await run(process.execPath, ['-r', preload, script, '--help'], {
          env: { PATH: process.env.PATH, NODE_ENV: 'development', DATABASE_URL: sentinelUrl },
          cwd: workDir,
        });
        const loaded = JSON.parse(stderr) as string[];
        expect({ file, heavy: loaded.filter((m) => heavy.test(m)).slice(0, 3) }).toEqual({ file, heavy: [] });
      }
    } finally {
      fs.rmSync(probeDir, { recursive: true, force: true });
    }
    expect(fs.readdirSync(workDir)).toEqual([]);
  }, 120_000);

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
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });

  it('drops only a database a benchmark created, or the one named with --recreate-database', async () => {
    const admin = adminClient(native!);
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`); // someone else's (quoted: branch-named databases carry a hyphen)
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

describe("the README's load example", () => {
  /** The arguments of the README's `npm run load -- --merchant …` line, as a shell would split them. */
  const readmeLoadArgs = (): string[] => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('npm run load -- --merchant'));
    if (!line) throw new Error('the README has no npm run load example');
    const words = line.replace(/\s+#.*$/, '').slice('npm run load -- '.length);
    return [...words.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
  };
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-readme-load-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const embedded = { NODE_ENV: 'development', SEED_ON_EMPTY: 'false' };

  it('runs on the sample folder, and the loaded articles answer with their ACLs', async () => {
    const args = readmeLoadArgs();
    expect(args).toEqual(['--merchant', 'm03', '--name', 'Initech', 'examples/help-center']);
    const env = { ...embedded, PGLITE_DATA_DIR: dataDir };
    const load = await runCommand('src/cli/load.cli.ts', args, env, ROOT);
    expect({ code: load.code, stderr: load.stderr }).toEqual({ code: 0, stderr: '' });
    expect(load.stdout).toMatch(/Loaded 4 files into m03 .*: 4 created, 0 updated, 0 skipped/);
    const ask = (roles: string) =>
      runCommand(
        'src/cli/query.cli.ts',
        [
          '--merchant',
          'm03',
          '--user',
          'u7',
          '--roles',
          roles,
          '--k',
          '5',
          'return an item refund escalation',
        ],
        env,
        ROOT,
      );
    const contractor = await ask('contractor');
    expect(contractor.code).toBe(0);
    expect(contractor.stdout).toContain('Returns and Exchanges');
    expect(contractor.stdout).not.toMatch(/Escalation Rules|Invoices|Password/);
    const admin = await ask('admin');
    expect(admin.stdout).toContain('Escalation Rules (internal)');
    const again = await runCommand('src/cli/load.cli.ts', args, env, ROOT);
    expect(again.stdout).toMatch(/0 created, 0 updated, 4 skipped/);
  }, 180_000);

  it('checks every file before it writes anything', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-load-check-'));
    const env = {
      ...embedded,
      PGLITE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'srg-load-check-db-')),
    };
    const args = ['--merchant', 'mcheck', folder];
    try {
      fs.mkdirSync(path.join(folder, 'faq'));
      for (let i = 0; i < 30; i++) {
        fs.writeFileSync(
          path.join(folder, 'faq', `q${i}.md`),
          `---\nacl: [role:agent]\n---\n# Question ${i}\n\nAnswer number ${i} about refunds.\n`,
        );
      }
      fs.writeFileSync(
        path.join(folder, 'faq', 'q7-copy.md'),
        '---\nid: q7\nacl: [role:agent]\n---\n# Again\n\nx\n',
      );
      const duplicate = await runCommand('src/cli/load.cli.ts', args, env, ROOT);
      expect(duplicate.code).toBe(1);
      expect(duplicate.stderr).toMatch(
        /^error: document id q7 is used by both .*q7(-copy)?\.md and .*q7(-copy)?\.md\n$/,
      );
      fs.writeFileSync(path.join(folder, 'faq', 'q7-copy.md'), '---\ntitel: Again\n---\n# Again\n\nx\n');
      const typo = await runCommand('src/cli/load.cli.ts', args, env, ROOT);
      expect(typo.code).toBe(1);
      // The error names the file and line, with the did-you-mean.
      expect(typo.stderr).toMatch(
        /^error: \S*faq\/q7-copy\.md:2: unknown key "titel" \(did you mean title\?\)/,
      );
      fs.rmSync(path.join(folder, 'faq', 'q7-copy.md'));
      const ok = await runCommand('src/cli/load.cli.ts', args, env, ROOT);
      expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
      // Nothing of the refused runs was written: every file is new now, the merchant included.
      expect(ok.stdout).toMatch(/Loaded 30 files into mcheck .*: 30 created, 0 updated, 0 skipped/);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
      fs.rmSync(env.PGLITE_DATA_DIR, { recursive: true, force: true });
    }
  }, 180_000);

  it('says how to load online when a running gateway holds the embedded database', async () => {
    fs.writeFileSync(path.join(dataDir, '.gateway.lock'), String(process.pid)); // this (live) process "holds" it
    try {
      const r = await runCommand(
        'src/cli/load.cli.ts',
        readmeLoadArgs(),
        { ...embedded, PGLITE_DATA_DIR: dataDir },
        ROOT,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: the embedded database in .* is in use by process \d+/);
      expect(r.stderr).toContain('--gateway http://127.0.0.1:4000/graphql --token');
      const query = await runCommand(
        'src/cli/query.cli.ts',
        ['--merchant', 'm03', '--user', 'u7', 'refund'],
        { ...embedded, PGLITE_DATA_DIR: dataDir },
        ROOT,
      );
      expect(query.stderr).toContain('retrieveChunks');
    } finally {
      fs.rmSync(path.join(dataDir, '.gateway.lock'));
    }
  }, 60_000);

  it('loads through a running gateway with --gateway and --token', async () => {
    const t = await startTestGateway();
    try {
      const merchant = await createTestMerchant(t, 'hc');
      const admin = { merchantId: merchant, userId: 'u0', roles: ['admin'] };
      const r = await runCommand(
        'src/cli/load.cli.ts',
        ['--gateway', t.url, '--token', t.token(admin), 'examples/help-center'],
        { NODE_ENV: 'development' },
        ROOT,
      );
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/Loaded 4 files through .*: 4 written, 0 skipped/);
      const res = await t.gql<{ retrieveChunks: { chunks: { citation: string }[] } }>(
        'query($input: RetrieveChunksInput!) { retrieveChunks(input: $input) { chunks { citation } } }',
        { input: { query: 'return window for unused items', k: 3 } },
        { merchantId: merchant, userId: 'u7', roles: ['contractor'] },
      );
      expect(res.data?.retrieveChunks.chunks.map((c) => c.citation)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^Returns and Exchanges/)]),
      );
      const denied = await runCommand(
        'src/cli/load.cli.ts',
        [
          '--gateway',
          t.url,
          '--token',
          t.token({ merchantId: merchant, userId: 'u7', roles: ['agent'] }),
          'examples/help-center',
        ],
        { NODE_ENV: 'development' },
        ROOT,
      );
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(
        /^error: (billing\/invoices|account\/password-reset)\.md: the gateway answered HTTP \d+ FORBIDDEN/,
      );
    } finally {
      await t.close();
    }
  }, 120_000);
});
