/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** Narrows retrieval; every condition must hold. */
export type ChunkFilter = {
  /** metadata.category equals this value. */
  category?: string | null | undefined;
  /** Only chunks of this customer's tickets. */
  customerId?: string | number | null | undefined;
  /** Only chunks of these documents (at most 100). */
  documentIds?: Array<string | number> | null | undefined;
  /** A JSON object the chunk metadata must contain (jsonb @>), e.g. {"category": "refund"}. */
  metadata?: unknown;
  /** Only chunks of documents, or only of tickets. */
  sourceType?: ChunkSourceType | null | undefined;
  /** Only chunks of these tickets (at most 100). */
  ticketIds?: Array<string | number> | null | undefined;
  /** Only chunks of tickets in one of these states. */
  ticketStatus?: Array<TicketStatus> | null | undefined;
  /** The chunk's document or ticket changed at or after this time. */
  updatedSince?: string | null | undefined;
};

/** What a chunk was cut from. */
export type ChunkSourceType =
  | 'DOCUMENT'
  | 'TICKET';

export type IngestDocumentInput = {
  /** Principals (user ids, role:<name>) that may read it. Empty means nobody. */
  acl: Array<string>;
  /** Unique within the merchant; re-ingesting an id replaces the document. Generated when absent. */
  id?: string | number | null | undefined;
  /** A JSON object copied onto every chunk, filterable with ChunkFilter.metadata. */
  metadata?: unknown;
  /** Plain text or markdown; headings become the citation path. */
  text: string;
  title: string;
};

/** VECTOR: cosine similarity. KEYWORD: full-text search, ranked. HYBRID: both, fused by reciprocal rank. */
export type RetrievalMode =
  | 'HYBRID'
  | 'KEYWORD'
  | 'VECTOR';

export type RetrieveChunksInput = {
  /** A precomputed query vector from the merchant's active embedding model (its dimension count, finite values). */
  embedding?: Array<number> | null | undefined;
  /** The same query vector as `embedding`, as base64 of its little-endian float32 values (what OpenAI's embeddings API returns with `encoding_format: "base64"`): 8 KB instead of ~30 KB of JSON for 1,536 dimensions, and cheaper for the gateway to read. Give `embedding` or this, not both. */
  embeddingBase64?: string | null | undefined;
  /** Admins only: fill `debug` with the strategy, timings and the EXPLAIN (ANALYZE, BUFFERS) plan. */
  explain?: boolean | null | undefined;
  filter?: ChunkFilter | null | undefined;
  /** Weight of the vector side in HYBRID fusion, 0..1 (default 0.15). */
  hybridWeight?: number | null | undefined;
  /** How many chunks to return, 1..50 (default 5). */
  k?: number | null | undefined;
  /** Drop results scoring below this. Scores: VECTOR cosine similarity; KEYWORD rank 0..1; HYBRID fused 0..1. */
  minScore?: number | null | undefined;
  mode?: RetrievalMode | null | undefined;
  /** The question, in natural language. May be empty when `embedding` is given (VECTOR or HYBRID). */
  query: string;
};

export type TicketStatus =
  | 'CLOSED'
  | 'OPEN'
  | 'PENDING'
  | 'RESOLVED';

export type IngestDocumentMutationVariables = Exact<{
  input: IngestDocumentInput;
}>;


export type IngestDocumentMutation = { ingestDocument: { chunkCount: number, deletedChunks: number, warnings: Array<string>, document: { id: string, title: string, acl: Array<string>, metadata: unknown, contentHash: string, updatedAt: string } } };

export type RetrieveChunksQueryVariables = Exact<{
  input: RetrieveChunksInput;
}>;


export type RetrieveChunksQuery = { retrieveChunks: { strategy: string, tookMs: number, chunks: Array<{ id: string, text: string, score: number, similarity: number, sourceType: ChunkSourceType, documentId: string | null, ticketId: string | null, chunkIndex: number, metadata: unknown, citation: string, headingPath: Array<string> }> } };


export const IngestDocumentDocument = {"__meta__":{"hash":"sha256:9aec52b74ad2b47ec22a0fc90e49a5aeb81c3bd3bfe31926650bf8448716b4a9"},"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"IngestDocument"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"IngestDocumentInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"ingestDocument"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"chunkCount"}},{"kind":"Field","name":{"kind":"Name","value":"deletedChunks"}},{"kind":"Field","name":{"kind":"Name","value":"warnings"}},{"kind":"Field","name":{"kind":"Name","value":"document"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"title"}},{"kind":"Field","name":{"kind":"Name","value":"acl"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"contentHash"}},{"kind":"Field","name":{"kind":"Name","value":"updatedAt"}}]}}]}}]}}]} as unknown as DocumentNode<IngestDocumentMutation, IngestDocumentMutationVariables>;
export const RetrieveChunksDocument = {"__meta__":{"hash":"sha256:c49ae17b423fa36ed16be38e21604852f923e2fc7d3bdd9f48af9f1199e417d0"},"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"RetrieveChunks"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RetrieveChunksInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"retrieveChunks"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"strategy"}},{"kind":"Field","name":{"kind":"Name","value":"tookMs"}},{"kind":"Field","name":{"kind":"Name","value":"chunks"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"score"}},{"kind":"Field","name":{"kind":"Name","value":"similarity"}},{"kind":"Field","name":{"kind":"Name","value":"sourceType"}},{"kind":"Field","name":{"kind":"Name","value":"documentId"}},{"kind":"Field","name":{"kind":"Name","value":"ticketId"}},{"kind":"Field","name":{"kind":"Name","value":"chunkIndex"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"citation"}},{"kind":"Field","name":{"kind":"Name","value":"headingPath"}}]}}]}}]}}]} as unknown as DocumentNode<RetrieveChunksQuery, RetrieveChunksQueryVariables>;