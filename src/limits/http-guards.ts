import { type Server, STATUS_CODES } from 'node:http';
import express, { type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import { type GraphQLSchema } from 'graphql';
import { ErrorCode } from '../common/errors/error-code';
import { type Config } from '../config/config';
import { requestStateOf } from '../ops/request-context';
import { cachedShapeCheck } from './query-limits';

type ApiLimits = Config['api'];

/**
 * Errors raised before GraphQL sees the request, in the same shape as every other error: `{ errors: [{ message,
 * extensions: { code } }] }`. Express's default handler would answer with an HTML page and, outside production,
 * a stack trace.
 */
export function sendHttpError(
  res: Response,
  status: number,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): void {
  // The request log line and metrics (src/ops/http.ts) then report the limit's code, not a bare BAD_REQUEST.
  const state = requestStateOf(res);
  if (state) state.outcome = code;
  res.status(status).json({ errors: [{ message, extensions: { code, ...details } }] });
}

/**
 * The middleware in front of Apollo on the GraphQL route: content type, body size, JSON, batch, operation size and
 * shape (selections, depth, aliases).
 * Each refusal has its own code; none of them reaches a resolver or the database.
 */
export function graphqlRequestGuards(limits: ApiLimits, schema: GraphQLSchema): RequestHandler[] {
  const requireJson: RequestHandler = (req, res, next) => {
    // A POST in any other type is either a mistake or a cross-site form post (text/plain, form-urlencoded and
    // multipart are "simple" types browsers send without a CORS preflight): refuse it before reading the body.
    if (req.method === 'POST' && !req.is('application/json')) {
      sendHttpError(
        res,
        415,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        'POST a JSON body with Content-Type: application/json',
      );
      return;
    }
    next();
  };
  const shapeOf = cachedShapeCheck(schema, limits);
  const checkShape: RequestHandler = (req, res, next) => {
    const body: unknown = req.body;
    let operations: unknown[];
    if (req.method === 'GET') operations = [req.query];
    else if (Array.isArray(body)) {
      if (limits.maxBatchOperations === 0) {
        sendHttpError(
          res,
          400,
          ErrorCode.BATCH_NOT_ALLOWED,
          'Batched requests (a JSON array of operations) are not accepted; send one operation per request',
        );
        return;
      }
      if (body.length > limits.maxBatchOperations) {
        sendHttpError(
          res,
          400,
          ErrorCode.BATCH_TOO_LARGE,
          `A batch holds at most ${limits.maxBatchOperations} operations; got ${body.length}`,
        );
        return;
      }
      operations = body;
    } else operations = [body];
    for (const op of operations) {
      const query = op !== null && typeof op === 'object' ? (op as { query?: unknown }).query : undefined;
      if (typeof query === 'string' && query.length > limits.maxOperationChars) {
        sendHttpError(
          res,
          400,
          ErrorCode.QUERY_TOO_LARGE,
          `The operation text is ${query.length} characters long; the limit is ${limits.maxOperationChars}`,
        );
        return;
      }
      if (typeof query === 'string') {
        const refusal = shapeOf(query);
        if (refusal) {
          sendHttpError(res, 400, refusal.code, refusal.message, refusal.details);
          return;
        }
      }
    }
    next();
  };
  return [requireJson, express.json({ limit: limits.maxBodyBytes }), checkShape];
}

/** body-parser's errors carry a `type`; anything else here is our bug and is masked. */
export function graphqlHttpErrorHandler(
  limits: ApiLimits,
  onInternalError: (err: unknown, requestId: string | undefined) => void,
): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const type = (err as { type?: unknown } | null)?.type;
    switch (type) {
      case 'entity.too.large':
        sendHttpError(
          res,
          413,
          ErrorCode.PAYLOAD_TOO_LARGE,
          `The request body is larger than ${limits.maxBodyBytes} bytes`,
        );
        return;
      case 'entity.parse.failed':
        sendHttpError(res, 400, ErrorCode.BAD_REQUEST, 'The request body is not valid JSON');
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendHttpError(
          res,
          415,
          ErrorCode.UNSUPPORTED_MEDIA_TYPE,
          'Send the body as UTF-8 JSON, uncompressed or gzip/deflate',
        );
        return;
      case 'request.aborted':
      case 'request.size.invalid':
      case 'stream.encoding.set':
      case 'stream.not.readable':
        sendHttpError(res, 400, ErrorCode.BAD_REQUEST, 'The request body could not be read');
        return;
      default:
        if (isDecompressionError(err)) {
          sendHttpError(
            res,
            400,
            ErrorCode.BAD_REQUEST,
            'The request body is not valid data for its Content-Encoding (corrupt or truncated gzip/deflate/br)',
          );
          return;
        }
        onInternalError(err, requestStateOf(res)?.id);
        sendHttpError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  };
}

/**
 * zlib's errors from inflating a gzip/deflate/br body carry no body-parser `type`: a numeric `errno` and a `code`
 * such as Z_DATA_ERROR, Z_BUF_ERROR (truncated) or ERR__ERROR_FORMAT_… (brotli). They are the client's fault.
 */
function isDecompressionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, errno } = err as { code?: unknown; errno?: unknown };
  return typeof errno === 'number' && typeof code === 'string' && /^(Z_|ERR__ERROR_|ERR_BROTLI)/.test(code);
}

/**
 * Requests Node's HTTP parser refuses before Express sees them (headers over 16 KB, a malformed request line)
 * get the same JSON error shape instead of Node's bare "400 Bad Request".
 */
export function answerClientErrorsAsJson(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, message]: [number, ErrorCode, string] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, ErrorCode.HEADERS_TOO_LARGE, 'The request headers are larger than 16 KB']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, ErrorCode.BAD_REQUEST, 'The request took too long to arrive']
          : [400, ErrorCode.BAD_REQUEST, 'The HTTP request is malformed'];
    const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
