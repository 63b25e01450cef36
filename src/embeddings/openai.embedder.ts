import { endpointNeedsKey } from '../config/config';
import { type Embedder } from './embedder';
import { assertValidEmbeddings, embeddingFailed } from './embedding.errors';

export interface OpenAIEmbedderOptions {
  baseUrl: string;
  apiKey: string | undefined;
  model: string;
  dimensions: number;
  timeoutMs: number;
  batchSize?: number;
  /** Batches in flight at once. */
  concurrency?: number;
  maxRetries?: number;
  /** Base delay of the exponential backoff; tests shorten it. */
  retryBaseMs?: number;
}

interface EmbeddingsResponse {
  data?: { index?: number; embedding?: unknown }[];
}

/**
 * An OpenAI-compatible `/embeddings` client (OpenAI, Azure-style proxies, vLLM, Ollama's compatible endpoint).
 * Batches inputs, retries 429 and 5xx with exponential backoff and jitter (honouring Retry-After), times out each
 * call, and validates every vector before returning. Any failure rejects the whole call: callers write nothing.
 */
export class OpenAIEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;

  constructor(private readonly options: OpenAIEmbedderOptions) {
    this.model = options.model;
    this.dimensions = options.dimensions;
    this.batchSize = options.batchSize ?? 96;
    this.concurrency = options.concurrency ?? 4;
    this.maxRetries = options.maxRetries ?? 4;
    this.retryBaseMs = options.retryBaseMs ?? 500;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    const batches: (readonly string[])[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) batches.push(texts.slice(i, i + this.batchSize));
    const results: number[][][] = new Array<number[][]>(batches.length);
    let next = 0;
    let failed: Error | undefined;
    // A fixed number of workers pull batches in order; the first failure stops them taking new ones.
    const worker = async (): Promise<void> => {
      while (failed === undefined && next < batches.length) {
        const i = next++;
        try {
          results[i] = await this.embedBatch(batches[i]);
        } catch (err) {
          failed ??= err instanceof Error ? err : new Error(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
    if (failed !== undefined) throw failed;
    return results.flat();
  }

  private async embedBatch(batch: readonly string[]): Promise<number[][]> {
    // Without a key a remote provider can only refuse; failing here says why, instead of "unreachable" after
    // the retries when the network is down too.
    if (!this.options.apiKey && endpointNeedsKey(this.options.baseUrl)) {
      throw embeddingFailed(
        `OPENAI_API_KEY is not set, and ${this.options.baseUrl} needs one for ${this.model}`,
      );
    }
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.options.baseUrl}/embeddings`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
          },
          body: JSON.stringify({ model: this.model, input: batch, dimensions: this.dimensions }),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (err) {
        const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
        if (attempt < this.maxRetries && !timedOut) {
          await sleep(this.backoff(attempt, null));
          continue;
        }
        throw embeddingFailed(
          timedOut ? `provider did not answer within ${this.options.timeoutMs} ms` : 'provider unreachable',
        );
      }
      if (response.status === 429 || response.status >= 500) {
        await response.body?.cancel();
        if (attempt < this.maxRetries) {
          await sleep(this.backoff(attempt, response.headers.get('retry-after')));
          continue;
        }
        throw embeddingFailed(`provider answered HTTP ${response.status} after ${attempt + 1} attempts`);
      }
      if (!response.ok) {
        await response.body?.cancel();
        const hint = response.status === 401 || response.status === 403 ? ' (check OPENAI_API_KEY)' : '';
        throw embeddingFailed(`provider answered HTTP ${response.status}${hint}`);
      }
      let body: EmbeddingsResponse | null;
      try {
        body = (await response.json()) as EmbeddingsResponse | null;
      } catch {
        throw embeddingFailed('provider returned a body that is not JSON');
      }
      if (body === null || typeof body !== 'object')
        throw embeddingFailed('provider returned no embeddings object');
      const data = Array.isArray(body.data) ? [...body.data] : [];
      // The API may return items out of order; `index` is authoritative when present.
      data.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      return assertValidEmbeddings(
        data.map((d) => d.embedding),
        batch.length,
        this.dimensions,
      );
    }
  }

  private backoff(attempt: number, retryAfter: string | null): number {
    const seconds = retryAfter === null ? NaN : Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 60_000);
    const exp = this.retryBaseMs * 2 ** attempt;
    return exp / 2 + Math.random() * (exp / 2);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
