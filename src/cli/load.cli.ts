import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { createServices } from '../app';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';
import { listDocumentFiles, loadFolder, readDocumentFile } from '../ingestion/folder-loader';
import { loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';
import { openCommandDatabase } from './embedded-lock';
import { progressPrinter } from './progress';

const HELP = `Usage: npm run load -- --merchant <id> [--name "Merchant name"] <folder>
       npm run load -- --gateway http://127.0.0.1:4000/graphql --token <token> <folder>

Ingests every .md/.txt file under <folder> for the merchant (created if it does not exist), into DATABASE_URL
or the embedded database. Try it on the sample folder: npm run load -- --merchant m03 examples/help-center

With --gateway it loads through a running gateway's GraphQL API instead (ingestDocument, one request per file),
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
chunks. An empty or missing acl means nobody can read: such files are loaded with a warning.`;

const INGEST = `mutation Load($input: IngestDocumentInput!) {
  ingestDocument(input: $input) { chunkCount embeddedChunks reusedChunks unchanged warnings }
}`;

interface IngestResult {
  data?: {
    ingestDocument: {
      chunkCount: number;
      embeddedChunks: number;
      reusedChunks: number;
      unchanged: boolean;
      warnings: string[];
    } | null;
  };
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Loads a folder through a running gateway: what `load` does, with the gateway's own checks and transaction. */
async function loadThroughGateway(url: string, token: string, folder: string): Promise<void> {
  const started = Date.now();
  const files = listDocumentFiles(folder);
  const commands = files.map((f) => readDocumentFile(f)); // all checked before the first request
  const progress = progressPrinter('loading');
  const totals = { created: 0, skipped: 0, chunks: 0, embedded: 0, reused: 0 };
  const warnings: string[] = [];
  for (const [i, input] of commands.entries()) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: INGEST, variables: { input } }),
    }).catch((err: unknown) => {
      throw new Error(`${url} did not answer (${err instanceof Error ? err.message : String(err)})`);
    });
    const body = (await response.json().catch(() => ({}))) as IngestResult;
    const result = body.data?.ingestDocument;
    if (!result) {
      const e = body.errors?.[0];
      throw new Error(
        `${path.relative(folder, files[i])}: the gateway answered HTTP ${response.status}` +
          (e ? ` ${e.extensions?.code ?? ''}: ${e.message}` : '') +
          (i > 0 ? ` (the ${i} files before it are loaded; run again to resume)` : ''),
      );
    }
    if (result.unchanged) totals.skipped++;
    else totals.created++;
    totals.chunks += result.chunkCount;
    totals.embedded += result.embeddedChunks;
    totals.reused += result.reusedChunks;
    for (const w of result.warnings) warnings.push(`${path.relative(folder, files[i])}: ${w}`);
    progress(i + 1, commands.length, files[i]);
  }
  console.log(
    `Loaded ${files.length} files through ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
      `${totals.created} written, ${totals.skipped} skipped (unchanged); ${totals.chunks} chunks, ` +
      `${totals.embedded} embedded, ${totals.reused} reused.`,
  );
  for (const w of warnings) console.warn(`warning: ${w}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(HELP, {
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      name: { type: 'string' },
      gateway: { type: 'string' },
      token: { type: 'string' },
    },
  });
  if (positionals.length !== 1) usageError(HELP, 'give exactly one folder');
  const folder = path.resolve(positionals[0]);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory())
    usageError(HELP, `${folder} is not a folder`);
  if (values.gateway !== undefined) {
    if (!values.token) usageError(HELP, '--gateway needs --token (a token with a role in INGEST_ROLES)');
    if (values.merchant || values.name) {
      usageError(HELP, 'with --gateway the merchant is the token’s: leave out --merchant and --name');
    }
    return loadThroughGateway(values.gateway, values.token, folder);
  }
  if (!values.merchant) usageError(HELP, '--merchant is required (or --gateway with --token)');
  const merchant = values.merchant;
  const config = loadCommandConfig();
  const db = await openCommandDatabase(() => openDatabase(config, { migrate: true }), 'load');
  try {
    const services = createServices(config, db, createEmbedder(config));
    const s = await loadFolder(services, merchant, folder, {
      merchantName: values.name,
      onProgress: progressPrinter(`loading ${merchant}`),
    });
    console.log(
      `Loaded ${s.files} files into ${merchant} (${db.description}) in ${(s.ms / 1000).toFixed(1)} s: ` +
        `${s.created} created, ${s.updated} updated, ${s.skipped} skipped (unchanged); ` +
        `${s.chunks} chunks, ${s.embedded} embedded, ${s.reused} reused.`,
    );
    for (const w of s.warnings) console.warn(`warning: ${w}`);
  } finally {
    await db.close();
  }
}

runCommand(main);
