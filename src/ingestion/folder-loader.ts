import fs from 'node:fs';
import path from 'node:path';
import { badInput, DomainError } from '../common/errors/domain-error';
import { type DocumentWrite } from '../documents/document.repository';
import { type MerchantService } from '../merchants/merchant.service';
import { type MerchantIndexService } from '../vector-index/merchant-index.service';
import { parseFrontMatter } from '../seed/front-matter';
import {
  Boilerplate,
  type BoilerplateBlock,
  BoilerplateDetector,
  type BoilerplateOptions,
} from './boilerplate';
import { htmlToMarkdown } from './html-source';
import { type IngestDocumentCommand, type IngestionService } from './ingestion.service';
import { DEFAULT_BATCH_SIZE } from './ingestion.types';

export interface LoadSummary {
  files: number;
  created: number;
  updated: number;
  /** Unchanged documents: skipped without chunking or embedding. */
  skipped: number;
  chunks: number;
  embedded: number;
  reused: number;
  warnings: string[];
  ms: number;
  /** Time spent rebuilding the dedicated index (deferIndex), 0 when there was none. */
  indexRebuildMs: number;
  /** What boilerplate stripping found (the most widespread blocks first) and changed (boilerplate.ts). */
  boilerplate: { blocks: BoilerplateBlock[]; documents: number; removedBlocks: number; keptWhole: number };
}

/** What the loader writes through, passed explicitly (the load command and tests pass their services). */
export interface LoaderTargets {
  ingestion: Pick<IngestionService, 'writeDocuments' | 'checkDocument' | 'unchangedDocuments'>;
  merchants: Pick<MerchantService, 'exists' | 'provision'>;
  /** The merchant's dedicated vector index, for the deferred-index policy (LoadOptions.deferIndex). */
  indexes?: Pick<MerchantIndexService, 'drop' | 'maintain'>;
}

export interface LoadOptions {
  merchantName?: string;
  /** Documents per transaction (default 100): fewer, larger statements (docs/INGESTION.md). */
  batchSize?: number;
  /** Batches in flight at once (default 2): one is chunked and embedded while another waits on the database. */
  concurrency?: number;
  /**
   * Drop (true, or when the folder holds at least minFiles documents) the merchant's dedicated HNSW index before writing and rebuild it (CONCURRENTLY) afterwards, also after a
   * failure (and build it if the load made the merchant large enough to need one), instead of inserting every new chunk into the graph one by one. Retrieval meanwhile uses the
   * quantized scan (same recall, slower). Inserting into an m=32/ef_construction=128 graph costs about 17× the
   * rest of a write (docs/benchmarks/ingestion.md), so a bulk load gains whenever it adds more than a small
   * fraction of the merchant. A crash leaves the index missing: the gateway's background build or
   * `npm run vector-index` rebuilds it.
   */
  deferIndex?: boolean | { minFiles: number };
  /**
   * With deferIndex, what is built at the end: 'always' (default) builds whatever the merchant needs; 'dropped'
   * only rebuilds an index the load dropped, and leaves a merchant's first index to `npm run vector-index` or the
   * gateway's background build — its cost is the index's, not the write's, and retrieval is exact or quantized
   * (calibrated recall) until it exists.
   */
  buildIndex?: 'always' | 'dropped';
  /** Told when the index is dropped and when it is rebuilt. */
  onIndex?: (event: 'dropped' | 'rebuilding' | 'rebuilt', indexes: string[]) => void;
  /**
   * Blocks repeated across the folder's files are stripped from the stored text (boilerplate.ts), with these
   * thresholds; false keeps every file's text whole. Default: on, with BOILERPLATE_DEFAULTS.
   */
  boilerplate?: false | BoilerplateOptions;
  /** Called after each document is written or skipped, in completion order. */
  onProgress?: (done: number, total: number, file: string) => void;
}

/** What the check pass found: how many documents, and the boilerplate the write pass strips. */
interface FolderCheck {
  total: number;
  boilerplate: Boilerplate;
}

const DOCUMENT_FILE = /\.(md|markdown|txt|html?)$/i;
const HTML_FILE = /\.html?$/i;

/**
 * `.md`/`.markdown`/`.txt`/`.html`/`.htm` files under `dir`, depth first, names sorted within each folder so ids and progress are
 * stable from run to run. Streamed: memory holds one folder's entry names at a time, not the whole tree.
 */
export async function* walkDocumentFiles(dir: string): AsyncGenerator<string> {
  const entries = (await fs.promises.readdir(dir, { withFileTypes: true }))
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walkDocumentFiles(full);
    else if (entry.isFile() && DOCUMENT_FILE.test(entry.name)) yield full;
  }
}

/** The files walkDocumentFiles yields, in the same order, as a list (small folders: evaluation sets, tests). */
export function listDocumentFiles(dir: string): string[] {
  assertFolder(dir);
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs
      .readdirSync(d, { withFileTypes: true })
      .filter((x) => !x.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && DOCUMENT_FILE.test(e.name)) out.push(full);
    }
  };
  walk(dir);
  return out;
}

