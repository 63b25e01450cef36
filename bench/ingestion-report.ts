/** The ingestion benchmark's results as the markdown table of docs/benchmarks/ingestion.md. */
export type Json = {
  results: Record<string, unknown>[];
  memory?: Record<string, number>;
  date: string;
  machine: string;
};

export function toMarkdown(j: Json): string {
  const f = (x: unknown, d = 0): string =>
    typeof x === 'number'
      ? x.toFixed(d)
      : x === null || x === undefined
        ? '—'
        : typeof x === 'string'
          ? x
          : JSON.stringify(x);
  const g = (o: unknown, k: string): unknown => (o as Record<string, unknown>)[k];
  const names = j.results.map((r) => String(r.side));
  const row = (label: string, pick: (r: Record<string, unknown>) => unknown, d = 0): string => {
    const vals = j.results.map(pick);
    const ratio =
      vals.length === 2 && typeof vals[0] === 'number' && typeof vals[1] === 'number'
        ? ` | ${(vals[1] / vals[0]).toFixed(2)}×`
        : '';
    return `| ${label} | ${vals.map((v) => f(v, d)).join(' | ')}${ratio} |`;
  };
  // CPU per item of a ticket phase: the gateway, PostgreSQL and the benchmark's client share the machine's cores.
  const cpuRows = (phase: string, key: string, item: string): string[] => {
    const at = (r: Record<string, unknown>, k: string): unknown => {
      const split = g(r.tickets, key);
      return split ? g(split, k) : undefined;
    };
    return [
      row(`${phase}: gateway CPU per ${item}, ms`, (r) => at(r, 'gatewayMs'), 2),
      row(`${phase}: PostgreSQL CPU per ${item} (all server processes), ms`, (r) => at(r, 'postgresMs'), 2),
      row(`${phase}: the benchmark client's CPU per ${item}, ms`, (r) => at(r, 'clientMs'), 2),
      row(`${phase}: share of the machine's CPU in use`, (r) => at(r, 'busy'), 2),
    ];
  };
  const loads = (j.results[0].load as { folder: string }[]).map((l) => l.folder);
  return [
    `# Ingestion benchmark`,
    ``,
    `Run ${j.date} on ${j.machine}. Native PostgreSQL, local 1536-d embedder, default chunking. Side by side in one run` +
      (names.length > 1 ? ` (base = the baseline checkout, new = this one); ratios are new / base.` : '.') +
      ` The machine is shared: absolute numbers are inflated, the load average is given per measurement.`,
    ``,
    `| measurement | ${names.join(' | ')}${names.length > 1 ? ' | ratio' : ''} |`,
    `|---|${names.map(() => '---:|').join('')}${names.length > 1 ? '---:|' : ''}`,
    ...loads.flatMap((folder, i) => [
      row(`\`npm run load\` ${folder}: chunks`, (r) => g((r.load as unknown[])[i], 'chunks')),
      row(`\`npm run load\` ${folder}: wall s`, (r) => g((r.load as unknown[])[i], 'seconds'), 1),
      row(`\`npm run load\` ${folder}: **chunks/s**`, (r) => g((r.load as unknown[])[i], 'chunksPerSecond')),
      row(
        `\`npm run load\` ${folder}: of which the dedicated index build at its end, s`,
        (r) => g((r.load as unknown[])[i], 'indexBuildInLoadSeconds'),
        1,
      ),
      row(`\`npm run load\` ${folder}: chunks/s without that build`, (r) =>
        g((r.load as unknown[])[i], 'chunksPerSecondWithoutIndexBuild'),
      ),
      row(`\`npm run load\` ${folder}: peak RSS MiB`, (r) => g((r.load as unknown[])[i], 'peakRssMiB')),
      row(
        `\`npm run load\` ${folder}: rerun, all unchanged, wall s`,
        (r) => g((r.load as unknown[])[i], 'rerunUnchangedSeconds'),
        1,
      ),
      row(`load average then`, (r) => g((r.load as unknown[])[i], 'loadAverage')),
    ]),
    row(
      `then \`npm run vector-index -- --merchant <syn>\` (builds the index the load left to it), s`,
      (r) => r.vectorIndexCommandSeconds,
      1,
    ),
    row(`dedicated HNSW index build (m=32, ef_construction=128), s`, (r) => r.indexBuildSeconds, 1),
    row(
      `then \`npm run calibrate -- --merchant <syn>\` (the gateway below does not calibrate in the background), s`,
      (r) => r.calibrateCommandSeconds,
      1,
    ),
    row(`\`ingestDocuments\` batches, index maintained: **chunks/s**`, (r) =>
      g(r.graphqlIndexMaintained, 'chunksPerSecond'),
    ),
    row(`\`ingestDocuments\` batches, index maintained, 2 requests in flight: **chunks/s**`, (r) =>
      g(r.graphqlTwoInFlight, 'chunksPerSecond'),
    ),
    row(`\`ingestDocuments\` batches, index deferred: chunks/s`, (r) =>
      g(r.graphqlIndexDeferred, 'chunksPerSecond'),
    ),
    row(`… then the index rebuilt, s`, (r) => g(r.graphqlIndexDeferred, 'rebuildSeconds'), 1),
    row(
      `… recall@10 of the rebuilt index vs exact`,
      (r) => g(r.graphqlIndexDeferred, 'recallAt10AfterRebuild'),
      3,
    ),
    row(`load average then`, (r) => g(r.graphqlIndexDeferred, 'loadAverage')),
    row(`\`ingestTicket\` bursts: **chunks/s**`, (r) => g(r.tickets, 'chunksPerSecond')),
    row(`\`ingestTickets\` batches: **chunks/s**`, (r) => g(r.tickets, 'batchChunksPerSecond')),
    row(`\`ingestTickets\` batches, 2 requests in flight: **chunks/s**`, (r) =>
      g(r.tickets, 'batchTwoInFlightChunksPerSecond'),
    ),
    row(`\`ingestTicket\` one at a time: p50 ms per request`, (r) => g(r.tickets, 'singleRequestP50Ms'), 1),
    ...cpuRows('`ingestTicket` bursts', 'burstCpu', 'ticket'),
    row(`… tickets/s if every core were busy (cores × 1,000 / the three above)`, (r) => {
      const c = g(r.tickets, 'burstCpu') as Record<string, number> | undefined;
      return c && (Number(g(r.tickets, 'cores')) * 1000) / (c.gatewayMs + c.postgresMs + c.clientMs);
    }),
    ...cpuRows('`ingestTickets` batches, one in flight', 'batchCpu', 'ticket'),
    row(`\`{ __typename }\` in bursts (the floor of any request): requests/s`, (r) =>
      g(g(r.tickets, 'emptyRequests'), 'perSecond'),
    ),
    ...cpuRows('`{ __typename }` in bursts', 'emptyRequests', 'request'),
    row(`load average then`, (r) => g(r.tickets, 'loadAverage')),
    row(`re-ingest unchanged 21-section document over GraphQL, ms`, (r) => g(r.reingest, 'unchangedMs'), 1),
    row(`re-ingest it with one paragraph changed, ms`, (r) => g(r.reingest, 'oneParagraphMs'), 1),
    ``,
    j.memory
      ? `\`npm run load\` over ${j.memory.files} one-line files (new): ${j.memory.seconds.toFixed(0)} s, peak RSS ${j.memory.peakRssMiB.toFixed(0)} MiB.`
      : '',
    ``,
  ].join('\n');
}
