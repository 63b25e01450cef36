import 'reflect-metadata';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { projectRoot } from '../src/common/project-root';

/**
 * How should the gateway attach PGlite? Measures, on ONE PGlite instance in one run (the machine is shared, so
 * only ratios measured side by side mean anything):
 *   in-process   pglite.query()                    (would need a pg-compatible shim under TypeORM)
 *   socket+pg    pg.Client over PGlite's socket server (wire protocol on a unix socket)
 *   socket+orm   TypeORM DataSource over the same socket, as the gateway runs
 * for a filtered exact top-5 (the small-merchant retrieval), a SELECT 1 round trip, and a 20-chunk insert
 * transaction. Usage: npm run bench:pglite-attach [-- --rows 3000 --iterations 200]
 */
const USAGE = `Usage: npm run bench:pglite-attach -- [--rows 3000] [--iterations 200]

How the gateway should attach PGlite: in-process queries vs pg over PGlite's socket server vs TypeORM over the
socket, on one in-memory PGlite with --rows chunks, --iterations each. Touches no other database.
Results: docs/benchmarks/pglite-attach.*`;
const { values: options } = parseCommandLine(USAGE, {
  options: { rows: { type: 'string' }, iterations: { type: 'string' } },
});
const ROWS = integerOption(USAGE, 'rows', options.rows, 3000);
const ITER = integerOption(USAGE, 'iterations', options.iterations, 200);
const DIM = 1536;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}
const rand = rng(42);
const randomVector = (): string => {
  const v = Array.from({ length: DIM }, () => rand() - 0.5);
  const n = Math.hypot(...v);
  return `[${v.map((x) => (x / n).toFixed(6)).join(',')}]`;
};

