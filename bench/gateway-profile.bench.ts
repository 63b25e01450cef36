import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signToken } from '../src/auth/jwt';
import { integerOption, parseCommandLine, usageError } from '../src/cli/command-line';
import { projectRoot } from '../src/common/project-root';
import { createServices } from '../src/services';
import { loadConfig } from '../src/config/config';
import { openDatabase } from '../src/db/database';
import { LocalHashEmbedder } from '../src/embeddings/local-hash.embedder';
import { log, machine, writeResults } from './bench-utils';
import { documentInput, syntheticDocuments, ticketInput } from './ingestion-corpus';
import { graphql, runConcurrent, startGatewayProcess, readOnlyGatewayEnv } from './load-harness';
import { type RequestBody, retrievalBodies } from './retrieval-bodies';

const TICKET_MERCHANT = 'profile-tickets';
const DOCUMENT_MERCHANT = 'profile-documents';
/** Documents per `ingestDocuments` request of the documents workload (as bench:ingestion sends them). */
const DOCUMENT_BATCH = 50;

const HELP = `Usage: npm run bench:gateway-profile -- --url postgres://postgres@127.0.0.1:5432/srg_bench [--requests 2000]
                                     [--concurrency 8] [--workload retrieval|tickets|documents|empty] [--top 40]
                                     [--keep DIR] [--merchant ID] [--embedding list|base64] [--gateway-env NAME=VALUE]...

Where the gateway's CPU goes on a hot path: starts the real gateway (dist/src/main.js, production settings, one
process) with V8's sampling profiler (--cpu-prof), sends requests at a fixed concurrency, and sums the profile by
function (self and inclusive time) and by package, in milliseconds of CPU per request.
  --workload retrieval (default): VECTOR retrievals with precomputed 1536-float embeddings (stored vectors of the
    merchants loaded by \`npm run bench\`, staff role, k = 10). Reads the database and writes nothing into it.
    --merchant ID takes them from that merchant alone (e.g. bm0000-xl, the large preset's 60,000-chunk one).
    --embedding base64 sends each vector as \`embeddingBase64\` (little-endian float32, base64) instead of the
    JSON list \`embedding\` (the default): the same queries, the other encoding.
  --workload tickets: \`ingestTicket\` of new one-chunk tickets (three messages, the ingestion benchmark's
    synthetic text, local embedder) into a merchant of its own, ${TICKET_MERCHANT}, which it creates in the given
    database if needed and writes into: point --url at a benchmark database.
  --workload documents: \`ingestDocuments\` of ${DOCUMENT_BATCH} new synthetic articles (about 4 chunks each) per
    request into ${DOCUMENT_MERCHANT}, created and written in the same way.
  --workload empty: \`{ __typename }\` as an administrator of ${TICKET_MERCHANT}: the same HTTP, JWT and GraphQL
    layers without a resolver or a statement, the floor under every other workload.
  --gateway-env NAME=VALUE (repeatable): a configuration variable for the gateway on top of the benchmark's own
    (e.g. AUTH_TOKEN_CACHE_SECONDS=0), for an A/B of one setting; results then get a -name-value suffix.
Results: docs/benchmarks/gateway-profile.{json,md} (retrieval; gateway-profile-<merchant>-c<concurrency>.* with --merchant;
a -base64 suffix with --embedding base64), else gateway-profile-<workload>.{json,md}; --keep DIR
also keeps the .cpuprofile (open it in Chrome DevTools or speedscope).`;

const NOTE =
  "How to read it: V8's profiler samples the main thread on a wall clock, so on a loaded machine the socket " +
  'writes (`writeBuffer`, `writev`: the three PostgreSQL statements, the HTTP response, the request log line) ' +
  'collect the time the process waited to be scheduled again after waking PostgreSQL or the client — /proc ' +
  "puts the kernel's share of the gateway's CPU at the *system* figure above. The JavaScript rows are comparable " +
  "between runs; garbage collection on V8's helper threads counts in /proc's user time but not here.";

const INGEST_DOCUMENTS = `mutation D($inputs: [IngestDocumentInput!]!) { ingestDocuments(inputs: $inputs) { results { chunkCount } } }`;

const EMPTY = `query Floor { __typename }`;

const INGEST_TICKET = `mutation T($input: IngestTicketInput!) { ingestTicket(input: $input) { chunkCount } }`;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  ms: number;
}

/** "package" of a frame: a node_modules package, node's internals, our own file, or V8's pseudo frames. */
function packageOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName.replace(/[()]/g, '')})`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node (internals)';
  const own = /\/dist\/(src\/.*)\.js$/.exec(url);
  return own ? own[1] : url;
}

function frameName(f: CallFrame, root: string): string {
  const file = f.url.replace(`file://${root}/`, '').replace(/^.*node_modules\//, '');
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
}