function assertFolder(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw badInput(`${dir} is not a folder`);
}

/**
 * Reads one file: front matter `id`, `title`, `acl`, `metadata`; the file name (without extension) is the
 * default id and the first `# heading` (or the file name) the default title. An HTML file takes the same front
 * matter before its markup, and is converted to Markdown (html-source.ts); its `<title>`, else its first `<h1>`,
 * is the default title.
 */
export function readDocumentFile(file: string): IngestDocumentCommand {
  let parsed: { attributes: Record<string, unknown>; body: string };
  try {
    parsed = parseFrontMatter(fs.readFileSync(file, 'utf8'), { file });
  } catch (err) {
    throw badInput(err instanceof Error ? err.message : String(err)); // names the file and line
  }
  const { attributes: a } = parsed;
  const html = HTML_FILE.test(file) ? htmlToMarkdown(parsed.body) : null;
  const body = html ? html.markdown : parsed.body;
  const base = path.parse(file).name;
  const heading = html?.title ?? /^#\s+(.+)$/m.exec(body)?.[1]?.trim();
  if (a.acl !== undefined && (!Array.isArray(a.acl) || !a.acl.every((p) => typeof p === 'string'))) {
    throw badInput(`${file}: acl must be a list of principals`);
  }
  if (a.id !== undefined && typeof a.id !== 'string' && typeof a.id !== 'number')
    throw badInput(`${file}: id must be a string`);
  return {
    id: a.id !== undefined ? String(a.id) : base,
    title: typeof a.title === 'string' ? a.title : (heading ?? base),
    text: body,
    acl: a.acl ?? [],
    metadata: a.metadata ?? {},
  };
}

/** A domain error of one file, named by its path relative to the folder. */
function inFile(dir: string, file: string, err: unknown): unknown {
  if (err instanceof DomainError && !err.message.startsWith(file)) {
    return new DomainError(err.code, `${path.relative(dir, file)}: ${err.message}`, err.details);
  }
  return err;
}

/**
 * The check pass: every file is read and checked (front matter, ids, text, ACL, metadata, an id used by two files)
 * before anything is written, the merchant included; only the ids are kept (to find duplicates), and the
 * boilerplate detector counts repeated blocks. Throws the first bad file's error, named by its path.
 */
async function checkFolder(
  dir: string,
  check: (command: IngestDocumentCommand) => DocumentWrite,
  boilerplateOptions?: false | BoilerplateOptions,
): Promise<FolderCheck> {
  assertFolder(dir);
  const owners = new Map<string, string>(); // id → file: the only state kept per file
  const detector = boilerplateOptions === false ? null : new BoilerplateDetector(boilerplateOptions);
  for await (const file of walkDocumentFiles(dir)) {
    let row: DocumentWrite;
    try {
      const command = readDocumentFile(file);
      row = check(command);
      detector?.add(command.text);
    } catch (err) {
      throw inFile(dir, file, err);
    }
    const prev = owners.get(row.id);
    if (prev) throw badInput(`document id ${row.id} is used by both ${prev} and ${file}`);
    owners.set(row.id, file);
  }
  return { total: owners.size, boilerplate: detector?.finish() ?? Boilerplate.none() };
}

/**
 * Ingests a folder for one merchant, creating the merchant if needed. Two streamed passes over the files:
 *
 * 1. check (checkFolder): every file is read and checked before anything is written, the merchant included;
 * 2. write: batches of `batchSize` documents, each batch one transaction (all of it or none of it),
 *    `concurrency` batches in flight. Documents stored exactly so are skipped before chunking and embedding.
 *
 * Resumable: what was committed stays when the load is interrupted (a crash, a failed batch), and a rerun skips
 * it cheaply and continues; changed files re-embed only their changed chunks.
 */
