import 'reflect-metadata';
import crypto from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { fromSql } from 'pgvector';
import { signToken } from '../src/auth/jwt';
import { projectRoot } from '../src/common/project-root';
import { log, machine, writeResults } from './bench-utils';
import {
  graphql,
  runConcurrent,
  startGatewayProcess,
  type LoadResult,
  readOnlyGatewayEnv,
} from './load-harness';
import { integerOption, parseCommandLine, usageError } from '../src/cli/command-line';

const HELP = `Usage: npm run bench:processes -- --url postgres://postgres@127.0.0.1:5432/srg_bench [--requests 400] [--concurrency 8]

Gateway throughput with 1 and 2 processes (WEB_CONCURRENCY, Node cluster) side by side, on a database loaded by
\`npm run bench\` (it reads that database and writes nothing into it): VECTOR retrievals with precomputed
embeddings (stored vectors of the loaded merchants, staff role) at a fixed number of requests in flight, each
configuration run twice, interleaved (1, 2, 1, 2). Results: docs/benchmarks/processes.md.`;

const RETRIEVE = `query Bench($input: RetrieveChunksInput!) {
  retrieveChunks(input: $input) { strategy chunks { id similarity } }
}`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(HELP, {
    options: {
      url: { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  if (!values.url) usageError(HELP, '--url is required');
  const url = values.url;
  const requests = integerOption(HELP, 'requests', values.requests, 400);
  const concurrency = integerOption(HELP, 'concurrency', values.concurrency, 8);
  const reader = new pg.Client({ connectionString: url });
  await reader.connect();
  const rows = await reader.query<{ merchant_id: string; e: string }>(
    `SELECT merchant_id, embedding::text AS e FROM document_chunks
      WHERE corpus_version = (SELECT version FROM corpus_versions v WHERE v.merchant_id = document_chunks.merchant_id AND state = 'active')
      ORDER BY md5(id::text) LIMIT 100`,
  );
  await reader.end();
  const secret = crypto.randomBytes(32).toString('hex');
  const bodies = rows.rows.map((r) => ({
    token: signToken({ sub: 'bench-staff', merchantId: r.merchant_id, roles: ['staff'] }, secret, 3600),
    body: JSON.stringify({
      query: RETRIEVE,
      variables: { input: { query: '', k: 10, mode: 'VECTOR', embedding: fromSql(r.e) as number[] } },
    }),
  }));
  const results: { processes: number; round: number; load: LoadResult; cpuMs: number }[] = [];
  const loadStart = os.loadavg();
  for (const round of [1, 2]) {
    for (const processes of [1, 2]) {
      const gateway = await startGatewayProcess(projectRoot(), {
        ...readOnlyGatewayEnv(url, secret),
        WEB_CONCURRENCY: String(processes),
      });
      try {
        const call = (i: number) =>
          graphql(gateway.url, bodies[i % bodies.length].token, bodies[i % bodies.length].body);
        await runConcurrent(bodies.length, concurrency, call); // warm-up: connections, plans, JIT of V8
        const cpu0 = gateway.cpuMs();
        const load = await runConcurrent(requests, concurrency, call);
        results.push({ processes, round, load, cpuMs: (gateway.cpuMs() - cpu0) / requests });
        log(
          `${processes} process(es), round ${round}: ${load.throughput.toFixed(0)} req/s, p50 ${load.p50.toFixed(1)} ms`,
        );
      } finally {
        await gateway.stop();
      }
    }
  }
  const rate = (p: number) => {
    const rs = results.filter((r) => r.processes === p);
    return rs.reduce((a, r) => a + r.load.requests, 0) / rs.reduce((a, r) => a + r.load.seconds, 0);
  };
  const fmt = (n: number, d = 1) => n.toFixed(d);
  const markdown = `# Benchmark: gateway processes (WEB_CONCURRENCY)

Run ${new Date().toISOString()} on ${machine()}; load average before / after: ${loadStart.map((l) => fmt(l)).join(' / ')} → ${os
    .loadavg()
    .map((l) => fmt(l))
    .join(
      ' / ',
    )} (the machine is shared: read the ratio, not the absolute numbers). ${requests} VECTOR retrievals per run
at concurrency ${concurrency}, precomputed embeddings (stored vectors of the loaded merchants), staff role, k = 10,
over the database loaded by \`npm run bench\`. Reproduce: \`node dist/bench/processes.bench.js --url …\`.

| processes | round | req/s | p50 / p95 / p99 ms | gateway CPU ms/request (first process only) |
|---:|---:|---:|---:|---:|
${results
  .map(
    (r) =>
      `| ${r.processes} | ${r.round} | ${fmt(r.load.throughput, 0)} | ${fmt(r.load.p50)} / ${fmt(r.load.p95)} / ${fmt(r.load.p99)} | ${r.processes === 1 ? fmt(r.cpuMs) : '-'} |`,
  )
  .join('\n')}

Throughput, both rounds: 1 process ${fmt(rate(1), 0)} req/s, 2 processes ${fmt(rate(2), 0)} req/s (**${fmt(rate(2) / rate(1), 2)}×**).
`;
  writeResults('processes', { results, loadStart, loadEnd: os.loadavg() }, markdown);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
