import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { projectRoot } from '../src/common/project-root';

/** Shared by the benchmark scripts: reproducible randomness, percentiles, a fresh database, result files. */

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

export function percentile(samples: readonly number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

export const log = (msg: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

/**
 * The commit a run measures, read when the run starts (a commit made while it runs must not relabel it), with
 * `+dirty` when code the run executes differs from that commit: a report stamped with a commit whose code it did
 * not run cannot be reproduced.
 */
export function commitStamp(root: string = projectRoot()): string {
  try {
    const head = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
    const dirty = execSync('git status --porcelain -- src bench migrations scripts package.json', {
      cwd: root,
    })
      .toString()
      .trim();
    return dirty === '' ? head : `${head}+dirty`;
  } catch {
    return 'unknown'; // not a git checkout
  }
}

export function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/**
 * What a benchmark leaves on the databases it creates, so that it later drops only those: a database it finds
 * without this comment belongs to someone else, and is dropped only when named with --recreate-database.
 */
export const BENCH_DATABASE_COMMENT =
  'support-rag-gateway benchmark database: dropped and recreated by each run';

/** The usage lines every benchmark that recreates its database prints. */
export const DATABASE_USAGE = `Database: BENCH_DATABASE_URL names a native PostgreSQL database the benchmark drops and recreates. It creates it
when missing and marks it as a benchmark's; an existing database without that mark is never dropped unless named:
  --recreate-database NAME   allow dropping NAME (must be the database in BENCH_DATABASE_URL) though no benchmark
                             created it`;

let namedForRecreation: string | undefined;

/** The database the command line named with --recreate-database (the only unmarked one that may be dropped). */
export function allowRecreating(name: string | undefined): void {
  namedForRecreation = name;
}

/**
 * Drops and recreates the database named in `url` (its name is checked: it is interpolated into DDL), when a
 * benchmark created it (BENCH_DATABASE_COMMENT) or the command line named it; refuses any other existing database.
 */
export async function recreateDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  // Checked, then double-quoted in the DDL: branch-named databases (srg_bench_i11-hotpath) carry a hyphen.
  if (!/^[a-z_][a-z0-9_-]*$/.test(name)) throw new Error(`unsafe database name ${name}`);
  // The ingestion benchmark's baseline side gets `<name>_base` next to the named database.
  if (
    namedForRecreation !== undefined &&
    namedForRecreation !== name &&
    name !== `${namedForRecreation}_base`
  ) {
    throw new Error(`--recreate-database ${namedForRecreation} is not the benchmark's database (${name})`);
  }
  target.pathname = '/postgres';
  const admin = new Client({ connectionString: target.toString() });
  await admin.connect();
  try {
    const found = await admin.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [name],
    );
    if (
      found.rows.length > 0 &&
      found.rows[0].comment !== BENCH_DATABASE_COMMENT &&
      namedForRecreation !== name
    ) {
      throw new Error(
        `database ${name} on ${target.host} exists and was not created by a benchmark: refusing to drop it. ` +
          `Set BENCH_DATABASE_URL to a database name that does not exist yet, or pass --recreate-database ${name} ` +
          'if it really may be dropped.',
      );
    }
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.query(`COMMENT ON DATABASE "${name}" IS '${BENCH_DATABASE_COMMENT}'`);
  } finally {
    await admin.end();
  }
}

/** docs/benchmarks/<name>.json (machine-readable) and <name>.md (the table), printed too. */
export function writeResults(name: string, json: unknown, markdown: string): void {
  const dir = path.join(projectRoot(), 'docs', 'benchmarks');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, `${name}.md`), markdown);
  console.log(markdown);
}
