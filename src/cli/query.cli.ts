import { principalsFor } from '../auth/identity';
import { type RetrievalMode } from '../retrieval/retrieval.service';
import { integerOption, loadCommandConfig, parseCommandLine, runCommand, usageError } from './command-line';

const HELP = `Usage: npm run query -- --merchant m01 --user u1 [--roles agent] [--k 3] [--mode hybrid|vector|keyword] "where is my refund"

Prints the top chunks the given user may read, with similarity, score, citation and source, straight from
DATABASE_URL or the embedded database (while a gateway holds the embedded database, ask it instead: the
retrieveChunks query, README "Ask as Alice"). An admin tool:
it acts as the user you name. --roles defaults to "agent".`;

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(HELP, {
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      user: { type: 'string' },
      roles: { type: 'string', default: 'agent' },
      k: { type: 'string', default: '3' },
      mode: { type: 'string', default: 'hybrid' },
    },
  });
  const question = positionals.join(' ');
  if (!values.merchant || !values.user || !question)
    usageError(HELP, '--merchant, --user and a question are required');
  if (!['hybrid', 'vector', 'keyword'].includes(values.mode)) {
    usageError(HELP, `--mode ${values.mode}: expected hybrid, vector or keyword`);
  }
  const k = integerOption(HELP, 'k', values.k, 3);
  const config = loadCommandConfig();
  const { openCommandServices } = await import('./command-services');
  const { db, services } = await openCommandServices(config, 'query');
  try {
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
      k,
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

runCommand(main);