interface Stats {
  p50: number;
  p95: number;
  mean: number;
}
function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p95: q(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const SEARCH = `SELECT id, chunk_text, embedding <=> $1::vector AS d FROM bench_chunks
  WHERE merchant_id = $2 AND acl && $3::text[] ORDER BY d LIMIT 5`;

async function main(): Promise<void> {
  const started = Date.now();
  const db = await PGlite.create('memory://', { extensions: { vector } });
  await db.exec(`CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE bench_chunks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, merchant_id text NOT NULL,
      acl text[] NOT NULL, chunk_text text NOT NULL, embedding vector(${DIM}) NOT NULL);
    CREATE INDEX ON bench_chunks (merchant_id);`);
  for (let i = 0; i < ROWS; i += 100) {
    const values: string[] = [];
    const params: unknown[] = [];
    for (let j = i; j < Math.min(ROWS, i + 100); j++) {
      params.push(
        `m${j % 6}`,
        j % 3 === 0 ? ['role:agent', 'role:contractor'] : ['role:agent'],
        `chunk ${j}`,
        randomVector(),
      );
      const p = params.length;
      values.push(`($${p - 3}, $${p - 2}, $${p - 1}, $${p}::vector)`);
    }
    await db.query(
      `INSERT INTO bench_chunks (merchant_id, acl, chunk_text, embedding) VALUES ${values.join(',')}`,
      params,
    );
  }
  await db.exec('ANALYZE bench_chunks');
  const queries = Array.from({ length: 50 }, randomVector);
  const searchParams = (i: number) => [queries[i % queries.length], `m${i % 6}`, ['role:contractor']];
  const insertBatch = (i: number) => {
    const params: unknown[] = [];
    const values: string[] = [];
    for (let j = 0; j < 20; j++) {
      params.push(`w${i}`, ['role:agent'], `new ${i}-${j}`, queries[(i + j) % queries.length]);
      const p = params.length;
      values.push(`($${p - 3}, $${p - 2}, $${p - 1}, $${p}::vector)`);
    }
    return {
      sql: `INSERT INTO bench_chunks (merchant_id, acl, chunk_text, embedding) VALUES ${values.join(',')}`,
      params,
    };
  };

  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-bench-'));
  const server = new PGLiteSocketServer({
    db,
    path: path.join(socketDir, '.s.PGSQL.5432'),
    maxConnections: 1,
  });
  await server.start();
  // TypeORM's pool holds the single socket connection; the raw pg client reaches PGlite through the same
  // server, so the pool is created first and the raw client attaches through a second socket server.
  const rawDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-bench-raw-'));
  const rawServer = new PGLiteSocketServer({
    db,
    path: path.join(rawDir, '.s.PGSQL.5432'),
    maxConnections: 1,
  });
  await rawServer.start();
  const client = new Client({ host: rawDir, port: 5432, user: 'postgres', database: 'postgres' });
  await client.connect();
  const ds = new DataSource({
    type: 'postgres',
    host: socketDir,
    port: 5432,
    username: 'postgres',
    database: 'postgres',
    extra: { max: 1 },
  });
  await ds.initialize();

  type Op = (i: number) => Promise<unknown>;
  const paths: Record<string, Record<string, Op>> = {
    'in-process': {
      'select 1': () => db.query('SELECT 1'),
      'exact top-5 (500 rows/merchant)': (i) => db.query(SEARCH, searchParams(i)),
      'insert 20 chunks in a transaction': (i) =>
        db.transaction(async (tx) => {
          const b = insertBatch(i);
          await tx.query(b.sql, b.params);
        }),
    },
    'socket + pg': {
      'select 1': () => client.query('SELECT 1'),
      'exact top-5 (500 rows/merchant)': (i) => client.query(SEARCH, searchParams(i)),
      'insert 20 chunks in a transaction': async (i) => {
        const b = insertBatch(i + 10_000);
        await client.query('BEGIN');
        await client.query(b.sql, b.params);
        await client.query('COMMIT');
      },
    },
    'socket + TypeORM (gateway path)': {
      'select 1': () => ds.query('SELECT 1'),
      'exact top-5 (500 rows/merchant)': (i) => ds.query(SEARCH, searchParams(i)),
      'insert 20 chunks in a transaction': (i) =>
        ds.transaction(async (m) => {
          const b = insertBatch(i + 20_000);
          await m.query(b.sql, b.params);
        }),
    },
  };
  const ops = Object.keys(paths['in-process']);
  const samples: Record<string, Record<string, number[]>> = {};
  for (const op of ops) {
    const n = op.startsWith('insert') ? Math.ceil(ITER / 4) : ITER;
    const names = Object.keys(paths);
    for (let i = -10; i < n; i++) {
      // Rotate the order every iteration so no path always runs first (warm caches, GC) and drift hits all alike.
      for (let r = 0; r < names.length; r++) {
        const name = names[(r + Math.max(i, 0)) % names.length];
        const t0 = performance.now();
        await paths[name][op](i + 10);
        if (i >= 0) ((samples[name] ??= {})[op] ??= []).push(performance.now() - t0);
      }
    }
  }
  const results: Record<string, Record<string, Stats>> = {};
  for (const [name, byOp] of Object.entries(samples)) {
    results[name] = Object.fromEntries(Object.entries(byOp).map(([op, xs]) => [op, stats(xs)]));
  }
  await client.end();
  await rawServer.stop();
  fs.rmSync(rawDir, { recursive: true, force: true });
  await ds.destroy();
  await server.stop();
  await db.close();
  fs.rmSync(socketDir, { recursive: true, force: true });

  const base = results['in-process'];
  const lines = [
    `# PGlite attachment: in-process vs socket server`,
    ``,
    `Run ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ` +
      `PGlite 0.5.14 (pgvector 0.8.7), ${ROWS} rows × ${DIM}-d, ${ITER} iterations (inserts: ${Math.ceil(ITER / 4)}). ` +
      `The three paths run interleaved, rotating order each iteration. Milliseconds; ratio = p50 / in-process p50. Reproduce: \`npm run bench:pglite-attach\`.`,
    ``,
    `| path | operation | p50 ms | p95 ms | mean ms | ratio |`,
    `|---|---|---:|---:|---:|---:|`,
    ...Object.entries(results).flatMap(([pathName, r]) =>
      ops.map(
        (op) =>
          `| ${pathName} | ${op} | ${r[op].p50.toFixed(3)} | ${r[op].p95.toFixed(3)} | ${r[op].mean.toFixed(3)} | ${(r[op].p50 / base[op].p50).toFixed(2)}× |`,
      ),
    ),
    ``,
  ];
  const outDir = path.join(projectRoot(), 'docs', 'benchmarks');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(
    path.join(outDir, 'pglite-attach.json'),
    JSON.stringify({ date: new Date().toISOString(), rows: ROWS, iterations: ITER, results }, null, 2) + '\n',
  );
  fs.writeFileSync(path.join(outDir, 'pglite-attach.md'), lines.join('\n'));
  console.log(lines.join('\n'));
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