/** Self time by function and by package, inclusive time by function (each sample counted once per function). */
export function summarize(profile: CpuProfile, root: string) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') {
      idle += us;
      return;
    }
    total += us;
    const name = frameName(node.callFrame, root);
    self.set(name, (self.get(name) ?? 0) + us);
    const pkg = packageOf(node.callFrame.url, node.callFrame.functionName);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = frameName(byId.get(cur)!.callFrame, root);
      if (seen.has(f)) continue;
      seen.add(f);
      inclusive.set(f, (inclusive.get(f) ?? 0) + us);
    }
  });
  return { totalUs: total, idleUs: idle, self, packages, inclusive };
}

/** An admin's token for a merchant of the benchmark's own, created in the database if it lacks it. */
async function provisioned(url: string, secret: string, merchantId: string): Promise<string> {
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: url, AUTH_JWT_SECRET: secret });
  const db = await openDatabase(config, { migrate: true, poolSize: 1 });
  try {
    await createServices(config, db, new LocalHashEmbedder(1536)).merchants.provision({
      id: merchantId,
      name: `Gateway profile ${merchantId}`,
    });
  } finally {
    await db.close();
  }
  return signToken({ sub: 'bench-admin', merchantId, roles: ['admin'] }, secret, 3600);
}

/** `count` new tickets (ids unique to this run) for TICKET_MERCHANT. */
async function ticketBodies(url: string, secret: string, count: number): Promise<RequestBody[]> {
  const token = await provisioned(url, secret, TICKET_MERCHANT);
  const run = Date.now().toString(36);
  return syntheticDocuments(count, 5, `profile-${run}`).map((t, i) => ({
    token,
    body: JSON.stringify({ query: INGEST_TICKET, variables: { input: ticketInput(t, i) } }),
  }));
}

/** `count` requests of DOCUMENT_BATCH new articles each (ids unique to this run) for DOCUMENT_MERCHANT. */
async function documentBodies(url: string, secret: string, count: number): Promise<RequestBody[]> {
  const token = await provisioned(url, secret, DOCUMENT_MERCHANT);
  const docs = syntheticDocuments(count * DOCUMENT_BATCH, 11, `profile-${Date.now().toString(36)}`);
  return Array.from({ length: count }, (_, i) => ({
    token,
    body: JSON.stringify({
      query: INGEST_DOCUMENTS,
      variables: {
        inputs: docs.slice(i * DOCUMENT_BATCH, (i + 1) * DOCUMENT_BATCH).map(documentInput),
      },
    }),
  }));
}

