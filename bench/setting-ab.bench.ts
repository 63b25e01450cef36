import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { integerOption, parseCommandLine, usageError } from '../src/cli/command-line';
import { projectRoot } from '../src/common/project-root';
import { commitStamp, log, machine, percentile, writeResults } from './bench-utils';
import { type GatewayProcess, graphql, startGatewayProcess, readOnlyGatewayEnv } from './load-harness';
import { retrievalBodies } from './retrieval-bodies';

const HELP = `Usage: npm run bench:setting-ab -- --url postgres://postgres@127.0.0.1:5432/srg_bench
                                (--set NAME=A,B | --against DIR --label NAME)
                                [--requests 2000] [--concurrency 1] [--merchant ID] [--label NAME]
                                [--selection ids|cited]

One gateway setting, A against B, side by side: two real gateways (dist/src/main.js, production settings), one
with NAME=A and one with NAME=B (or, with --against, the build in another checkout against this one), on the same
database, sent the same VECTOR retrievals (stored vectors of the
merchants \`npm run bench\` loaded, as their staff, k = 10, the vector as embeddingBase64). The requests alternate
between the two, request by request (A then B, then B then A), so a noisy neighbour weighs on both alike; at a
concurrency above 1 each worker alternates the same way. Reports each side's p50 / p95 / mean latency and the CPU
each gateway process used per request (/proc), and B / A. Reads the database and writes nothing into it.
  --set NAME=A,B    the configuration variable and its two values, e.g. RETRIEVAL_SEND_AHEAD=false,true
  --against DIR     side A runs DIR/dist/src/main.js (another checkout, e.g. a git worktree of an older commit,
                    built with \`npm run build\`), side B this checkout's dist: a code change, side by side
  --merchant ID     retrievals of that merchant only (e.g. bm0000-xl)
  --selection S     ids (default: strategy and each chunk's id and similarity) or cited (also each chunk's text,
                    citation, headings, source and metadata, as a support UI asks)
  --label NAME      results go to docs/benchmarks/setting-ab-<label>-c<concurrency>.{json,md} (default: the variable's name)`;

interface Side {
  value: string;
  gateway: GatewayProcess;
  ms: number[];
}

