import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { DomainError } from '../src/common/errors/domain-error';
import { ErrorCode } from '../src/common/errors/error-code';
import { OpenAIEmbedder, type OpenAIEmbedderOptions } from '../src/embeddings/openai.embedder';

const DIMS = 8;

interface EmbeddingsRequest {
  model: string;
  input: string[];
  dimensions: number;
}

interface SeenRequest {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: EmbeddingsRequest;
}

type Handler = (req: SeenRequest, res: ServerResponse, attempt: number) => void;

/** A distinct, deterministic vector per input text, so the tests can tell which vector belongs to which input. */
function fakeVector(text: string): number[] {
  let seed = 0;
  for (const ch of text) seed = (seed * 31 + ch.charCodeAt(0)) % 1000;
  return Array.from({ length: DIMS }, (_, j) => seed + j / 10);
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  // `connection: close` keeps the client from reusing a socket a later test might have closed.
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function answer(
  res: ServerResponse,
  body: EmbeddingsRequest,
  data = body.input.map((t, index) => ({ index, embedding: fakeVector(t) })),
): void {
  send(res, 200, { object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } });
}

const ok: Handler = (req, res) => answer(res, req.body);

let server: http.Server;
let baseUrl: string;
let seen: SeenRequest[];
let handler: Handler;
const pendingTimers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: SeenRequest = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as EmbeddingsRequest,
      };
      seen.push(request);
      if (req.method !== 'POST' || req.url !== '/embeddings') {
        send(res, 404, { error: { message: 'not found' } });
        return;
      }
      handler(request, res, seen.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  seen = [];
  handler = ok;
});

afterEach(() => {
  for (const t of pendingTimers) clearTimeout(t);
  pendingTimers.clear();
  server.closeAllConnections();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
});

function makeEmbedder(overrides: Partial<OpenAIEmbedderOptions> = {}): OpenAIEmbedder {
  return new OpenAIEmbedder({
    baseUrl,
    apiKey: 'sk-test-key',
    model: 'text-embedding-3-small',
    dimensions: DIMS,
    timeoutMs: 5_000,
    maxRetries: 2,
    retryBaseMs: 5,
    ...overrides,
  });
}

async function expectEmbeddingFailed(promise: Promise<unknown>, message: RegExp): Promise<void> {
  let caught: unknown = undefined;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DomainError);
  const error = caught as DomainError;
  expect(error.code).toBe(ErrorCode.EMBEDDING_FAILED);
  expect(error.message).toMatch(message);
}

