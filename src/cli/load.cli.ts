import fs from 'node:fs';
import path from 'node:path';
import { analyzeChunks, chunkStatisticsDue } from '../db/statistics';
import {
  BOILERPLATE_DEFAULTS,
  type BoilerplateBlock,
  BoilerplateDetector,
  type BoilerplateOptions,
} from '../ingestion/boilerplate';
import { DEFAULT_BATCH_SIZE, MAX_BATCH_DOCUMENTS } from '../ingestion/ingestion.types';
import { integerOption, loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';
import { formatSeconds, progressPrinter } from './progress';

/** Files from which the default index policy (--index auto) defers the dedicated index. */
const DEFER_INDEX_MIN_FILES = 500;

const HELP = `Usage: npm run load -- --merchant <id> [--name "Merchant name"] [--concurrency 2] [--batch-size ${DEFAULT_BATCH_SIZE}]
                        [--index auto|defer|keep] [boilerplate options] <folder>
       npm run load -- --gateway http://127.0.0.1:4000/graphql --token <token> [--batch-size ${DEFAULT_BATCH_SIZE}]
                        [boilerplate options] <folder>

Ingests every .md/.markdown/.txt/.html/.htm file under <folder> for the merchant (created if it does not exist), into DATABASE_URL
or the embedded database. Try it on the sample folder: npm run load -- --merchant m03 examples/help-center

Every file is checked first (nothing is written if one is bad); then documents are written --batch-size per
transaction (1..${MAX_BATCH_DOCUMENTS}), --concurrency batches at a time, with progress, rate and time left. Interrupted (Ctrl-C,
a crash, a failed batch), what was committed stays: run the same command again and it skips what is stored
unchanged (without chunking or embedding it) and continues.

--index (native PostgreSQL): inserting each new chunk into the merchant's dedicated HNSW index is most of the cost
of a write, so 'defer' drops that index before the load and builds it again (CONCURRENTLY) at the end, also after
a failure — retrieval meanwhile uses the quantized scan, slower with the same recall — and builds it if the load
made the merchant large enough to need one; 'keep' maintains it row by row; 'auto' (default) defers from
${DEFER_INDEX_MIN_FILES} files on, rebuilds at the end only an index it dropped, and leaves a merchant's FIRST index
to \`npm run vector-index -- --merchant <id>\` (or the gateway's background build after its next write there).

With --gateway it loads through a running gateway's GraphQL API instead (ingestDocuments, one batch per request),
as the merchant of --token, which needs a role in INGEST_ROLES; use this while the gateway holds the embedded
database. Front matter sets id, title, acl and metadata:

  ---
  id: d7
  title: Refund Policy
  acl: [role:agent, role:contractor]
  metadata: { category: refund }
  ---

The file name is the default id, the first "# heading" the default title. Every file is checked before anything
is written: a bare principal that names a role (acl: [agent]) is refused (write role:agent, or user:agent for a
user with that id), as are unclosed front matter, misspelt keys (titel) and values of the wrong type, each
reported with file and line. Idempotent: unchanged files are skipped; changed ones re-embed only their changed
chunks. An empty or missing acl means nobody can read: such files are loaded with a warning.

HTML files take the same front matter before their markup; they are converted to Markdown (headings, lists,
code, tables), without scripts, styles, nav, page header/footer, aside, forms and hidden elements; the default
title is the <title>, else the first <h1>.

Boilerplate: paragraphs repeated across the folder's files (navigation, footers, cookie banners) are found in the
check pass and left out of the stored text; the summary lists them. A paragraph is boilerplate when it is in at
least --boilerplate-share of the files (default ${BOILERPLATE_DEFAULTS.minShare}) and at least
--boilerplate-min-files files (default ${BOILERPLATE_DEFAULTS.minFiles}). Headings stay, unless their section was
all boilerplate; a document is never stripped to nothing. The files are not changed: --keep-boilerplate loads
the full text again.`;

const MAX_CONCURRENCY = 16;

const INGEST = `mutation Load($inputs: [IngestDocumentInput!]!) {
  ingestDocuments(inputs: $inputs) { results { chunkCount embeddedChunks reusedChunks unchanged warnings } }
}`;

interface IngestResult {
  data?: {
    ingestDocuments: {
      results: {
        chunkCount: number;
        embeddedChunks: number;
        reusedChunks: number;
        unchanged: boolean;
        warnings: string[];
      }[];
    } | null;
  };
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Loads a folder through a running gateway: what `load` does, with the gateway's own checks and transactions. */
async function loadThroughGateway(
  url: string,
  token: string,
  folder: string,
  batchSize: number,
  boilerplateOptions: false | BoilerplateOptions,
): Promise<void> {
  const started = Date.now();
  const { listDocumentFiles, readDocumentFile } = await import('../ingestion/folder-loader');
  const files = listDocumentFiles(folder);
  const read = files.map((f) => readDocumentFile(f)); // all checked before the first request
  const detector = boilerplateOptions === false ? null : new BoilerplateDetector(boilerplateOptions);
  for (const c of read) detector?.add(c.text);
  const boilerplate = detector?.finish();
  const commands = boilerplate ? read.map((c) => ({ ...c, text: boilerplate.strip(c.text) })) : read;
  const progress = progressPrinter('loading', 'files');
  const totals = { written: 0, skipped: 0, chunks: 0, embedded: 0, reused: 0 };
  const warnings: string[] = [];
  for (let i = 0; i < commands.length; i += batchSize) {
    const inputs = commands.slice(i, i + batchSize);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: INGEST, variables: { inputs } }),
    }).catch((err: unknown) => {
      throw new Error(`${url} did not answer (${err instanceof Error ? err.message : String(err)})`);
    });
    const body = (await response.json().catch(() => ({}))) as IngestResult;
    const results = body.data?.ingestDocuments?.results;
    if (!results) {
      const e = body.errors?.[0];
      throw new Error(
        `${path.relative(folder, files[i])}: the gateway answered HTTP ${response.status}` +
          (e ? ` ${e.extensions?.code ?? ''}: ${e.message}` : '') +
          ` (a batch of ${inputs.length} files from this one, written as a whole or not at all` +
          (i > 0 ? `; the ${i} files before it are loaded; run again to resume)` : ')'),
      );
    }
    results.forEach((result, j) => {
      if (result.unchanged) totals.skipped++;
      else totals.written++;
      totals.chunks += result.chunkCount;
      totals.embedded += result.embeddedChunks;
      totals.reused += result.reusedChunks;
      for (const w of result.warnings) warnings.push(`${path.relative(folder, files[i + j])}: ${w}`);
      progress(i + j + 1, commands.length, files[i + j]);
    });
  }
  console.log(
    `Loaded ${files.length} files through ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
      `${totals.written} written, ${totals.skipped} skipped (unchanged); ${totals.chunks} chunks, ` +
      `${totals.embedded} embedded, ${totals.reused} reused.`,
  );
  if (boilerplate) printBoilerplate(boilerplate.blocks(10), boilerplate.stats);
  for (const w of warnings) console.warn(`warning: ${w}`);
}

function printBoilerplate(
  blocks: BoilerplateBlock[],
  stats: { documents: number; blocks: number; keptWhole: number },
): void {
  if (blocks.length === 0) return;
  console.log(
    `Boilerplate: ${stats.blocks} repeated blocks left out of ${stats.documents} documents` +
      (stats.keptWhole > 0 ? ` (${stats.keptWhole} kept whole: nothing else would remain)` : '') +
      '; the most widespread (--keep-boilerplate keeps them):',
  );
  for (const b of blocks) console.log(`  ${String(b.files).padStart(6)} files  ${b.text}`);
}

function boilerplateOption(values: {
  'keep-boilerplate'?: boolean;
  'boilerplate-share'?: string;
  'boilerplate-min-files'?: string;
}): false | BoilerplateOptions {
  const share = values['boilerplate-share'];
  const minShare = share === undefined ? BOILERPLATE_DEFAULTS.minShare : Number(share);
  if (!(minShare > 0 && minShare <= 1))
    usageError(HELP, `--boilerplate-share ${share}: expected a number in (0, 1]`);
  const minFiles = integerOption(
    HELP,
    'boilerplate-min-files',
    values['boilerplate-min-files'],
    BOILERPLATE_DEFAULTS.minFiles,
    2,
  );
  if (values['keep-boilerplate']) {
    if (share !== undefined || values['boilerplate-min-files'] !== undefined)
      usageError(HELP, '--keep-boilerplate takes no --boilerplate-share or --boilerplate-min-files');
    return false;
  }
  return { minShare, minFiles };
}

/** Chunks a load must have written before it refreshes the planner's statistics (see main). */
const ANALYZE_MIN_CHUNKS = 1000;

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(HELP, {
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      name: { type: 'string' },
      gateway: { type: 'string' },
      token: { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      index: { type: 'string' },
      'keep-boilerplate': { type: 'boolean' },
      'boilerplate-share': { type: 'string' },
      'boilerplate-min-files': { type: 'string' },
    },
  });
  const boilerplate = boilerplateOption(values);
  const indexPolicy = values.index ?? 'auto';
  if (!['auto', 'defer', 'keep'].includes(indexPolicy)) usageError(HELP, '--index is auto, defer or keep');
  const batchSize = integerOption(HELP, 'batch-size', values['batch-size'], DEFAULT_BATCH_SIZE);
  if (batchSize < 1 || batchSize > MAX_BATCH_DOCUMENTS)
    usageError(HELP, `--batch-size must be 1..${MAX_BATCH_DOCUMENTS}`);
  const concurrency = integerOption(HELP, 'concurrency', values.concurrency, 2);
  if (concurrency < 1 || concurrency > MAX_CONCURRENCY)
    usageError(HELP, `--concurrency must be 1..${MAX_CONCURRENCY}`);
  if (positionals.length !== 1) usageError(HELP, 'give exactly one folder');
  const folder = path.resolve(positionals[0]);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory())
    usageError(HELP, `${folder} is not a folder`);
  if (values.gateway !== undefined) {
    if (!values.token) usageError(HELP, '--gateway needs --token (a token with a role in INGEST_ROLES)');
    if (values.merchant || values.name) {
      usageError(HELP, 'with --gateway the merchant is the token’s: leave out --merchant and --name');
    }
    return loadThroughGateway(values.gateway, values.token, folder, batchSize, boilerplate);
  }
  if (!values.merchant) usageError(HELP, '--merchant is required (or --gateway with --token)');
  const merchant = values.merchant;
  const config = loadCommandConfig();
  const [{ openLoadTargets }, { loadFolder }] = await Promise.all([
    import('./load-targets'),
    import('../ingestion/folder-loader'),
  ]);
  const { db, targets } = await openLoadTargets(config);
  try {
    const s = await loadFolder(targets, merchant, folder, {
      // The embedded database has no dedicated indexes (exact and quantized scans only).
      deferIndex:
        db.kind !== 'native' || indexPolicy === 'keep'
          ? false
          : indexPolicy === 'defer' || { minFiles: DEFER_INDEX_MIN_FILES },
      buildIndex: indexPolicy === 'defer' ? 'always' : 'dropped',
      onIndex: (event, names) => {
        if (event === 'dropped')
          console.log(`dedicated vector index dropped for the load: ${names.join(', ')}`);
        if (event === 'rebuilding') console.log('building the dedicated vector index (CONCURRENTLY)...');
      },
      merchantName: values.name,
      boilerplate,
      batchSize,
      concurrency,
      onProgress: progressPrinter(`loading ${merchant}`, 'files'),
    });
    console.log(
      `Loaded ${s.files} files into ${merchant} (${db.description}) in ${(s.ms / 1000).toFixed(1)} s: ` +
        `${s.created} created, ${s.updated} updated, ${s.skipped} skipped (unchanged); ` +
        `${s.chunks} chunks, ${s.embedded} embedded, ${s.reused} reused` +
        (s.indexRebuildMs > 0 ? ` Index built in ${formatSeconds(s.indexRebuildMs / 1000)}.` : '') +
        (s.chunks > 0
          ? ` (${Math.round(s.chunks / (s.ms / 1000))} chunks/s written, ${formatSeconds(s.ms / 1000)}).`
          : '.'),
    );
    // Right after a bulk load, not at autovacuum's next round (src/db/statistics.ts). Not after a small one:
    // statistics taken after 80 chunks of one merchant made the next 12,000-chunk load of another 2.5-3.5x slower
    // (planned as one row, its embedding-cache probes walked its growing index range), where a table never
    // analyzed is estimated from its size.
    if (s.chunks >= ANALYZE_MIN_CHUNKS && (await chunkStatisticsDue(db.dataSource))) {
      const analyzed = await analyzeChunks(db.dataSource);
      console.log(
        analyzed === null
          ? 'Planner statistics of document_chunks not refreshed: the table is locked (an index build?). ' +
              'Run ANALYZE document_chunks when it is done, or leave it to autovacuum or the gateway.'
          : `Planner statistics of document_chunks refreshed (ANALYZE) in ${formatSeconds(analyzed / 1000)}.`,
      );
    }
    printBoilerplate(s.boilerplate.blocks, {
      documents: s.boilerplate.documents,
      blocks: s.boilerplate.removedBlocks,
      keptWhole: s.boilerplate.keptWhole,
    });
    for (const w of s.warnings) console.warn(`warning: ${w}`);
    if (
      db.kind === 'native' &&
      indexPolicy !== 'defer' &&
      s.indexRebuildMs === 0 &&
      s.created + s.updated > 0
    ) {
      console.log(
        `Merchants past ${config.retrieval.dedicatedIndexMinRows} chunks get a dedicated vector index: ` +
          `\`npm run vector-index -- --merchant ${merchant}\` builds it if needed (until then retrieval scans).`,
      );
    }
  } finally {
    await db.close();
  }
}

runCommand(main);