export async function loadFolder(
  services: LoaderTargets,
  merchantId: string,
  dir: string,
  opts: LoadOptions = {},
): Promise<LoadSummary> {
  const started = Date.now();
  assertFolder(dir);
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const concurrency = Math.max(1, opts.concurrency ?? 2);

  const { total, boilerplate } = await checkFolder(
    dir,
    (c) => services.ingestion.checkDocument(c),
    opts.boilerplate,
  );

  if (!(await services.merchants.exists(merchantId))) {
    await services.merchants.provision({ id: merchantId, name: opts.merchantName ?? merchantId });
  }
  const summary: LoadSummary = {
    files: total,
    created: 0,
    updated: 0,
    skipped: 0,
    chunks: 0,
    embedded: 0,
    reused: 0,
    warnings: [],
    ms: 0,
    indexRebuildMs: 0,
    boilerplate: { blocks: boilerplate.blocks(10), documents: 0, removedBlocks: 0, keptWhole: 0 },
  };
  let done = 0;
  const progress = (file: string): void => opts.onProgress?.(++done, total, file);

  // eslint-disable-next-line prefer-const -- assigned below, used by writeBatch once batches run
  let dropIndexOnce: () => Promise<string[]>;
  const writeBatch = async (files: string[]): Promise<void> => {
    const commands = files.map((f) => {
      try {
        const command = readDocumentFile(f);
        return { ...command, text: boilerplate.strip(command.text) };
      } catch (err) {
        throw inFile(dir, f, err); // changed since the check pass
      }
    });
    const unchanged = await services.ingestion.unchangedDocuments(
      merchantId,
      commands.map((c) => services.ingestion.checkDocument(c)),
    );
    const todo = commands.map((c, i) => ({ c, file: files[i] })).filter(({ c }) => !unchanged.has(c.id!));
    for (const [i, c] of commands.entries()) {
      if (unchanged.has(c.id!)) {
        summary.skipped++;
        progress(files[i]);
      }
    }
    if (todo.length === 0) return;
    await dropIndexOnce();
    const results = await services.ingestion.writeDocuments(
      merchantId,
      todo.map((t) => t.c),
    );
    results.forEach((r, j) => {
      if (r.unchanged) summary.skipped++;
      else if (r.created) summary.created++;
      else summary.updated++;
      summary.chunks += r.chunkCount;
      summary.embedded += r.embeddedChunks;
      summary.reused += r.reusedChunks;
      for (const w of r.warnings) summary.warnings.push(`${path.relative(dir, todo[j].file)}: ${w}`);
      progress(todo[j].file);
    });
  };

  const deferIndex =
    typeof opts.deferIndex === 'object' ? total >= opts.deferIndex.minFiles : opts.deferIndex === true;
  // Dropped before the first batch that writes, not before the load: a rerun that only skips keeps its index.
  let dropping: Promise<string[]> | undefined;
  dropIndexOnce = (): Promise<string[]> =>
    (dropping ??=
      deferIndex && services.indexes
        ? services.indexes.drop(merchantId).then((names) => {
            if (names.length > 0) opts.onIndex?.('dropped', names);
            return names;
          })
        : Promise.resolve([]));
  try {
    await writeAll(dir, batchSize, concurrency, writeBatch, () => ({ total, summary }));
  } finally {
    // After any write: an index the load dropped is rebuilt; with buildIndex 'always', a merchant the load made
    // large enough gets its first index now too.
    const dropped = dropping === undefined ? [] : await dropping.catch(() => []);
    if (
      deferIndex &&
      services.indexes &&
      dropping !== undefined &&
      (opts.buildIndex !== 'dropped' || dropped.length > 0)
    ) {
      opts.onIndex?.('rebuilding', dropped);
      const t0 = Date.now();
      const built = await services.indexes.maintain({ merchantId }).catch((err: unknown) => {
        throw new Error(
          `every document is loaded, but building the dedicated vector index failed ` +
            `(${err instanceof Error ? err.message : String(err)}); retrieval uses the quantized scan until ` +
            `\`npm run vector-index -- --merchant ${merchantId}\` or the gateway's background build makes it`,
          { cause: err },
        );
      });
      summary.indexRebuildMs = Date.now() - t0;
      opts.onIndex?.(
        'rebuilt',
        built.map((b) => `${b.merchantId}/${b.dimensions}`),
      );
    }
  }
  summary.boilerplate.documents = boilerplate.stats.documents;
  summary.boilerplate.removedBlocks = boilerplate.stats.blocks;
  summary.boilerplate.keptWhole = boilerplate.stats.keptWhole;
  summary.ms = Date.now() - started;
  return summary;
}

/**
 * The write pass: a bounded pool of batches in flight. The first failure stops new batches, lets the others
 * finish, and is reported with what is committed (a rerun continues from there).
 */
async function writeAll(
  dir: string,
  batchSize: number,
  concurrency: number,
  writeBatch: (files: string[]) => Promise<void>,
  state: () => { total: number; summary: LoadSummary },
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const launch = (files: string[]): void => {
    const p: Promise<void> = writeBatch(files)
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  let batch: string[] = [];
  for await (const file of walkDocumentFiles(dir)) {
    if (failure !== undefined) break;
    batch.push(file);
    if (batch.length < batchSize) continue;
    launch(batch);
    batch = [];
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  if (batch.length > 0 && failure === undefined) launch(batch);
  await Promise.all(inFlight);
  if (failure !== undefined) {
    const { total, summary } = state();
    const written = summary.created + summary.updated + summary.skipped;
    const note = ` (${written} of ${total} documents are loaded and stay so; run the same command again to continue)`;
    if (failure instanceof DomainError)
      throw new DomainError(failure.code, failure.message + note, failure.details);
    if (failure instanceof Error) {
      failure.message += note;
      throw failure;
    }
    throw new Error(`the load failed${note}`, { cause: failure });
  }
}
