import { type Identity } from '../auth/identity';
import { DomainError } from '../common/errors/domain-error';
import { ErrorCode } from '../common/errors/error-code';
import { normalizeOperationId, type OperationManifest } from './manifest';

export type TokenOperations = 'any' | 'manifest';

/** The parts of an HTTP GraphQL request the policy reads (and, for POST, rewrites). */
export interface OperationRequest {
  method: string;
  /** The parsed JSON body (POST); Apollo reads it after the context function, so rewriting it here takes effect. */
  body: unknown;
  /** GET search parameters. */
  searchParams: URLSearchParams;
}

const notAllowed = (message: string): DomainError =>
  new DomainError(ErrorCode.OPERATION_NOT_ALLOWED, message);

/**
 * Partners (API keys), and staff tokens when TOKEN_OPERATIONS=manifest, may run only safelisted operations. A
 * partner names one by id: `extensions.persistedQuery.sha256Hash` (Apollo's APQ link) or `documentId`
 * (`sha256:<hex>`, GraphQL Code Generator's form); a full query text is refused even when it matches, so a
 * partner integration cannot drift from the reviewed operations. A POST is rewritten to the manifest text; a GET
 * keeps its hash, which the APQ cache resolves from the manifest.
 */
export function enforceOperationPolicy(
  request: OperationRequest,
  identity: Identity | null,
  manifest: OperationManifest,
  tokenOperations: TokenOperations,
): void {
  if (identity === null) {
    // Anonymous requests fail in the resolvers anyway; they must not fill the shared APQ cache on the way.
    stripApqRegistration(request);
    return;
  }
  const partner = identity.credential?.kind === 'apiKey';
  if (!partner && tokenOperations === 'any') return;
  const who = partner ? 'API keys' : 'Tokens on this gateway';

  let query: unknown;
  let documentId: unknown;
  let extensions: unknown;
  if (request.method === 'GET') {
    query = request.searchParams.get('query') ?? undefined;
    documentId = request.searchParams.get('documentId') ?? undefined;
    const raw = request.searchParams.get('extensions');
    try {
      extensions = raw === null ? undefined : JSON.parse(raw);
    } catch {
      extensions = undefined; // Apollo reports malformed JSON itself
    }
  } else {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw notAllowed(`${who} may run only persisted operations, one per request`);
    }
    ({ query, documentId, extensions } = body as Record<string, unknown>);
  }
  const persisted = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery;
  const apqHash = persisted?.sha256Hash;
  // Apollo runs what the APQ hash names and ignores documentId: a request carrying both must name one operation,
  // or a safelisted documentId would let the hash of any cached query through (on GET, which is not rewritten).
  if (documentId !== undefined && persisted !== undefined) {
    const a = typeof documentId === 'string' ? normalizeOperationId(documentId) : undefined;
    const b = typeof apqHash === 'string' ? normalizeOperationId(apqHash) : undefined;
    if (a === undefined || a !== b) {
      throw notAllowed(
        'documentId and extensions.persistedQuery.sha256Hash name different operations; send one',
      );
    }
  }
  const id = typeof documentId === 'string' ? documentId : apqHash;
  const hasText = typeof query === 'string' && query.trim() !== '';

  let text: string | undefined;
  if (typeof id === 'string') {
    text = manifest.get(id);
    if (text === undefined) {
      throw notAllowed(
        `Operation ${JSON.stringify(id.slice(0, 80))} is not in the safelist of persisted operations`,
      );
    }
    if (hasText && query !== text)
      throw notAllowed('The query text does not match the persisted operation id');
  } else if (hasText && !partner && manifest.hasText(query as string)) {
    return; // a staff client sending a safelisted operation's exact text
  } else {
    throw notAllowed(
      partner
        ? `${who} may run only persisted operations, by id (extensions.persistedQuery.sha256Hash or documentId); ` +
            'see docs/PARTNERS.md'
        : `${who} may run only persisted operations (TOKEN_OPERATIONS=manifest)`,
    );
  }
  if (request.method !== 'GET') {
    const body = request.body as Record<string, unknown>;
    body.query = text;
    delete body.documentId;
    if (persisted !== undefined) {
      const rest = { ...(extensions as Record<string, unknown>) };
      delete rest.persistedQuery;
      body.extensions = rest;
    }
  }
}

/** Runs a POST's query text without registering it: the persistedQuery extension is dropped when text is present. */
function stripApqRegistration(request: OperationRequest): void {
  const body = request.body as { query?: unknown; extensions?: Record<string, unknown> } | null;
  if (request.method === 'GET' || typeof body !== 'object' || body === null || Array.isArray(body)) return;
  if (typeof body.query === 'string' && body.extensions?.persistedQuery !== undefined) {
    const rest = { ...body.extensions };
    delete rest.persistedQuery;
    body.extensions = rest;
  }
}
