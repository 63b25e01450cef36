import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { projectRoot } from '../../src/common/project-root';
import { type CorpusParams } from '../corpus-generator';
import { type LoadResult } from '../load-harness';
import { fmt, K, type Preset } from './setup';

/** The benchmark's result record, its Markdown tables and the summary in docs/BENCHMARKS.md. */

export type Result = {
  preset: string;
  retrievalSettings: Record<string, string>;
  date: string;
  commit: string;
  machine: Record<string, unknown> & {
    cpus: number;
    cpuModel: string;
    node: string;
    postgres: string;
    pgvector: string;
    loadAverageAtEnd: number[];
    memoryGiB: number;
    sharedBuffers?: string;
    chunkTableSize?: string;
    hnswIndexSize?: string;
  };
  data: CorpusParams & {
    merchants: number;
    classes: Record<string, { merchants: number; chunks: number; min: number; max: number }>;
    chunksAtEnd: number;
  };
  seed: number;
  load: {
    chunks: number;
    seconds: number;
    chunksPerSecond: number;
    indexSeconds: Record<string, number>;
    maintenance: string;
  };
  alternatives: { copySeconds: number; sharedHnswBuildSeconds: number };
  recall: {
    cell: string;
    queries: number;
    merchants: number;
    readableMedian: number;
    ours: {
      recall: number;
      exactRowCount: number;
      sqlStatements: number;
      strategies: Record<string, number>;
      p50: number;
      p95: number;
    };
    tutorial: { recall: number; exactRowCount: number; p50: number; p95: number };
    langchain: { recall: number; exactRowCount: number; hnswPlans: number; p50: number; p95: number };
  }[];
  latency: (LoadResult & {
    cell: string;
    concurrency: number;
    side: 'gateway' | 'gateway-list' | 'raw' | 'tutorial';
    gatewayCpuMsPerRequest: number | null;
    clientCpuMsPerRequest: number;
  })[];
  relevance: {
    manual: string;
    questions: number;
    unmatchedLabels: number;
    mode: string;
    recallAt5: number;
    mrrAt10: number;
  }[];
  ingestion: {
    graphql: {
      documents: number;
      chunks: number;
      chunksPerSecond: number;
      firstIngestMsPerDocument: number;
      oneParagraphChangedMsPerDocument: number;
      chunksReEmbeddedPerDocument: number;
      merchant: string;
    };
    folderLoader: {
      manuals: number;
      files: number;
      chunks: number;
      seconds: number;
      chunksPerSecond: number;
    };
    bulkIntoIndexed: { chunks: number; seconds: number; chunksPerSecond: number };
  };
  memory: { gatewayRssAtStartMiB: number; gatewayPeakRssAfterQueriesMiB: number; gatewayPeakRssMiB: number };
  totalSeconds: number;
};

