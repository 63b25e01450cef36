import { embeddingDimensionsProblem, endpointNeedsKey } from '../config/config';
import { progressPrinter } from './progress';
import { loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';

const HELP = `Usage: npm run reembed -- --merchant <id> --model <name> --dimensions <n> [--restart]

Re-embeds the merchant's corpus with another model into a new corpus version while retrieval keeps serving the
active one; verifies it (every chunk present, every vector of the right size), switches to it atomically and
deletes the old rows. Safe to interrupt: run the same command again to resume. Models named local-hash* use the
offline embedder; others go to OPENAI_BASE_URL with OPENAI_API_KEY.

  --restart   abandon an unfinished re-embedding to a different model and start over`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(HELP, {
    options: {
      merchant: { type: 'string' },
      model: { type: 'string' },
      dimensions: { type: 'string' },
      restart: { type: 'boolean', default: false },
    },
  });
  if (!values.merchant || !values.model || !values.dimensions) {
    usageError(HELP, '--merchant, --model and --dimensions are required');
  }
  const dimensions = Number(values.dimensions);
  const problem = embeddingDimensionsProblem(values.model, dimensions);
  if (problem !== undefined) usageError(HELP, `--dimensions ${values.dimensions}: ${problem}`);
  const config = loadCommandConfig();
  // Checked now, not after the provider's retries: a missing key would surface as "provider unreachable".
  if (
    !values.model.startsWith('local-hash') &&
    !config.embedding.apiKey &&
    endpointNeedsKey(config.embedding.baseUrl)
  ) {
    usageError(HELP, `${values.model} is served by ${config.embedding.baseUrl}, which needs OPENAI_API_KEY`);
  }
  const { openCommandServices } = await import('./command-services');
  const { db, services } = await openCommandServices(config, 'reembed');
  try {
    const copy = progressPrinter('re-embedding');
    const cleanup = progressPrinter('removing old version');
    const report = await services.reembed.run(values.merchant, {
      model: values.model,
      dimensions,
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

runCommand(main);
