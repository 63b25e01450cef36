import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createServices } from '../app';
import { principalsFor } from '../auth/identity';
import { loadConfig } from '../config/config';
import { openDatabase } from '../db/database';
import { createEmbedder } from '../embeddings/embedder.factory';
import { type RetrievalMode } from '../retrieval/retrieval.service';

const HELP = `Usage: npm run query -- --merchant m01 --user u1 [--roles agent] [--k 3] [--mode hybrid|vector|keyword] "where is my refund"

Prints the top chunks the given user may read, with similarity, score, citation and source, straight from
DATABASE_URL or the embedded database (stop the gateway first: its data directory is locked). An admin tool:
it acts as the user you name. --roles defaults to "agent".`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      user: { type: 'string' },
      roles: { type: 'string', default: 'agent' },
      k: { type: 'string', default: '3' },
      mode: { type: 'string', default: 'hybrid' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const question = positionals.join(' ');
  if (
    !values.merchant ||
    !values.user ||
    !question ||
    !['hybrid', 'vector', 'keyword'].includes(values.mode)
  ) {
    console.error(HELP);
    process.exit(2);
  }
  const config = loadConfig();
  const db = await openDatabase(config, { migrate: true });
  try {
    const services = createServices(config, db, createEmbedder(config));
    const roles = values.roles
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    // Acts as the named user through the same row-level security context as a request.
    const session = services.sessions.open({
      merchantId: values.merchant,
      userId: values.user,
      roles,
      principals: principalsFor(values.user, roles),
    });
    const result = await services.retrieval.retrieve(session, {
      query: question,
      k: Number(values.k),
      mode: values.mode as RetrievalMode,
    });
    console.log(
      `${result.chunks.length} chunks for ${values.user} (${roles.join(', ') || 'no roles'}) at ${values.merchant}, ` +
        `strategy ${result.strategy}, ${result.tookMs.toFixed(1)} ms\n`,
    );
    result.chunks.forEach((c, i) => {
      const source = c.documentId !== null ? `document ${c.documentId}` : `ticket ${c.ticketId}`;
      console.log(
        `${i + 1}. [${c.citation}]  similarity ${c.similarity.toFixed(3)}  score ${c.score.toFixed(3)}  (${source}, chunk ${c.chunkIndex})`,
      );
      console.log(`   ${c.text.replace(/\s+/g, ' ').slice(0, 240)}\n`);
    });
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
});
