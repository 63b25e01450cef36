import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createServices } from '../app';
import { loadConfig } from '../config/config';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';
import { progressPrinter } from './progress';

const HELP = `Usage: npm run reembed -- --merchant <id> --model <name> --dimensions <n> [--restart]

Re-embeds the merchant's corpus with another model into a new corpus version while retrieval keeps serving the
active one; verifies it (every chunk present, every vector of the right size), switches to it atomically and
deletes the old rows. Safe to interrupt: run the same command again to resume. Models named local-hash* use the
offline embedder; others go to OPENAI_BASE_URL with OPENAI_API_KEY.

  --restart   abandon an unfinished re-embedding to a different model and start over`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      merchant: { type: 'string' },
      model: { type: 'string' },
      dimensions: { type: 'string' },
      restart: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.merchant || !values.model || !values.dimensions) {
    console.error(HELP);
    process.exit(2);
  }
  const config = loadConfig();
  const db = await openDatabase(config, { migrate: true });
  try {
    const services = createServices(config, db, createEmbedder(config));
    const copy = progressPrinter('re-embedding');
    const cleanup = progressPrinter('removing old version');
    const report = await services.reembed.run(values.merchant, {
      model: values.model,
      dimensions: Number(values.dimensions),
      restart: values.restart,
      onProgress: (p) => {
        if (p.phase === 'copy') copy(p.done, p.total, 'sources');
        if (p.phase === 'cleanup' && p.done > 0) cleanup(p.done, p.total, 'chunks');
      },
    });
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