async function main(): Promise<void> {
  const { values } = parseCommandLine(HELP, {
    options: {
      url: { type: 'string' },
      set: { type: 'string' },
      against: { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      merchant: { type: 'string' },
      label: { type: 'string' },
      selection: { type: 'string' },
    },
  });
  if (!values.url) usageError(HELP, '--url is required');
  if ((values.set === undefined) === (values.against === undefined))
    usageError(HELP, 'give either --set NAME=A,B or --against DIR');
  const against = values.against === undefined ? undefined : path.resolve(values.against);
  if (against !== undefined && !fs.existsSync(path.join(against, 'dist/src/main.js')))
    usageError(HELP, `--against: ${against}/dist/src/main.js does not exist (run npm run build there)`);
  if (against !== undefined && values.label === undefined) usageError(HELP, '--against needs --label NAME');
  const m = /^([A-Z][A-Z0-9_]*)=([^,]*),([^,]*)$/.exec(values.set ?? 'BUILD=,');
  if (!m) usageError(HELP, '--set takes NAME=A,B');
  const name = m[1];
  const [a, b] = against === undefined ? [m[2], m[3]] : [commitStamp(against), commitStamp()];
  const roots = [against ?? projectRoot(), projectRoot()];
  const merchant = values.merchant ?? null;
  if (merchant !== null && !/^[A-Za-z0-9_-]{1,64}$/.test(merchant))
    usageError(HELP, '--merchant must be a merchant id (letters, digits, - and _)');
  const label = values.label ?? name.toLowerCase();
  if (!/^[a-z0-9_-]{1,64}$/.test(label)) usageError(HELP, '--label takes letters, digits, - and _');
  const requests = integerOption(HELP, 'requests', values.requests, 2000);
  const concurrency = integerOption(HELP, 'concurrency', values.concurrency, 1);
  const url = values.url;
  const secret = crypto.randomBytes(32).toString('hex');
  const selection = values.selection ?? 'ids';
  if (selection !== 'ids' && selection !== 'cited') usageError(HELP, '--selection takes ids or cited');
  const bodies = await retrievalBodies(url, secret, merchant, 'base64', selection);
  const start = (value: string, root: string) =>
    startGatewayProcess(root, {
      ...readOnlyGatewayEnv(url, secret),
      ...(against === undefined ? { [name]: value } : {}),
    });
  const sides: Side[] = [];
  try {
    for (const [k, value] of [a, b].entries())
      sides.push({ value, gateway: await start(value, roots[k]), ms: [] });
    const ask = (side: Side, i: number) => {
      const r = bodies[i % bodies.length];
      return graphql(side.gateway.url, r.token, r.body);
    };
    // Warm-up: every body once on each side (each process then knows every merchant).
    for (let i = 0; i < bodies.length; i++) for (const side of sides) await ask(side, i);
    const loadStart = os.loadavg();
    const cpu0 = sides.map((s) => s.gateway.cpuMs());
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= requests) return;
        const order = i % 2 === 0 ? sides : [sides[1], sides[0]];
        for (const side of order) {
          const t0 = performance.now();
          await ask(side, i);
          side.ms.push(performance.now() - t0);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const cpu = sides.map((s, k) => (s.gateway.cpuMs() - cpu0[k]) / requests);
    const stats = sides.map((s, k) => ({
      value: s.value,
      p50: percentile(s.ms, 0.5),
      p95: percentile(s.ms, 0.95),
      mean: s.ms.reduce((x, y) => x + y, 0) / s.ms.length,
      cpuMsPerRequest: cpu[k],
    }));
    const result = {
      date: new Date().toISOString(),
      commit: commitStamp(),
      machine: machine(),
      loadStart,
      loadEnd: os.loadavg(),
      setting: against === undefined ? name : null,
      against: against === undefined ? null : a,
      requests,
      concurrency,
      merchant,
      selection,
      sides: stats,
    };
    const f = (x: number) => x.toFixed(2);
    const ratio = (k: 'p50' | 'p95' | 'mean' | 'cpuMsPerRequest') => (stats[1][k] / stats[0][k]).toFixed(2);
    const how =
      against === undefined ? `--set ${name}=${a},${b}` : `--against <checkout of ${a}> --label ${label}`;
    const md = [
      `# ${against === undefined ? name : 'build'}: ${a} against ${b}, side by side`,
      '',
      `\`npm run bench:setting-ab -- ${how} --requests ${requests} --concurrency ${concurrency}${
        merchant === null ? '' : ` --merchant ${merchant}`
      }${selection === 'ids' ? '' : ` --selection ${selection}`}\` — ${result.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${result.commit}\`, ${result.machine}; load average ` +
        `${loadStart.map((l) => l.toFixed(1)).join(' / ')} → ${result.loadEnd.map((l) => l.toFixed(1)).join(' / ')} (shared machine). ` +
        `${requests} VECTOR retrievals to each gateway (k = 10, the vector as \`embeddingBase64\`${
          merchant === null ? ', the merchants of `npm run bench`' : `, merchant ${merchant}`
        }; selecting ${selection === 'ids' ? 'ids and similarities' : "each chunk's text, citation, headings, source and metadata"}), alternated request by request, ${concurrency} in flight; milliseconds over HTTP, and the CPU each ` +
        'gateway process used per request.',
      '',
      `| ${against === undefined ? name : 'commit'} | p50 | p95 | mean | gateway CPU per request |`,
      '|---|---:|---:|---:|---:|',
      ...stats.map(
        (s) => `| ${s.value} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.mean)} | ${f(s.cpuMsPerRequest)} |`,
      ),
      `| ${b} / ${a} | ${ratio('p50')} | ${ratio('p95')} | ${ratio('mean')} | ${ratio('cpuMsPerRequest')} |`,
      '',
    ].join('\n');
    log(md);
    writeResults(`setting-ab-${label}-c${concurrency}`, result, md);
  } finally {
    for (const side of sides) await side.gateway.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