describe('OpenAIEmbedder against a local OpenAI-compatible server', () => {
  it('posts {model, input, dimensions} to /embeddings and returns one vector per input', async () => {
    const embedder = makeEmbedder();
    expect(embedder.model).toBe('text-embedding-3-small');
    expect(embedder.dimensions).toBe(DIMS);

    const vectors = await embedder.embed(['refund', 'shipping', 'password']);

    expect(vectors).toEqual([fakeVector('refund'), fakeVector('shipping'), fakeVector('password')]);
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('POST');
    expect(seen[0].url).toBe('/embeddings');
    expect(seen[0].headers['content-type']).toBe('application/json');
    expect(seen[0].body).toEqual({
      model: 'text-embedding-3-small',
      input: ['refund', 'shipping', 'password'],
      dimensions: DIMS,
    });
  });

  it('returns vectors in input order when the server shuffles `data` (index is authoritative)', async () => {
    handler = (req, res) => {
      const data = req.body.input.map((t, index) => ({ index, embedding: fakeVector(t) }));
      answer(res, req.body, [data[2], data[0], data[3], data[1]]);
    };
    const texts = ['first', 'second', 'third', 'fourth'];
    const vectors = await makeEmbedder().embed(texts);
    expect(vectors).toEqual(texts.map(fakeVector));
  });

  it('sends no request for an empty input list', async () => {
    await expect(makeEmbedder().embed([])).resolves.toEqual([]);
    expect(seen).toHaveLength(0);
  });

  it('splits the inputs into batches of batchSize (5 inputs, batchSize 2: 3 requests)', async () => {
    const texts = ['t0', 't1', 't2', 't3', 't4'];
    const vectors = await makeEmbedder({ batchSize: 2 }).embed(texts);

    expect(vectors).toEqual(texts.map(fakeVector));
    expect(seen.map((r) => r.body.input)).toEqual([['t0', 't1'], ['t2', 't3'], ['t4']]);
    expect(seen.every((r) => r.body.dimensions === DIMS && r.body.model === 'text-embedding-3-small')).toBe(
      true,
    );
  });

  it('sends the API key as a bearer token, and no Authorization header without a key', async () => {
    await makeEmbedder().embed(['a']);
    expect(seen[0].headers.authorization).toBe('Bearer sk-test-key');

    await makeEmbedder({ apiKey: undefined }).embed(['a']);
    expect(seen[1].headers.authorization).toBeUndefined();
  });

  it('retries a 429 after Retry-After: 0 and then succeeds (2 requests)', async () => {
    handler = (req, res, attempt) => {
      if (attempt === 1) send(res, 429, { error: { message: 'rate limited' } }, { 'retry-after': '0' });
      else ok(req, res, attempt);
    };
    const vectors = await makeEmbedder().embed(['x', 'y']);
    expect(vectors).toEqual([fakeVector('x'), fakeVector('y')]);
    expect(seen).toHaveLength(2);
    expect(seen[1].body).toEqual(seen[0].body);
  });

  it('retries 500 three times and succeeds on the fourth request with maxRetries 4', async () => {
    handler = (req, res, attempt) => {
      if (attempt <= 3) send(res, 500, { error: { message: 'boom' } });
      else ok(req, res, attempt);
    };
    const vectors = await makeEmbedder({ maxRetries: 4 }).embed(['x']);
    expect(vectors).toEqual([fakeVector('x')]);
    expect(seen).toHaveLength(4);
  });

  it('gives up with EMBEDDING_FAILED after maxRetries + 1 requests when the server keeps answering 500', async () => {
    handler = (_req, res) => send(res, 500, { error: { message: 'boom' } });
    await expectEmbeddingFailed(makeEmbedder({ maxRetries: 3 }).embed(['x']), /HTTP 500 after 4 attempts/);
    expect(seen).toHaveLength(4);
  });

  it('gives up on 503 and 429 too when they persist', async () => {
    handler = (_req, res) => send(res, 503, 'unavailable');
    await expectEmbeddingFailed(makeEmbedder({ maxRetries: 1 }).embed(['x']), /HTTP 503/);
    expect(seen).toHaveLength(2);

    handler = (_req, res) => send(res, 429, 'slow down', { 'retry-after': '0' });
    await expectEmbeddingFailed(makeEmbedder({ maxRetries: 1 }).embed(['x']), /HTTP 429/);
    expect(seen).toHaveLength(4);
  });

  it('fails at once without retrying on 400', async () => {
    handler = (_req, res) => send(res, 400, { error: { message: 'bad input' } });
    await expectEmbeddingFailed(makeEmbedder({ maxRetries: 4 }).embed(['x']), /HTTP 400/);
    expect(seen).toHaveLength(1);
  });

  it('rejects the whole call when a later batch fails', async () => {
    handler = (req, res, attempt) => {
      if (attempt === 1) ok(req, res, attempt);
      else send(res, 401, { error: { message: 'bad key' } });
    };
    await expectEmbeddingFailed(makeEmbedder({ batchSize: 1 }).embed(['a', 'b']), /HTTP 401/);
    expect(seen).toHaveLength(2);
  });

  it('fails with EMBEDDING_FAILED when a vector has the wrong dimension', async () => {
    handler = (req, res) =>
      answer(res, req.body, [
        { index: 0, embedding: fakeVector('a') },
        { index: 1, embedding: fakeVector('b').slice(0, DIMS - 1) },
      ]);
    await expectEmbeddingFailed(makeEmbedder().embed(['a', 'b']), /vector 1 has 7 dimensions, expected 8/);
    expect(seen).toHaveLength(1);
  });

  it('fails with EMBEDDING_FAILED when a vector contains null (a non-finite value)', async () => {
    handler = (_req, res) => {
      const embedding: (number | null)[] = fakeVector('a');
      embedding[3] = null;
      send(res, 200, { data: [{ index: 0, embedding }], model: 'm' });
    };
    await expectEmbeddingFailed(makeEmbedder().embed(['a']), /non-finite/);
  });

  it('fails with EMBEDDING_FAILED when the body is not JSON', async () => {
    handler = (_req, res) => send(res, 200, '{"data":[{"index":0,"embedding":[NaN]}]}');
    await expectEmbeddingFailed(makeEmbedder().embed(['a']), /not JSON/);
    expect(seen).toHaveLength(1);
  });

  it('fails with EMBEDDING_FAILED when there are fewer vectors than inputs', async () => {
    handler = (req, res) => answer(res, req.body, [{ index: 0, embedding: fakeVector('a') }]);
    await expectEmbeddingFailed(makeEmbedder().embed(['a', 'b', 'c']), /expected 3 vectors, got 1/);
  });

  it('fails with EMBEDDING_FAILED when `data` is missing', async () => {
    handler = (_req, res) => send(res, 200, { model: 'm' });
    await expectEmbeddingFailed(makeEmbedder().embed(['a']), /expected 1 vectors, got 0/);
  });

  // BUG: a 200 whose JSON body is `null` makes `body.data` throw a TypeError, which escapes as a plain error (masked
  // as INTERNAL_SERVER_ERROR) instead of EMBEDDING_FAILED like every other malformed provider answer.
  it('fails with EMBEDDING_FAILED when the JSON body is null', async () => {
    handler = (_req, res) => send(res, 200, 'null');
    await expectEmbeddingFailed(makeEmbedder().embed(['a']), /Embedding failed/);
  });

  it('fails with EMBEDDING_FAILED, without retrying, when the server does not answer within timeoutMs', async () => {
    handler = (req, res) => {
      const timer = setTimeout(() => ok(req, res, 0), 500);
      pendingTimers.add(timer);
    };
    const started = Date.now();
    await expectEmbeddingFailed(
      makeEmbedder({ timeoutMs: 100, maxRetries: 2 }).embed(['a']),
      /did not answer within 100 ms/,
    );
    expect(Date.now() - started).toBeLessThan(450);
    expect(seen).toHaveLength(1);
  });

  it('fails with EMBEDDING_FAILED when nothing listens on the port (connection refused)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    await expectEmbeddingFailed(
      makeEmbedder({ baseUrl: `http://127.0.0.1:${port}`, maxRetries: 2 }).embed(['a']),
      /unreachable/,
    );
    expect(seen).toHaveLength(0);
  });

  it('fails at once, naming OPENAI_API_KEY, when a remote endpoint is called without a key', async () => {
    const started = Date.now();
    await expectEmbeddingFailed(
      makeEmbedder({
        baseUrl: 'https://api.openai.com/v1',
        apiKey: undefined,
        maxRetries: 4,
        retryBaseMs: 500,
      }).embed(['a']),
      /OPENAI_API_KEY is not set/,
    );
    expect(Date.now() - started).toBeLessThan(500); // no request, no backoff (4 retries would take 7.5 s)
  });

  it('names OPENAI_API_KEY when the provider answers 401', async () => {
    handler = (_req, res) => send(res, 401, { error: { message: 'Incorrect API key provided' } });
    await expectEmbeddingFailed(makeEmbedder().embed(['a']), /HTTP 401 \(check OPENAI_API_KEY\)/);
    expect(seen).toHaveLength(1);
  });
});
