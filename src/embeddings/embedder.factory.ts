import { type Config } from '../config/config';
import { type Embedder } from './embedder';
import { LocalHashEmbedder } from './local-hash.embedder';
import { OpenAIEmbedder } from './openai.embedder';

export function createEmbedder(config: Config): Embedder {
  const e = config.embedding;
  switch (e.provider) {
    case 'local':
      return new LocalHashEmbedder(e.dimensions, e.model);
    case 'openai':
      return new OpenAIEmbedder({
        baseUrl: e.baseUrl,
        apiKey: e.apiKey,
        model: e.model,
        dimensions: e.dimensions,
        timeoutMs: e.timeoutMs,
        batchSize: e.batchSize,
        concurrency: e.concurrency,
        maxRetries: e.maxRetries,
      });
  }
}
