import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { log, rng } from '../bench-utils';
import { BIG, gql, INGEST, QUERIES, retrieve, summary, type Target } from './citus-bench.shared';

/**
 * Part 2 of bench:citus: operations on the cluster while readers and a writer keep going (isolating the large
 * merchant, moving its shard group, stopping a worker). See bench/citus.bench.ts.
 */
export interface ClusterSetup {
  merchants: readonly string[];
  citusUrl: string;
  clusterDir: string;
}

interface LoadStats {
  reads: number;
  readErrors: Record<string, number>;
  mismatches: number;
  writesAcked: string[];
  writeErrors: Record<string, number>;
  readMs: number[];
  writeMs: number[];
}

/** Readers (3) compare every answer with the baseline; a writer adds documents the readers cannot see. */
function backgroundLoad(t: Target, baseline: Map<string, string>, writeSeq: { n: number }) {
  const stats: LoadStats = {
    reads: 0,
    readErrors: {},
    mismatches: 0,
    writesAcked: [],
    writeErrors: {},
    readMs: [],
    writeMs: [],
  };
  let stop = false;
  const keys = [...baseline.keys()];
  const rand = rng(77);
  const reader = async () => {
    while (!stop) {
      const key = keys[Math.floor(rand() * keys.length)];
      const [m, q] = key.split('|');
      const a = await retrieve(t.endpoint, m, q, 'VECTOR');
      stats.reads++;
      if (!a.ok) stats.readErrors[a.code!] = (stats.readErrors[a.code!] ?? 0) + 1;
      else {
        stats.readMs.push(a.ms);
        if (a.chunks!.join(',') !== baseline.get(key)) stats.mismatches++;
      }
    }
  };
  const writer = async () => {
    while (!stop) {
      const id = `w-${writeSeq.n++}`;
      const { ms, body } = await gql(
        t.endpoint,
        INGEST,
        {
          input: {
            id,
            title: `Write ${id}`,
            text: `## Audit ${id}\n\nAudit record ${id} for the operations benchmark.`,
            acl: ['u-writer'],
          },
        },
        BIG,
        ['admin'],
        'admin-1',
      );
      if (body.errors?.length) {
        const code = body.errors[0].extensions?.code ?? 'UNKNOWN';
        stats.writeErrors[code] = (stats.writeErrors[code] ?? 0) + 1;
      } else {
        stats.writesAcked.push(id);
        stats.writeMs.push(ms);
      }
    }
  };
  const running = Promise.all([reader(), reader(), reader(), writer()]);
  return {
    stats,
    async finish(): Promise<LoadStats> {
      stop = true;
      await running;
      return stats;
    },
  };
}

async function placementOf(
  admin: Client,
  merchant: string,
): Promise<{ shardid: string; port: number; host: string }> {
  const rows = await admin.query<{ shardid: string; nodename: string; nodeport: number }>(
    `SELECT s.shardid::text AS shardid, s.nodename, s.nodeport FROM citus_shards s
      WHERE s.table_name = 'document_chunks'::regclass
        AND s.shardid = get_shard_id_for_distribution_column('document_chunks', $1::text)`,
    [merchant],
  );
  return { shardid: rows.rows[0].shardid, host: rows.rows[0].nodename, port: rows.rows[0].nodeport };
}

function pgCtl(clusterDir: string, action: 'start' | 'stop', port: number): void {
  const dir = `${clusterDir}/worker${port - 5440}`;
  const argv = [
    '-u',
    'postgres',
    '--',
    '/usr/lib/postgresql/15/bin/pg_ctl',
    '-D',
    dir,
    '-w',
    '-l',
    `${dir}.log`,
  ];
  execFileSync('runuser', [...argv, ...(action === 'stop' ? ['-m', 'fast', 'stop'] : ['start'])], {
    stdio: 'ignore',
  });
}

