import crypto from 'node:crypto';
import {
  CHUNKER_VERSION,
  type ChunkingOptions,
  chunkMarkdown,
  chunkTicket,
  type TextChunk,
} from '../chunks/chunking/chunker';
import { badInput } from '../common/errors/domain-error';
import { type Config } from '../config/config';
import { sha256 } from '../common/hash';
import {
  assertDate,
  assertSourceId,
  assertText,
  normalizeAcl,
  normalizeMetadata,
} from '../common/validation';
import { documentCitation, ticketCitation } from '../documents/citation';
import { type DocumentWrite } from '../documents/document.repository';
import { TicketStatus } from '../tickets/ticket-status';
import {
  type IngestDocumentCommand,
  type IngestTicketCommand,
  MAX_TICKET_MESSAGES,
  MAX_TITLE_CHARS,
  type Piece,
  type PreparedSource,
} from './ingestion.types';

/** What validation and chunking depend on: the limits and chunking settings of the configuration. */
export interface PreparationRules {
  maxDocumentChars: number;
  chunking: ChunkingOptions;
}

/** The rules of a configuration, as plain data. */
export function preparationRules(config: Pick<Config, 'limits' | 'chunking'>): PreparationRules {
  return { maxDocumentChars: config.limits.maxDocumentChars, chunking: config.chunking };
}

/**
 * What a document's stored chunks were cut with: the chunker's version and the chunking settings. Stored with the
 * chunks (`support_documents.chunked_with`); a document whose row and signature match what it would be written as
 * now has exactly the chunks chunking would give it now, so a re-ingest need not chunk it to know it is unchanged.
 */
export function chunkerSignature(options: ChunkingOptions): string {
  // Every setting, by name: a setting added to ChunkingOptions later changes the signature without a code change.
  const settings = Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${String(v)}`);
  return `chunker-v${CHUNKER_VERSION};${settings.join(';')}`;
}

/**
 * Every check of a document except chunking, and the row it becomes (normalized ACL and metadata, content hash):
 * what the folder loader checks a whole folder with before writing, and compares with what is stored.
 */
export function checkDocument(
  rules: PreparationRules,
  cmd: IngestDocumentCommand,
  prefix = '',
): DocumentWrite {
  const id =
    cmd.id === undefined || cmd.id === null
      ? `doc_${crypto.randomUUID()}`
      : assertSourceId(`${prefix}id`, cmd.id);
  const title = assertText(`${prefix}title`, cmd.title, MAX_TITLE_CHARS).trim();
  const text = assertText(`${prefix}text`, cmd.text, rules.maxDocumentChars);
  const metadata = normalizeMetadata(`${prefix}metadata`, cmd.metadata);
  const acl = normalizeAcl(`${prefix}acl`, cmd.acl);
  return {
    id,
    title,
    body: text,
    contentHash: sha256(title, text),
    metadata,
    acl,
    chunkedWith: chunkerSignature(rules.chunking),
  };
}

/**
 * Validates and chunks a document: every check that can refuse it, before anything is embedded or written.
 * `prefix` names the input in errors (`inputs[3].` in a batch).
 */
export function prepareDocument(
  rules: PreparationRules,
  cmd: IngestDocumentCommand,
  prefix = '',
): Extract<PreparedSource, { kind: 'document' }> {
  return chunkDocument(rules, checkDocument(rules, cmd, prefix), prefix);
}

/** Chunks a checked document (checkDocument's row): the second half of prepareDocument. */
export function chunkDocument(
  rules: PreparationRules,
  row: DocumentWrite,
  prefix = '',
): Extract<PreparedSource, { kind: 'document' }> {
  const pieces = toPieces(chunkMarkdown(row.title, row.body, rules.chunking), (c) =>
    documentCitation(row.title, c),
  );
  if (pieces.length === 0)
    throw badInput(`${prefix}text has no content to index`, { field: `${prefix}text` });
  return { kind: 'document', row, pieces, metadata: row.metadata, acl: row.acl };
}

/**
 * Validates and chunks a ticket (subject as heading, each message a paragraph). `prefix` names the input in errors
 * (`inputs[3].` in a batch).
 */
export function prepareTicket(
  rules: PreparationRules,
  cmd: IngestTicketCommand,
  prefix = '',
): Extract<PreparedSource, { kind: 'ticket' }> {
  const id = assertSourceId(`${prefix}id`, cmd.id);
  const customerId = assertSourceId(`${prefix}customerId`, cmd.customerId);
  const subject = assertText(`${prefix}subject`, cmd.subject, MAX_TITLE_CHARS).trim();
  if (!Object.values(TicketStatus).includes(cmd.status))
    throw badInput(`${prefix}status is not a known ticket status`, { field: `${prefix}status` });
  if (cmd.messages.length === 0)
    throw badInput(`${where(prefix, 'messages')}a ticket needs at least one message`, {
      field: `${prefix}messages`,
    });
  if (cmd.messages.length > MAX_TICKET_MESSAGES) {
    throw badInput(
      `${prefix}messages has ${cmd.messages.length} entries; the limit is ${MAX_TICKET_MESSAGES}`,
      {
        field: `${prefix}messages`,
      },
    );
  }
  const messages = cmd.messages.map((m, i) => {
    if (m.sentAt !== undefined && m.sentAt !== null) assertDate(`${prefix}messages[${i}].sentAt`, m.sentAt);
    return {
      author: m.author,
      body: assertText(`${prefix}messages[${i}].body`, m.body, rules.maxDocumentChars),
      sentAt: m.sentAt ? m.sentAt.toISOString() : null,
    };
  });
  const total = messages.reduce((n, m) => n + m.body.length, subject.length);
  if (total > rules.maxDocumentChars) {
    throw badInput(
      `${where(prefix, 'messages')}the ticket has ${total} characters; the limit is ${rules.maxDocumentChars}`,
      {
        field: `${prefix}messages`,
      },
    );
  }
  const metadata = normalizeMetadata(`${prefix}metadata`, cmd.metadata);
  const acl = normalizeAcl(`${prefix}acl`, cmd.acl);
  return {
    kind: 'ticket',
    row: {
      id,
      customerId,
      subject,
      status: cmd.status,
      messages,
      contentHash: sha256(subject, ...messages.map((m) => `${m.author}:${m.body}`)),
      metadata,
      acl,
    },
    pieces: toPieces(chunkTicket(subject, messages, rules.chunking), () => ticketCitation(id)),
    metadata,
    acl,
  };
}

/** `inputs[3].messages: ` in a batch, nothing for a single input (whose messages name no field). */
function where(prefix: string, field: string): string {
  return prefix === '' ? '' : `${prefix}${field}: `;
}

function toPieces(chunks: TextChunk[], citation: (c: TextChunk) => string): Piece[] {
  return chunks.map((c) => ({
    index: c.index,
    text: c.text,
    hash: sha256(c.text),
    headingPath: c.headingPath,
    citation: citation(c),
  }));
}
