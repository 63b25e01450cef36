import { type JsonObject } from '../common/graphql-scalars';
import { type DocumentWrite } from '../documents/document.repository';
import { type TicketWrite } from '../tickets/ticket.repository';
import { type TicketAuthor, type TicketStatus } from '../tickets/ticket-status';

export interface IngestDocumentCommand {
  id?: string | null;
  title: string;
  text: string;
  metadata?: unknown;
  acl: readonly string[];
}

export interface IngestTicketCommand {
  id: string;
  customerId: string;
  subject: string;
  status: TicketStatus;
  messages: readonly { author: TicketAuthor; body: string; sentAt?: Date | null }[];
  metadata?: unknown;
  acl: readonly string[];
}

export interface IngestOutcome<T> {
  source: T;
  chunkCount: number;
  /** Chunks whose vectors were computed by this call (in the active corpus version). */
  embeddedChunks: number;
  /** Chunks whose vectors were kept from before or found in the cache. */
  reusedChunks: number;
  /** Chunks of the previous version whose text is gone. */
  deletedChunks: number;
  /** Nothing was written: same text, ACL and metadata as stored. */
  unchanged: boolean;
  /** The source did not exist before. */
  created: boolean;
  warnings: string[];
}

export const MAX_TITLE_CHARS = 500;
export const MAX_TICKET_MESSAGES = 1000;
export const MAX_BATCH_DOCUMENTS = 100;

/**
 * Documents per transaction of the folder loader by default: the term-statistics trigger costs per distinct lexeme
 * of a statement, and lexemes repeat across a batch (synthetic articles: 29 per chunk at 80 chunks, 8 at 400).
 */
export const DEFAULT_BATCH_SIZE = 100;

/** Tickets per ingestTickets call: one transaction, like a document batch. */
export const MAX_BATCH_TICKETS = 100;

/** One chunk of a prepared source, as it will be stored. */
export interface Piece {
  index: number;
  text: string;
  hash: string;
  headingPath: string[];
  citation: string;
}

interface PreparedBase {
  pieces: Piece[];
  metadata: JsonObject;
  acl: string[];
}

/**
 * A validated, chunked source, ready to be embedded and written: plain data, the row it becomes and its chunks.
 * The writer (source-writer.ts) picks the repository by `kind`.
 */
export type PreparedSource =
  | (PreparedBase & { kind: 'document'; row: DocumentWrite })
  | (PreparedBase & { kind: 'ticket'; row: TicketWrite });

/**
 * Told after every committed write, outside the transaction (the dedicated-index maintenance and the retrieval
 * calibration watch merchants grow). Must not throw and must return at once: it schedules, it does not work.
 */
export interface WriteObserver {
  noteWrite(merchantId: string): void;
}