export async function operations(t: Target, setup: ClusterSetup) {
  const { merchants: MERCHANTS, citusUrl: CITUS_URL } = setup;
  const admin = new Client({ connectionString: CITUS_URL });
  await admin.connect();
  const baseline = new Map<string, string>();
  for (const m of MERCHANTS)
    for (const q of QUERIES) {
      const a = await retrieve(t.endpoint, m, q, 'VECTOR');
      if (!a.ok) throw new Error(`baseline ${m}: ${a.code}`);
      baseline.set(`${m}|${q}`, a.chunks!.join(','));
    }
  const writeSeq = { n: 0 };
  const phases: Record<string, unknown> = {};
  const during = async (name: string, op: () => Promise<unknown>) => {
    const load = backgroundLoad(t, baseline, writeSeq);
    await new Promise((r) => setTimeout(r, 2000));
    const started = performance.now();
    let detail: unknown;
    try {
      detail = await op();
    } catch (err) {
      await load.finish();
      throw err;
    }
    const opMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 2000));
    const s = await load.finish();
    phases[name] = {
      opMs: Math.round(opMs),
      detail,
      reads: s.reads,
      readErrors: s.readErrors,
      answersChanged: s.mismatches,
      readP50: summary(s.readMs).p50,
      readP95: summary(s.readMs).p95,
      writesAcked: s.writesAcked.length,
      writeErrors: s.writeErrors,
      writeP95: summary(s.writeMs).p95,
    };
    log(`${name}: ${JSON.stringify(phases[name])}`);
    return s;
  };

  const acked: string[] = [];
  // The product's dedicated-index DDL (src/chunks/chunk.repository.ts), built again beside the existing one while
  // the writer keeps writing to the same merchant: Citus runs CREATE INDEX CONCURRENTLY shard by shard.
  acked.push(
    ...(
      await during('CREATE INDEX CONCURRENTLY (dedicated HNSW)', async () => {
        await admin.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS bench_cic_probe ON document_chunks
            USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
            WHERE merchant_id = '${BIG}' AND vector_dims(embedding) = 1536`);
        const valid = await admin.query<{ valid: boolean }>(
          `SELECT i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = 'bench_cic_probe'`,
        );
        await admin.query(`DROP INDEX CONCURRENTLY IF EXISTS bench_cic_probe`);
        return { valid: valid.rows[0]?.valid ?? false };
      })
    ).writesAcked,
  );
  const before = await placementOf(admin, BIG);
  acked.push(
    ...(
      await during('isolate_tenant_to_new_shard', async () => {
        const r = await admin.query<{ shard: string }>(
          `SELECT isolate_tenant_to_new_shard('document_chunks', $1::text, 'CASCADE', shard_transfer_mode => 'force_logical')::text AS shard`,
          [BIG],
        );
        return { from: before, newShard: r.rows[0].shard };
      })
    ).writesAcked,
  );
  const isolated = await placementOf(admin, BIG);
  const otherPort = isolated.port === 5441 ? 5442 : 5441;
  acked.push(
    ...(
      await during('citus_move_shard_placement', async () => {
        await admin.query(
          `SELECT citus_move_shard_placement($1::bigint, $2, $3, $2, $4, shard_transfer_mode => 'force_logical')`,
          [isolated.shardid, isolated.host, isolated.port, otherPort],
        );
        return { shard: isolated.shardid, from: isolated.port, to: otherPort };
      })
    ).writesAcked,
  );
  const moved = await placementOf(admin, BIG);

  // One worker down: the one not holding the large merchant.
  const downPort = moved.port === 5441 ? 5442 : 5441;
  const placements = new Map<string, number>();
  for (const m of MERCHANTS) placements.set(m, (await placementOf(admin, m)).port);
  pgCtl(setup.clusterDir, 'stop', downPort);
  const outage: { merchant: string; onStoppedWorker: boolean; code: string; ms: number }[] = [];
  try {
    for (const m of MERCHANTS) {
      const a = await retrieve(t.endpoint, m, QUERIES[0], 'VECTOR');
      outage.push({
        merchant: m,
        onStoppedWorker: placements.get(m) === downPort,
        code: a.ok ? 'OK' : a.code!,
        ms: Math.round(a.ms),
      });
    }
  } finally {
    pgCtl(setup.clusterDir, 'start', downPort);
  }
  let recoveredMs = 0;
  const recoverStarted = performance.now();
  for (;;) {
    const results = await Promise.all(MERCHANTS.map((m) => retrieve(t.endpoint, m, QUERIES[0], 'VECTOR')));
    if (results.every((r) => r.ok)) break;
    if (performance.now() - recoverStarted > 60_000) throw new Error('cluster did not recover within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  recoveredMs = performance.now() - recoverStarted;

  const stored = await admin.query<{ id: string }>(
    `SELECT id FROM support_documents WHERE merchant_id = $1 AND id LIKE 'w-%'`,
    [BIG],
  );
  const storedIds = new Set(stored.rows.map((r) => r.id));
  const lost = acked.filter((id) => !storedIds.has(id));
  let unchanged = 0;
  for (const [key, value] of baseline) {
    const [m, q] = key.split('|');
    const a = await retrieve(t.endpoint, m, q, 'VECTOR');
    if (a.ok && a.chunks!.join(',') === value) unchanged++;
  }
  await admin.end();
  return {
    phases,
    placement: { before, isolated, moved },
    workerDown: {
      port: downPort,
      requests: outage,
      recoveredWithinMs: Math.round(recoveredMs),
    },
    writes: { acknowledged: acked.length, lost: lost.length, lostIds: lost.slice(0, 10) },
    answersUnchangedAfter: { unchanged, of: baseline.size },
  };
}

export function operationsMarkdown(r: {
  machine: string;
  date: string;
  ops: Awaited<ReturnType<typeof operations>>;
}): string {
  const lines = [`# Citus operations under load (${r.date.slice(0, 10)}, ${r.machine})`, ''];
  lines.push('## Operations on the cluster under load (3 readers, 1 writer)', '');
  lines.push(
    '| operation | took ms | reads | read errors | answers changed | read p95 ms | writes acked | write errors |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const [name, p] of Object.entries(r.ops.phases) as [string, Record<string, unknown>][]) {
    lines.push(
      `| ${name} | ${String(p.opMs)} | ${String(p.reads)} | ${JSON.stringify(p.readErrors)} | ${String(p.answersChanged)} | ${String(p.readP95)} | ${String(p.writesAcked)} | ${JSON.stringify(p.writeErrors)} |`,
    );
  }
  lines.push(
    '',
    `Writes acknowledged during the operations: ${r.ops.writes.acknowledged}, lost: ${r.ops.writes.lost}.`,
  );
  lines.push(
    `Answers unchanged afterwards: ${r.ops.answersUnchangedAfter.unchanged} of ${r.ops.answersUnchangedAfter.of}.`,
    '',
  );
  lines.push(
    `## Worker on port ${r.ops.workerDown.port} stopped`,
    '',
    '| merchant | on the stopped worker | answer | ms |',
    '|---|---|---|---|',
  );
  for (const o of r.ops.workerDown.requests)
    lines.push(`| ${o.merchant} | ${o.onStoppedWorker ? 'yes' : 'no'} | ${o.code} | ${o.ms} |`);
  lines.push(
    '',
    `All merchants answered again ${r.ops.workerDown.recoveredWithinMs} ms after the worker was started.`,
    '',
  );
  return lines.join('\n');
}
