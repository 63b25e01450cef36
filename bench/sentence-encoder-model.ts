import { spawn } from 'node:child_process';
import path from 'node:path';
import { log } from './bench-utils';

/**
 * The benchmarks' dense model: bench/sentence-encoder-server.ts in a process of its own (the model computes on its
 * thread for seconds per batch, which would stall a benchmark's own timers and sockets), reached through the
 * product's OpenAI-compatible provider. Naming it here loads no model.
 */
export const SENTENCE_ENCODER_MODEL = 'universal-sentence-encoder-lite';
export const SENTENCE_ENCODER_DIMENSIONS = 512;

/** Starts the server; `env` is the provider configuration that reaches it. */
export async function startSentenceEncoder(): Promise<{ env: Record<string, string>; stop(): void }> {
  const server = spawn(process.execPath, [path.join(__dirname, 'sentence-encoder-server.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () => server.kill();
  // Whatever way the benchmark ends (an error, a usage error's exit), the model's process goes with it.
  process.on('exit', stop);
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('error', reject);
    server.on('exit', (code, signal) =>
      reject(new Error(`sentence-encoder-server exited (${signal ?? `code ${String(code)}`})`)),
    );
  });
  log(`${SENTENCE_ENCODER_MODEL} served on port ${port}`);
  return {
    env: {
      EMBEDDING_PROVIDER: 'openai',
      OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
      EMBEDDING_MODEL: SENTENCE_ENCODER_MODEL,
      EMBEDDING_DIMENSIONS: String(SENTENCE_ENCODER_DIMENSIONS),
      // The model runs on the CPU: a batch of long manual sections takes seconds.
      EMBEDDING_TIMEOUT_MS: '300000',
    },
    stop,
  };
}
