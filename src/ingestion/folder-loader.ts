import fs from 'node:fs';
import path from 'node:path';
import { badInput, DomainError } from '../common/errors/domain-error';
import { parseFrontMatter } from '../seed/front-matter';
import { type MerchantService } from '../merchants/merchant.service';
import { type IngestDocumentCommand, type IngestionService } from './ingestion.service';

export interface LoadSummary {
  files: number;
  created: number;
  updated: number;
  skipped: number;
  chunks: number;
  embedded: number;
  reused: number;
  warnings: string[];
  ms: number;
}

/** What the loader writes through, passed explicitly (the load command and tests pass their services). */
export interface LoaderTargets {
  ingestion: Pick<IngestionService, 'writeDocuments' | 'validateDocument'>;
  merchants: Pick<MerchantService, 'exists' | 'provision'>;
}

export interface LoadOptions {
  merchantName?: string;
  /** Documents per transaction. */
  batchSize?: number;
  onProgress?: (done: number, total: number, file: string) => void;
}

/** `.md` and `.txt` files under `dir`, sorted, so ids and progress are stable from run to run. */
export function listDocumentFiles(dir: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw badInput(`${dir} is not a folder`);
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of fs
      .readdirSync(d, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(md|markdown|txt)$/i.test(entry.name)) out.push(full);
    }
  };
  walk(dir);
  return out;
}

/**
 * Reads one file: front matter `id`, `title`, `acl`, `metadata`; the file name (without extension) is the
 * default id and the first `# heading` (or the file name) the default title.
 */
export function readDocumentFile(file: string): IngestDocumentCommand {
  let parsed: { attributes: Record<string, unknown>; body: string };
  try {
    parsed = parseFrontMatter(fs.readFileSync(file, 'utf8'), { file });
  } catch (err) {
    throw badInput(err instanceof Error ? err.message : String(err)); // names the file and line
  }
  const { attributes: a, body } = parsed;
  const base = path.parse(file).name;
  const heading = /^#\s+(.+)$/m.exec(body)?.[1]?.trim();
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

/**
 * Ingests a folder for one merchant, creating the merchant if needed. Idempotent: unchanged files write nothing
 * and are counted as skipped; changed ones re-embed only their changed chunks. Every file is read and
 * validated (including duplicate ids) before anything is written; each batch is one transaction.
 */
export async function loadFolder(
  services: LoaderTargets,
  merchantId: string,
  dir: string,
  opts: LoadOptions = {},
): Promise<LoadSummary> {
  const started = Date.now();
  const files = listDocumentFiles(dir);
  // Every file is read, validated and chunked before anything is written (the merchant included).
  const commands = files.map((file) => {
    try {
      const cmd = readDocumentFile(file);
      services.ingestion.validateDocument(cmd);
      return cmd;
    } catch (err) {
      if (err instanceof DomainError && !err.message.startsWith(file)) {
        throw new DomainError(err.code, `${path.relative(dir, file)}: ${err.message}`, err.details);
      }
      throw err;
    }
  });
  const seen = new Map<string, string>();
  commands.forEach((c, i) => {
    const prev = seen.get(c.id!);
    if (prev) throw badInput(`document id ${c.id} is used by both ${prev} and ${files[i]}`);
    seen.set(c.id!, files[i]);
  });
  if (!(await services.merchants.exists(merchantId))) {
    await services.merchants.provision({ id: merchantId, name: opts.merchantName ?? merchantId });
  }
  const summary: LoadSummary = {
    files: files.length,
    created: 0,
    updated: 0,
    skipped: 0,
    chunks: 0,
    embedded: 0,
    reused: 0,
    warnings: [],
    ms: 0,
  };
  const batch = opts.batchSize ?? 20;
  for (let i = 0; i < commands.length; i += batch) {
    const results = await services.ingestion.writeDocuments(merchantId, commands.slice(i, i + batch));
    results.forEach((r, j) => {
      if (r.unchanged) summary.skipped++;
      else if (r.created) summary.created++;
      else summary.updated++;
      summary.chunks += r.chunkCount;
      summary.embedded += r.embeddedChunks;
      summary.reused += r.reusedChunks;
      for (const w of r.warnings) summary.warnings.push(`${path.relative(dir, files[i + j])}: ${w}`);
      opts.onProgress?.(i + j + 1, commands.length, files[i + j]);
    });
  }
  summary.ms = Date.now() - started;
  return summary;
}