/** The headline numbers of a run, written into docs/BENCHMARKS.md between this preset's markers. */
export function summary(r: Result): string {
  const worst = (pick: (x: Result['recall'][number]) => number): string => {
    const min = r.recall.reduce((a, x) => (pick(x) < pick(a) ? x : a), r.recall[0]);
    return `${fmt(pick(min), 3)} (${min.cell})`;
  };
  const throughputRatio = (c: number): string => {
    const rows = r.latency.filter((l) => l.concurrency === c);
    const rate = (side: 'gateway' | 'gateway-list' | 'raw') =>
      rows.filter((l) => l.side === side).reduce((a, l) => a + l.requests, 0) /
      rows.filter((l) => l.side === side).reduce((a, l) => a + l.seconds, 0);
    const list = rows.some((l) => l.side === 'gateway-list')
      ? `; the vector as a JSON list: ${fmt(rate('gateway-list'), 0)} req/s (${fmt(rate('gateway-list') / rate('raw'), 2)}×)`
      : '';
    return `${fmt(rate('gateway'), 0)} vs ${fmt(rate('raw'), 0)} req/s (${fmt(rate('gateway') / rate('raw'), 2)}×)${list}`;
  };
  const p95c1 = r.latency.filter((l) => l.side === 'gateway' && l.concurrency === 1);
  const worstP95 = p95c1.reduce((a, l) => (l.p95 > a.p95 ? l : a), p95c1[0]);
  // The floor beside it: the same queries' SQL replayed alone, so a loaded machine reads as a ratio.
  const rawP95 = r.latency.find(
    (l) => l.side === 'raw' && l.concurrency === 1 && l.cell === worstP95.cell,
  )?.p95;
  const hybrid = r.relevance.filter((x) => x.mode === 'HYBRID');
  const p50 = p50Target(r);
  const p50Misses = p50.filter((x) => !x.met);
  return [
    `Latest run: ${r.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`, ${r.data.chunksAtEnd} chunks in ` +
      `${r.data.merchants} synthetic merchants + ${r.ingestion.folderLoader.manuals} manuals, ${r.totalSeconds.toFixed(0)} s. ` +
      `Full tables: [benchmarks/bench-${r.preset}.md](benchmarks/bench-${r.preset}.md).`,
    '',
    '| measure | result |',
    '|---|---|',
    `| recall@10, worst class/reader: ours / tutorial / LangChain | ${worst((x) => x.ours.recall)} / ${worst((x) => x.tutorial.recall)} / ${worst((x) => x.langchain.recall)} |`,
    `| queries with exactly min(k, readable) rows: ours / tutorial / LangChain | ${r.recall.reduce((a, x) => a + x.ours.exactRowCount, 0)} / ` +
      `${r.recall.reduce((a, x) => a + x.tutorial.exactRowCount, 0)} / ${r.recall.reduce((a, x) => a + x.langchain.exactRowCount, 0)} of ${r.recall.reduce((a, x) => a + x.queries, 0)} |`,
    `| gateway p95 at concurrency 1, worst class/reader (raw SQL p95 of the same queries) | ${fmt(worstP95.p95)} ms (${worstP95.cell}; raw SQL ${fmt(rawP95 ?? NaN)} ms) |`,
    ...(p50.length
      ? [
          `| gateway p50 at concurrency 1 within 2× the tutorial's + 3 ms (same passes) | ${p50.length - p50Misses.length} of ${p50.length} cells` +
            (p50Misses.length ? `; furthest: ${worstP50(p50Misses)}` : '') +
            ' |',
        ]
      : []),
    ...[...new Set(r.latency.map((l) => l.concurrency))].map(
      (c) => `| throughput gateway vs raw SQL, concurrency ${c} | ${throughputRatio(c)} |`,
    ),
    `| relevance, HYBRID recall@5 / MRR@10 | ${hybrid.map((x) => `${x.manual}: ${fmt(x.recallAt5, 2)} / ${fmt(x.mrrAt10, 2)}`).join('; ')} |`,
    `| bulk load into the empty table | ${fmt(r.load.chunksPerSecond, 0)} chunks/s |`,
    `| ingestDocument over GraphQL / folder loader, into the indexed table | ${fmt(r.ingestion.graphql.chunksPerSecond, 0)} / ${fmt(r.ingestion.folderLoader.chunksPerSecond, 0)} chunks/s |`,
    `| re-ingesting a 20-section document, one paragraph changed | ${fmt(r.ingestion.graphql.oneParagraphChangedMsPerDocument)} ms (first ingestion ${fmt(r.ingestion.graphql.firstIngestMsPerDocument)} ms) |`,
    `| gateway peak RSS | ${fmt(r.memory.gatewayPeakRssMiB, 0)} MiB |`,
  ].join('\n');
}

