import 'reflect-metadata';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createServices } from '../app';
import { DomainError } from '../common/errors/domain-error';
import { loadConfig } from '../config/config';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';
import { loadFolder } from '../ingestion/folder-loader';
import { progressPrinter } from './progress';

const HELP = `Usage: npm run load -- --merchant <id> [--name "Merchant name"] <folder>

Ingests every .md/.txt file under <folder> for the merchant (created if it does not exist), into DATABASE_URL
or the embedded database. Front matter sets id, title, acl and metadata:

  ---
  id: d7
  title: Refund Policy
  acl: [role:agent, role:contractor]
  metadata: { category: refund }
  ---

The file name is the default id, the first "# heading" the default title. Idempotent: unchanged files are
skipped; changed ones re-embed only their changed chunks. An empty or missing acl means nobody can read.`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.merchant || positionals.length !== 1) {
    console.error(HELP);
    process.exit(2);
  }
  const folder = path.resolve(positionals[0]);
  const config = loadConfig();
  const db = await openDatabase(config, { migrate: true });
  try {
    const services = createServices(config, db, createEmbedder(config));
    const s = await loadFolder(services, values.merchant, folder, {
      merchantName: values.name,
      onProgress: progressPrinter(`loading ${values.merchant}`),
    });
    console.log(
      `Loaded ${s.files} files into ${values.merchant} (${db.description}) in ${(s.ms / 1000).toFixed(1)} s: ` +
        `${s.created} created, ${s.updated} updated, ${s.skipped} skipped (unchanged); ` +
        `${s.chunks} chunks, ${s.embedded} embedded, ${s.reused} reused.`,
    );
    for (const w of s.warnings) console.warn(`warning: ${w}`);
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof DomainError || err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