async function main(): Promise<void> {
  const { values } = parseCommandLine(HELP, {
    options: {
      url: { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      top: { type: 'string' },
      keep: { type: 'string' },
      workload: { type: 'string' },
      merchant: { type: 'string' },
      embedding: { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
    },
  });
  const overrides: Record<string, string> = {};
  for (const pair of values['gateway-env'] ?? []) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (!m) usageError(HELP, `--gateway-env takes NAME=VALUE, not ${pair}`);
    overrides[m[1]] = m[2];
  }
  const suffix = Object.entries(overrides)
    .map(([k, v]) => `-${k}-${v}`.toLowerCase().replace(/[^a-z0-9-]+/g, '_'))
    .join('');
  const workload = values.workload ?? 'retrieval';
  if (!['retrieval', 'tickets', 'documents', 'empty'].includes(workload))
    usageError(HELP, `--workload must be retrieval, tickets, documents or empty, not ${workload}`);
  if (!values.url) usageError(HELP, '--url is required');
  const merchant = values.merchant ?? null;
  if (merchant !== null && workload !== 'retrieval')
    usageError(HELP, '--merchant applies to --workload retrieval only');
  if (merchant !== null && !/^[A-Za-z0-9_-]{1,64}$/.test(merchant))
    usageError(HELP, '--merchant must be a merchant id (letters, digits, - and _)');
  const encoding = values.embedding ?? 'list';
  if (encoding !== 'list' && encoding !== 'base64') usageError(HELP, '--embedding must be list or base64');
  if (values.embedding !== undefined && workload !== 'retrieval')
    usageError(HELP, '--embedding applies to --workload retrieval only');
  const url = values.url;
  const requests = integerOption(HELP, 'requests', values.requests, 2000);
  const concurrency = integerOption(HELP, 'concurrency', values.concurrency, 8);
  const top = integerOption(HELP, 'top', values.top, 40);
  const secret = crypto.randomBytes(32).toString('hex');
  const warmUps = workload === 'documents' ? 5 : 200;
  const bodies =
    workload === 'retrieval'
      ? await retrievalBodies(url, secret, merchant, encoding)
      : workload === 'tickets'
        ? await ticketBodies(url, secret, requests + warmUps)
        : workload === 'empty'
          ? [
              {
                token: await provisioned(url, secret, TICKET_MERCHANT),
                body: JSON.stringify({ query: EMPTY }),
              },
            ]
          : await documentBodies(url, secret, requests + warmUps);
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srg-gateway-profile-'));
  const loadStart = os.loadavg();
  const gateway = await startGatewayProcess(
    projectRoot(),
    {
      ...readOnlyGatewayEnv(url, secret),
      ...overrides,
    },
    ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  );
  let load;
  let cpuMs;
  try {
    // Tickets: every request a new ticket (the warm-up's come first); retrievals cycle through their bodies.
    const call = (offset: number) => (i: number) =>
      graphql(
        gateway.url,
        bodies[(offset + i) % bodies.length].token,
        bodies[(offset + i) % bodies.length].body,
      );
    await runConcurrent(warmUps, concurrency, call(0)); // warm-up: connections, plans, V8's JIT
    const cpu0 = gateway.cpuSplitMs();
    load = await runConcurrent(requests, concurrency, call(warmUps));
    const cpu1 = gateway.cpuSplitMs();
    cpuMs = {
      user: (cpu1.user - cpu0.user) / requests,
      system: (cpu1.system - cpu0.system) / requests,
    };
    log(
      `${load.throughput.toFixed(0)} req/s, p50 ${load.p50.toFixed(2)} ms, gateway CPU ${cpuMs.user.toFixed(2)} user + ${cpuMs.system.toFixed(2)} system ms/request`,
    );
  } finally {
    await gateway.stop();
  }
  const file = fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the gateway wrote no profile into ${profileDir}`);
  const profile = JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')) as CpuProfile;
  if (values.keep) {
    fs.mkdirSync(values.keep, { recursive: true });
    fs.copyFileSync(path.join(profileDir, file), path.join(values.keep, 'gateway.cpuprofile'));
  }
  fs.rmSync(profileDir, { recursive: true, force: true });
  // The profile spans the whole process (start-up and warm-up too): per request = over all requests sent.
  const s = summarize(profile, projectRoot());
  const sent = requests + warmUps;
  const perRequest = (us: number) => us / 1000 / sent;
  const rowsOf = (m: Map<string, number>, n: number): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: perRequest(us) }));
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    loadStart,
    loadEnd: os.loadavg(),
    requests,
    concurrency,
    throughput: load.throughput,
    p50: load.p50,
    gatewayCpuMsPerRequest: cpuMs.user + cpuMs.system,
    gatewayUserMsPerRequest: cpuMs.user,
    gatewaySystemMsPerRequest: cpuMs.system,
    profiledMsPerRequest: perRequest(s.totalUs),
    packages: rowsOf(s.packages, 25),
    self: rowsOf(s.self, top),
    inclusive: rowsOf(s.inclusive, top),
  };
  const f = (x: number) => x.toFixed(3);
  const table = (rs: ProfileRow[]) => [
    '| ms/request | function |',
    '|---:|---|',
    ...rs.map((r) => `| ${f(r.ms)} | \`${r.name.replace(/\|/g, '\\|')}\` |`),
  ];
  const md = [
    `# Gateway CPU profile on the ${{ retrieval: 'retrieval', tickets: 'ticket ingestion', documents: 'document batch ingestion', empty: 'empty request' }[workload]} hot path`,
    '',
    `\`npm run bench:gateway-profile\` — ${result.date.slice(0, 16).replace('T', ' ')} UTC, ${machine()}; load average ` +
      `${loadStart.map((l) => l.toFixed(1)).join(' / ')} → ${result.loadEnd.map((l) => l.toFixed(1)).join(' / ')} (shared machine). ` +
      `${requests} ${
        {
          retrieval: `VECTOR retrievals (precomputed 1536-float embedding${encoding === 'base64' ? ' as `embeddingBase64`' : ' as a JSON list'}, k = 10${merchant === null ? '' : `, merchant ${merchant}`})`,
          tickets: `\`ingestTicket\` requests (a new one-chunk ticket each, into ${TICKET_MERCHANT})`,
          documents: `\`ingestDocuments\` requests (${DOCUMENT_BATCH} new articles each, into ${DOCUMENT_MERCHANT})`,
          empty: `\`{ __typename }\` requests (an administrator's token)`,
        }[workload]
      } at concurrency ${concurrency}${
        suffix === ''
          ? ''
          : `, gateway with ${Object.entries(overrides)
              .map(([k, v]) => `\`${k}=${v}\``)
              .join(', ')}`
      }: ` +
      `**${load.throughput.toFixed(0)} req/s**, p50 ${load.p50.toFixed(2)} ms, gateway CPU **${(cpuMs.user + cpuMs.system).toFixed(2)} ms per request** ` +
      `(${cpuMs.user.toFixed(2)} user + ${cpuMs.system.toFixed(2)} system, from /proc, measured part only); the sampled profile (start-up and warm-up included) ${f(result.profiledMsPerRequest)} ms per request.`,
    '',
    NOTE,
    '',
    '## By package (self time)',
    '',
    '| ms/request | package or file |',
    '|---:|---|',
    ...result.packages.map((r) => `| ${f(r.ms)} | ${r.name} |`),
    '',
    '## Inclusive time by function (top)',
    '',
    ...table(result.inclusive),
    '',
    '## Self time by function (top)',
    '',
    ...table(result.self),
    '',
  ].join('\n');
  writeResults(
    (workload !== 'retrieval'
      ? `gateway-profile-${workload}`
      : (merchant === null ? 'gateway-profile' : `gateway-profile-${merchant}-c${concurrency}`) +
        (encoding === 'base64' ? '-base64' : '')) + suffix,
    { workload, merchant, encoding, gatewayEnv: overrides, ...result },
    md,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