/** Per cell at concurrency 1: the gateway's p50, the raw replay's and the tutorial's, and the target bound. */
function p50Target(r: Result) {
  return r.latency
    .filter((l) => l.side === 'tutorial' && l.concurrency === 1)
    .flatMap((t) => {
      const g = r.latency.find((l) => l.side === 'gateway' && l.concurrency === 1 && l.cell === t.cell);
      const w = r.latency.find((l) => l.side === 'raw' && l.concurrency === 1 && l.cell === t.cell);
      if (!g || !w) return [];
      const bound = 2 * t.p50 + 3;
      return [
        {
          cell: t.cell,
          requests: t.requests,
          ours: g.p50,
          raw: w.p50,
          tutorial: t.p50,
          bound,
          met: g.p50 <= bound,
        },
      ];
    });
}

function worstP50(misses: ReturnType<typeof p50Target>): string {
  const w = misses.reduce((a, x) => (x.ours / x.bound > a.ours / a.bound ? x : a), misses[0]);
  return `${w.cell} ${fmt(w.ours)} vs ${fmt(w.bound)} ms (raw SQL ${fmt(w.raw)} ms)`;
}

/** Replaces the text between `<!-- bench:<preset> -->` and `<!-- /bench:<preset> -->` in docs/BENCHMARKS.md. */
export async function updateSummary(preset: string, text: string): Promise<void> {
  const file = path.join(projectRoot(), 'docs', 'BENCHMARKS.md');
  if (!fs.existsSync(file)) return;
  const doc = fs.readFileSync(file, 'utf8');
  const start = `<!-- bench:${preset} -->`;
  const end = `<!-- /bench:${preset} -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) return;
  const updated = `${doc.slice(0, i + start.length)}\n${text}\n${doc.slice(j)}`;
  // Formatted as `npm run lint` expects (Prettier pads Markdown tables).
  const options = (await prettier.resolveConfig(file)) ?? {};
  fs.writeFileSync(file, await prettier.format(updated, { ...options, filepath: file }));
}

export function markdown(r: Result, preset: Preset): string {
  const lines: string[] = [];
  const p50Rows = p50Target(r);
  const cls = r.data.classes;
  lines.push(
    `# Benchmark, preset \`${r.preset}\``,
    '',
    `Run ${r.date} at commit \`${r.commit}\` on ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB ` +
      `(load average at the end ${r.machine.loadAverageAtEnd.map((x) => x.toFixed(1)).join(' / ')}: the machine is shared), ` +
      `Node ${r.machine.node}, ${r.machine.postgres}, pgvector ${r.machine.pgvector}. Seed ${r.seed}; ${r.totalSeconds.toFixed(0)} s in all; ` +
      `${Object.keys(r.retrievalSettings).length ? `retrieval settings ${JSON.stringify(r.retrievalSettings)}` : 'default retrieval settings'}; ` +
      'the benchmark database has `maintenance_work_mem = 2GB`' +
      (r.machine.sharedBuffers === undefined
        ? '. '
        : `; the server has \`shared_buffers = ${r.machine.sharedBuffers}\` against ${r.machine.chunkTableSize} of document_chunks (with TOAST) and ${r.machine.hnswIndexSize} of HNSW indexes at the end. `) +
      `Reproduce: \`npm run bench -- --preset ${r.preset} --seed ${r.seed}\`.`,
    '',
    `**Data**: ${r.data.totalChunks} synthetic chunks (1536-d clustered vectors) in ${r.data.merchants} merchants — ` +
      Object.entries(cls)
        .map(
          ([c, v]) =>
            `${c}: ${v.merchants} merchant(s), ${v.min === v.max ? v.min : `${v.min}–${v.max}`} chunks each`,
        )
        .join('; ') +
      `; documents of ${r.data.chunksPerDocument[0]}–${r.data.chunksPerDocument[1]} chunks, ${r.data.ticketShare * 100}% ticket chunks; ` +
      `staff read ${r.data.staffShare * 100}% of a merchant's sources, contractors ${r.data.contractorShare * 100}%. ` +
      `Plus the Samsung manuals of the relevance set; ${r.data.chunksAtEnd} chunks at the end. k = ${K} everywhere.`,
    '',
    `Bulk load into the empty table (secondary indexes dropped, then re-created from their definitions): ` +
      `${r.load.chunks} chunks in ${fmt(r.load.seconds)} s (**${fmt(r.load.chunksPerSecond, 0)} chunks/s**); index builds ` +
      Object.entries(r.load.indexSeconds)
        .map(([n, s]) => `${n} ${fmt(s)} s`)
        .join(', ') +
      `. Product index maintenance: ${r.load.maintenance}.`,
    '',
    '## Recall@10 against exact answers (sequential scan), and single-query latency',
    '',
    `${preset.queriesPerCell} queries per row over up to ${preset.merchantsPerClass} merchants of the class. "rows ok" = queries that returned exactly ` +
      'min(k, readable) rows. Ours = `retrieveChunks` (VECTOR, precomputed embedding) over HTTP; tutorial = `WHERE merchant_id AND acl && … ORDER BY ' +
      'embedding <=> q LIMIT k` through a shared HNSW index (m 16, ef_construction 64, ef_search 40, no iterative scan); LangChain = ' +
      '`PGVectorStore.similaritySearchVectorWithScore` with filter `{merchant_id, acl: {arrayContains: principals}}` on its own table and ' +
      `HNSW index (same vectors; built in ${fmt(r.alternatives.sharedHnswBuildSeconds)} s). Latency in ms at concurrency 1, one request per query interleaved with the other two (ours includes HTTP and GraphQL); the p50 target is read from repeated requests, in its own table below.`,
    '',
    '| class / reader | readable (median) | ours recall | rows ok | ours p50 / p95 | strategies; statements per request | tutorial recall | rows ok | p50 / p95 | LangChain recall | rows ok | HNSW plans | p50 / p95 |',
    '|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.recall.map(
      (x) =>
        `| ${x.cell} | ${x.readableMedian} | **${fmt(x.ours.recall, 3)}** | ${x.ours.exactRowCount}/${x.queries} | ${fmt(x.ours.p50)} / ${fmt(x.ours.p95)} | ` +
        `${Object.entries(x.ours.strategies)
          .map(([s, n]) => `${s} ${n}`)
          .join(
            ', ',
          )}; ${x.ours.sqlStatements} SQL statements | ${fmt(x.tutorial.recall, 3)} | ${x.tutorial.exactRowCount}/${x.queries} | ${fmt(x.tutorial.p50)} / ${fmt(x.tutorial.p95)} | ` +
        `${fmt(x.langchain.recall, 3)} | ${x.langchain.exactRowCount}/${x.queries} | ${x.langchain.hnswPlans}/${x.queries} | ${fmt(x.langchain.p50)} / ${fmt(x.langchain.p95)} |`,
    ),
    '',
    '## Latency and throughput: gateway over HTTP vs the same SQL through `pg`',
    '',
    'Raw = the exact statements the product sent for each query (recorded from the service, warm, replayed on a pooled `pg` connection, ' +
      "pool of 10 like the gateway's, in the same round trips: the three in one where the product sent them ahead). Gateway = the real server (`dist/src/main.js`, NODE_ENV=production) in its own process, " +
      "a keep-alive HTTP client with a fixed number of requests in flight: five passes over the cell's queries at concurrency 1, " +
      '20 requests per request in flight above it, after one untimed pass on each side. Both on this 2-core machine with the client, the ' +
      'gateway and PostgreSQL competing for the CPUs. Milliseconds; throughput in requests/s; ratio = gateway / raw throughput; ' +
      'CPU = milliseconds of CPU per request used by the gateway process, and by the benchmark client process on each side ' +
      '(the client drives HTTP on one side and the SQL replay on the other).',
    '',
    '| class / reader | concurrency | requests per side | gateway p50 / p95 / p99 | raw p50 / p95 / p99 | gateway req/s | raw req/s | ratio | gateway CPU | client CPU gateway / raw |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  const cells = [...new Set(r.latency.map((l) => l.cell))];
  for (const cell of cells)
    for (const c of [...new Set(r.latency.map((l) => l.concurrency))]) {
      const g = r.latency.find((l) => l.cell === cell && l.concurrency === c && l.side === 'gateway');
      const w = r.latency.find((l) => l.cell === cell && l.concurrency === c && l.side === 'raw');
      if (!g || !w) continue;
      lines.push(
        `| ${cell} | ${c} | ${g.requests} | ${fmt(g.p50)} / ${fmt(g.p95)} / ${fmt(g.p99)} | ${fmt(w.p50)} / ${fmt(w.p95)} / ${fmt(w.p99)} | ` +
          `${fmt(g.throughput, 0)} | ${fmt(w.throughput, 0)} | **${fmt(g.throughput / w.throughput, 2)}** | ` +
          `${fmt(g.gatewayCpuMsPerRequest ?? NaN)} | ${fmt(g.clientCpuMsPerRequest)} / ${fmt(w.clientCpuMsPerRequest)} |`,
      );
    }
  const sum = (c: number, side: 'gateway' | 'gateway-list' | 'raw'): number =>
    r.latency.filter((l) => l.concurrency === c && l.side === side).reduce((a, l) => a + l.requests, 0) /
    r.latency.filter((l) => l.concurrency === c && l.side === side).reduce((a, l) => a + l.seconds, 0);
  lines.push(
    '',
    `Over all rows: ${[...new Set(r.latency.map((l) => l.concurrency))]
      .map(
        (c) =>
          `concurrency ${c}: gateway ${fmt(sum(c, 'gateway'), 0)} req/s vs raw ${fmt(sum(c, 'raw'), 0)} req/s (**${fmt(sum(c, 'gateway') / sum(c, 'raw'), 2)}×**)`,
      )
      .join('; ')}.`,
    '',
    ...listRows(r),
    ...(p50Rows.length
      ? [
          "## p50 against the tutorial's single statement (target: ours <= 2× the tutorial's + 3 ms)",
          '',
          'Concurrency 1, the same passes over the same queries as above: ours = `retrieveChunks` over HTTP (the gateway p50 above), ' +
            "raw = the product's statements replayed, tutorial = the tutorial's statement on the shared HNSW table as in the recall " +
            'table (its recall there). Milliseconds.',
          '',
          '| class / reader | requests per side | ours p50 | raw SQL p50 | tutorial p50 | bound 2× tutorial + 3 | met |',
          '|---|---:|---:|---:|---:|---:|---|',
          ...p50Rows.map(
            (x) =>
              `| ${x.cell} | ${x.requests} | ${fmt(x.ours)} | ${fmt(x.raw)} | ${fmt(x.tutorial)} | ${fmt(x.bound)} | ${x.met ? 'yes' : '**no**'} |`,
          ),
          '',
        ]
      : []),
    '## Relevance on real text (Samsung e-manuals, local lexical embedder)',
    '',
    'One manual = one merchant, one section = one document, loaded with the folder loader; a question counts as found when a ' +
      'section whose title is the last element of its labelled path is among the first 5 distinct documents; MRR over the first 10.',
    '',
    '| manual | questions (labels without a matching title) | mode | recall@5 | MRR@10 |',
    '|---|---:|---|---:|---:|',
    ...r.relevance.map(
      (x) =>
        `| ${x.manual} | ${x.questions} (${x.unmatchedLabels}) | ${x.mode} | ${fmt(x.recallAt5, 3)} | ${fmt(x.mrrAt10, 3)} |`,
    ),
    '',
    '## Ingestion into the indexed table',
    '',
    '| path | chunks | seconds | chunks/s |',
    '|---|---:|---:|---:|',
    `| \`ingestDocument\` over GraphQL (20-section documents, one at a time, merchant ${r.ingestion.graphql.merchant}) | ${r.ingestion.graphql.chunks} | ${fmt(r.ingestion.graphql.chunks / r.ingestion.graphql.chunksPerSecond)} | ${fmt(r.ingestion.graphql.chunksPerSecond, 0)} |`,
    `| folder loader (\`npm run load\` code path), ${r.ingestion.folderLoader.manuals} manuals, ${r.ingestion.folderLoader.files} sections | ${r.ingestion.folderLoader.chunks} | ${fmt(r.ingestion.folderLoader.seconds)} | ${fmt(r.ingestion.folderLoader.chunksPerSecond, 0)} |`,
    `| benchmark bulk loader (multi-row INSERT, binary vectors), indexes in place | ${r.ingestion.bulkIntoIndexed.chunks} | ${fmt(r.ingestion.bulkIntoIndexed.seconds)} | ${fmt(r.ingestion.bulkIntoIndexed.chunksPerSecond, 0)} |`,
    '',
    `Re-ingesting a 20-section document with one changed paragraph: **${fmt(r.ingestion.graphql.oneParagraphChangedMsPerDocument)} ms** and ` +
      `${fmt(r.ingestion.graphql.chunksReEmbeddedPerDocument)} chunk(s) embedded per document, vs ${fmt(r.ingestion.graphql.firstIngestMsPerDocument)} ms for its first ingestion.`,
    '',
    '## Memory',
    '',
    `Gateway process RSS: ${fmt(r.memory.gatewayRssAtStartMiB, 0)} MiB after start, peak ${fmt(r.memory.gatewayPeakRssAfterQueriesMiB, 0)} MiB after the query runs ` +
      `(up to concurrency ${Math.max(...preset.concurrency)}), ${fmt(r.memory.gatewayPeakRssMiB, 0)} MiB after the GraphQL ingestion (VmHWM).`,
    '',
  );
  return lines.join('\n');
}

/** The gateway with the vector as a JSON list beside the base64 form, per cell, where the run timed it. */
function listRows(r: Result): string[] {
  const list = r.latency.filter((l) => l.side === 'gateway-list');
  if (list.length === 0) return [];
  const c = list[0].concurrency;
  const rate = (side: 'gateway' | 'gateway-list' | 'raw', rows: Result['latency']) =>
    rows.filter((l) => l.side === side).reduce((a, l) => a + l.requests, 0) /
    rows.filter((l) => l.side === side).reduce((a, l) => a + l.seconds, 0);
  const at = r.latency.filter((l) => l.concurrency === c);
  return [
    `### The vector's encoding: \`embeddingBase64\` (above) vs the JSON list \`embedding\`, concurrency ${c}`,
    '',
    'The same queries, the same gateway, right after the rows above: only the request body differs (8 KB of base64 ' +
      'float32 against ~30 KB of JSON numbers that graphql-js coerces one by one). The list always runs last, on pages ' +
      "both other sides have just read: compare the gateway's CPU per request, which the order does not change, " +
      'before its throughput.',
    '',
    '| class / reader | gateway req/s base64 / list | ratio to raw base64 / list | gateway CPU base64 / list |',
    '|---|---:|---:|---:|',
    ...list.map((l) => {
      const g = at.find((x) => x.cell === l.cell && x.side === 'gateway')!;
      const w = at.find((x) => x.cell === l.cell && x.side === 'raw')!;
      return (
        `| ${l.cell} | ${fmt(g.throughput, 0)} / ${fmt(l.throughput, 0)} | ${fmt(g.throughput / w.throughput, 2)} / ` +
        `${fmt(l.throughput / w.throughput, 2)} | ${fmt(g.gatewayCpuMsPerRequest ?? NaN)} / ${fmt(l.gatewayCpuMsPerRequest ?? NaN)} |`
      );
    }),
    '',
    `Over all rows: base64 ${fmt(rate('gateway', at) / rate('raw', at), 2)}×, list ${fmt(rate('gateway-list', at) / rate('raw', at), 2)}× the raw SQL.`,
    '',
  ];
}
